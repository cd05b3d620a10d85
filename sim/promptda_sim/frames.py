# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-sim-frames``: training frames for PromptDA from the simulator (no ROS).

Each frame is the head camera's RGB, the simulator's true depth (metres, the glass bottle solid)
as the reference and the simulator's own LiDAR sweep projected into the prompt grid the
perception node builds (:meth:`promptda_sim.world.SimWorld.prompt_grid`, the function behind the
simulator node's ``prompt_depth`` topic). They are written as a frame folder
(:func:`promptda_ros.eval.dataset.write_folder_frame`: ``rgb/``, ``prompt/`` uint16 mm,
``gt/`` float32 m, ``intrinsics.json``) that ``promptda-train --pattern lidar`` and
``promptda-eval`` read, plus ``frames.jsonl`` (one line per frame: object, position, episode
seed, arm pose source, lighting, and what the LiDAR prompt holds on the object:
:func:`prompt_on_object`).

The LiDAR is the simulator's: it sees through the glass bottle (the beams return from the table
behind it), and on the mirror object most beams return nothing and the others too far. A network
trained on these frames is told the true depth there and has only the RGB to find it.

What varies (all drawn from ``--seed``; the same seed writes the same frames):

* the object: ``--objects`` in turn (cans, glass bottle, mirror object by default);
* its place: a random ``--positions`` entry plus the episode seed's jitter (+-1.5 / 2.5 cm);
* the arm: a pose of the scripted expert's pick-and-place, physics played up to a random time
  (the hand near, around, lifting or dropping the object), or for ``--random-pose`` of the
  frames a random pose near the expert's (+-0.3 rad per joint, gripper anywhere, within the
  joint limits, nothing penetrated) placed without physics;
* the lighting per episode: each light's diffuse RGB x 0.4-1.4, its place +-0.3 m in x and y, the
  headlight's ambient / diffuse levels (``--fixed-lighting`` keeps the scene's).
"""

import argparse
import json
import os
import sys

import numpy as np

from promptda_ros.cli_args import (
    CliParser,
    fraction,
    new_folder_possible,
    number,
    run_cli,
    seed_int,
)
from promptda_ros.eval.dataset import write_folder_frame, write_folder_intrinsics
from promptda_sim import scene
from promptda_sim.depth_error import cylinder_pixel_mask

PLAN_TAIL_S = 0.5          # s after the expert's plan ends that a frame may still show
CONTROL_HZ = 30.0          # expert command rate while playing the plan, Hz
POSE_NOISE_RAD = 0.3       # half-range of a random pose's offset from the expert's, rad
POSE_TRIES = 20            # random poses tried before the expert's own pose is used
LIGHT_GAIN = (0.4, 1.4)    # range of the per-channel diffuse gain of each light
LIGHT_SHIFT_M = 0.3        # half-range of each light's position shift, m
HEADLIGHT_AMBIENT = (0.0, 0.25)
HEADLIGHT_DIFFUSE = (0.2, 0.6)
MAX_FRAMES = 1_000_000
ON_OBJECT_M = 0.03         # a LiDAR cell within this of the true depth is right, m


def choice_list(allowed: tuple, what: str):
    """Return an argparse ``type=`` for a comma-separated list of names out of ``allowed``."""
    def parse(text: str) -> tuple:
        items = tuple(t.strip() for t in text.split(',') if t.strip())
        bad = [t for t in items if t not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError('unknown %s %s; known: %s' % (
                what, ', '.join(repr(b) for b in bad) or "''", ', '.join(allowed)))
        return items
    parse.__name__ = '%s list' % what
    return parse


def random_lighting(rng: np.random.Generator, n_lights: int) -> dict:
    """Draw the keyword arguments of :meth:`SimWorld.set_lighting` for one episode.

    Returns:
        ``diffuse_gain`` (n_lights, 3), ``shift_m`` (n_lights, 3) m with z = 0 and
        ``headlight`` (ambient, diffuse) grey levels.
    """
    gain = rng.uniform(*LIGHT_GAIN, (n_lights, 3))
    shift = np.zeros((n_lights, 3))
    shift[:, :2] = rng.uniform(-LIGHT_SHIFT_M, LIGHT_SHIFT_M, (n_lights, 2))
    head = (float(rng.uniform(*HEADLIGHT_AMBIENT)), float(rng.uniform(*HEADLIGHT_DIFFUSE)))
    return {'diffuse_gain': gain, 'shift_m': shift, 'headlight': head}


def random_pose(world, expert, rng: np.random.Generator) -> tuple:
    """Place the arm at a random collision-free pose near the expert's plan (no physics).

    Args:
        world: a :class:`~promptda_sim.world.SimWorld` at the episode's start.
        expert: the episode's :class:`~promptda_sim.expert.ScriptedExpert`.

    Returns:
        ((5,) float64 the pose placed: arm rad, gripper m; True when it is a random one,
        False when no random pose was free and the expert's own is shown).
    """
    for _ in range(POSE_TRIES):
        q = expert.command_at(rng.uniform(0.0, expert.duration_s))
        q[:4] += rng.uniform(-POSE_NOISE_RAD, POSE_NOISE_RAD, 4)
        q[4] = rng.uniform(scene.GRIPPER_CLOSED, scene.GRIPPER_OPEN)
        if world.pose_arm(q):
            return world.command.copy(), True
    q = expert.command_at(0.0)
    world.pose_arm(q)
    return world.command.copy(), False


def prompt_on_object(prompt_m: np.ndarray, true_m: np.ndarray, mask: np.ndarray,
                     within_m: float = ON_OBJECT_M) -> dict:
    """Count the LiDAR prompt's cells on the object: right, missing, beyond, nearer.

    A cell is the object's when the true-depth pixel at its centre is (``mask``).

    Args:
        prompt_m: (h, w) float metres, 0 = no return.
        true_m: (H, W) float true depth, metres, H and W multiples of h and w or not.
        mask: (H, W) bool object pixels
            (:func:`~promptda_sim.depth_error.cylinder_pixel_mask`).
        within_m: largest |prompt - true| of a right cell, m.

    Returns:
        counts ``cells``, ``right`` (within ``within_m``), ``none`` (no return), ``beyond``
        (farther: through glass, a mirror's reflection) and ``nearer``.
    """
    h, w = prompt_m.shape
    H, W = true_m.shape
    rows = np.clip(np.round((np.arange(h) + 0.5) * H / h - 0.5).astype(int), 0, H - 1)
    cols = np.clip(np.round((np.arange(w) + 0.5) * W / w - 0.5).astype(int), 0, W - 1)
    on = mask[np.ix_(rows, cols)]
    true = true_m[np.ix_(rows, cols)][on]
    p = prompt_m[on]
    hit = p > 0
    return {'cells': int(on.sum()), 'right': int((hit & (np.abs(p - true) <= within_m)).sum()),
            'none': int((~hit).sum()), 'beyond': int((hit & (p > true + within_m)).sum()),
            'nearer': int((hit & (p < true - within_m)).sum())}


def capture(world, prompt_hw: tuple) -> tuple:
    """Render one training frame of the world's current state.

    Returns:
        rgb (H, W, 3) uint8; prompt (h, w) float32 m, 0 = no LiDAR return; true depth (H, W)
        float32 m.
    """
    rgb, depth = world.render_camera()
    prompt = world.prompt_grid(world.lidar_points(), prompt_hw)
    return rgb, prompt, depth


def _episode_frames(world, episode, n: int, rng, random_share: float, prompt_hw: tuple):
    """Yield (rgb, prompt, gt, record) for ``n`` frames of one episode (world already reset)."""
    from promptda_sim.expert import ScriptedExpert
    expert = ScriptedExpert(world.model, episode, world.joint_positions())
    n_random = int(np.sum(rng.random(n) < random_share))
    for _ in range(n_random):
        q, is_random = random_pose(world, expert, rng)
        rgb, prompt, gt = capture(world, prompt_hw)
        yield rgb, prompt, gt, {'arm': 'random' if is_random else 'expert', 't_s': 0.0,
                                'joints': [round(float(v), 4) for v in q]}
    if n_random:
        world.reset(episode)      # back to the settled start for the played plan
    period = 1.0 / CONTROL_HZ
    t = 0.0
    for stop in np.sort(rng.uniform(0.0, expert.duration_s + PLAN_TAIL_S, n - n_random)):
        while t + period <= stop:
            world.set_command(expert.command_at(t))
            world.step(period)
            t += period
        rgb, prompt, gt = capture(world, prompt_hw)
        yield rgb, prompt, gt, {'arm': 'expert', 't_s': round(t, 3), 'joints': [
            round(float(v), 4) for v in world.joint_positions()]}


def write_frames(out: str, frames: int, seed: int = 0, objects: tuple = scene.OBJECTS,
                 positions: tuple = scene.POSITIONS, per_episode: int = 4,
                 random_share: float = 0.25, lighting: bool = True,
                 progress: bool = True) -> dict:
    """Write ``frames`` simulator frames into the new frame folder ``out`` (module docstring).

    Args:
        out: new folder.
        frames: frames to write.
        seed: seed of every draw (episodes, poses, lighting, LiDAR noise).
        objects: objects, in turn per episode.
        positions: positions drawn from per episode.
        per_episode: frames per episode (one object placement and lighting).
        random_share: probability that a frame shows a random arm pose.
        lighting: randomise the lighting per episode.
        progress: show a progress bar (stderr).

    Returns:
        dict: ``frames`` written, ``per_object`` frame counts and ``lidar_on_object``: per
        object, the :func:`prompt_on_object` counts summed over its frames.
    """
    from tqdm import tqdm

    from promptda_sim.world import SimWorld
    world = SimWorld(scene.EpisodeConfig(0, objects[0], positions[0]))
    prompt_hw = tuple(world.sensors.lidar_hw)     # one beam per cell, as config/sim.yaml
    os.makedirs(out)
    write_folder_intrinsics(out, world.camera)
    counts: dict = {o: 0 for o in objects}
    cells: dict = {o: dict.fromkeys(('cells', 'right', 'none', 'beyond', 'nearer'), 0)
                   for o in objects}
    written = 0
    k = 0
    try:
        with open(os.path.join(out, 'frames.jsonl'), 'w', encoding='utf-8') as log, \
                tqdm(total=frames, desc='frames', unit='frame', disable=not progress,
                     file=sys.stderr, dynamic_ncols=True) as bar:
            while written < frames:
                rng = np.random.default_rng([int(seed), k])
                episode = scene.EpisodeConfig(int(rng.integers(0, 2 ** 31 - 1)),
                                              objects[k % len(objects)],
                                              positions[int(rng.integers(len(positions)))])
                light = random_lighting(rng, world.model.nlight) if lighting else {}
                world.set_lighting(**light)
                world.reset(episode)
                n = min(per_episode, frames - written)
                for rgb, prompt, gt, record in _episode_frames(world, episode, n, rng,
                                                               random_share, prompt_hw):
                    stem = '%06d' % written
                    write_folder_frame(out, stem, rgb, prompt, gt)
                    mask = cylinder_pixel_mask(gt, world.camera, world.T_world_camera(),
                                               world.object_pose(), episode.spec.radius,
                                               episode.spec.half_height)
                    on_object = prompt_on_object(prompt, gt, mask)
                    record.update(stem=stem, object=episode.object, position=episode.position,
                                  episode_seed=episode.seed, lidar_on_object=on_object,
                                  lighting={k2: np.round(np.asarray(v), 3).tolist()
                                            for k2, v in light.items()})
                    log.write(json.dumps(record) + '\n')
                    counts[episode.object] += 1
                    for key, value in on_object.items():
                        cells[episode.object][key] += value
                    written += 1
                    bar.update(1)
                k += 1
    finally:
        world.close()
    return {'frames': written, 'per_object': counts, 'lidar_on_object': cells}


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``promptda-sim-frames``."""
    p = CliParser(
        prog='promptda-sim-frames',
        description='Write simulator frames for promptda-train: head-camera RGB, the '
                    "simulator's true depth (gt, m) and its LiDAR projected into the "
                    "perception node's prompt grid (prompt, mm), as a frame folder. Objects, "
                    'placements, arm poses and lighting vary with --seed.')
    p.add_argument('--out', required=True, metavar='DIR', help='new frame folder')
    p.add_argument('--frames', type=number(int, 1, MAX_FRAMES), required=True,
                   help='frames to write, 1..%d' % MAX_FRAMES)
    p.add_argument('--seed', type=seed_int, default=0, help='seed of every draw (%(default)s)')
    p.add_argument('--objects', type=choice_list(scene.OBJECTS, 'object'),
                   default=scene.OBJECTS, metavar='A,B',
                   help='objects, in turn per episode (default: %s)' % ','.join(scene.OBJECTS))
    p.add_argument('--positions', type=choice_list(scene.POSITIONS, 'position'),
                   default=scene.POSITIONS, metavar='A,B',
                   help='positions drawn from (default: %s)' % ','.join(scene.POSITIONS))
    p.add_argument('--per-episode', type=number(int, 1, 100), default=4,
                   help='frames per object placement and lighting, 1..100 (%(default)s)')
    p.add_argument('--random-pose', type=fraction, default=0.25,
                   help='share of frames with a random arm pose instead of one of the '
                        "expert's, in [0, 1] (%(default)s)")
    p.add_argument('--fixed-lighting', action='store_true',
                   help="keep the scene's lighting (default: random per episode)")
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``promptda-sim-frames``; return the exit status."""
    args = build_parser().parse_args(argv)

    def work() -> None:
        new_folder_possible(args.out, '--out')
        stats = write_frames(args.out, args.frames, args.seed, args.objects, args.positions,
                             args.per_episode, args.random_pose, not args.fixed_lighting,
                             progress=not args.quiet)
        print('wrote %d frames into %s (%s)' % (
            stats['frames'], args.out,
            ', '.join('%s %d' % kv for kv in stats['per_object'].items())))
        for obj, c in stats['lidar_on_object'].items():
            n = max(c['cells'], 1)
            print('LiDAR on the %s: %d prompt cells, %.0f %% within %.0f cm of the true depth, '
                  '%.0f %% no return, %.0f %% farther, %.0f %% nearer'
                  % (obj, c['cells'], 100 * c['right'] / n, 100 * ON_OBJECT_M,
                     100 * c['none'] / n, 100 * c['beyond'] / n, 100 * c['nearer'] / n))
    return run_cli(work, 'the frames written so far are in %s' % args.out)


if __name__ == '__main__':
    sys.exit(main())
