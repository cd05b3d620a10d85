# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""promptda-sim-frames: frame folders promptda-train reads, prompts the sim node publishes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from promptda_ros.core.msg_codec import image_to_depth_m
from promptda_ros.eval.dataset import open_input, write_folder_frame, write_folder_intrinsics
from promptda_ros.model.checkpoint import read_checkpoint
from promptda_ros.model.config import TINY
from promptda_ros.ros.conversions import stamp_to_ns
from promptda_ros.train.cli import train_main
from promptda_sim import scene
from promptda_sim.frames import capture, main, prompt_on_object, write_frames
from promptda_sim.world import SimWorld

DOMAIN_ID = 82
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def frames(tmp_path_factory):
    """Six frames, three per episode: a red can then a glass bottle (seed 3)."""
    out = str(tmp_path_factory.mktemp('sim_frames') / 'frames')
    stats = write_frames(out, 6, seed=3, objects=('red_can', 'glass_bottle'), per_episode=3,
                         random_share=0.5, progress=False)
    return out, stats


def test_frames_are_a_folder_promptda_train_reads(frames):
    out, stats = frames
    assert stats['frames'] == 6 and stats['per_object'] == {'red_can': 3, 'glass_bottle': 3}
    read = list(open_input(out))     # how promptda-train opens a frame folder
    assert len(read) == 6
    for fr in read:
        assert fr.rgb.shape == (120, 160, 3) and fr.rgb.dtype == np.uint8
        assert fr.gt_m.shape == (120, 160) and np.isfinite(fr.gt_m).all()
        assert 0.3 < float(np.median(fr.gt_m)) < 2.0                     # metres
        assert fr.prompt_m.shape == (24, 32)                              # one cell per beam
        hit = fr.prompt_m > 0
        assert 0.3 < hit.mean() <= 1.0
        # The LiDAR agrees with the true depth on most cells (noise, arm edges, the glass).
        small = fr.gt_m[2::5, 2::5]
        assert np.median(np.abs(fr.prompt_m[hit] - small[hit])) < 0.05
        assert fr.camera.width == 160 and fr.camera.fx == pytest.approx(144.85, abs=0.01)
    # The simulated LiDAR sees through the glass bottle, to what lies behind it.
    glass = stats['lidar_on_object']['glass_bottle']
    assert glass['cells'] >= 10 and glass['beyond'] > 3 * glass['right'], glass
    with open(os.path.join(out, 'frames.jsonl'), encoding='utf-8') as f:
        records = [json.loads(line) for line in f]
    assert all(r['lidar_on_object']['cells'] >= 0 for r in records)
    assert [r['stem'] for r in records] == ['%06d' % i for i in range(6)]
    assert {r['arm'] for r in records} <= {'random', 'expert'}
    assert len({str(r['lighting']) for r in records}) == 2              # one per episode
    assert len({tuple(r['joints']) for r in records}) == 6              # the arm moves


def test_prompt_on_object_counts_cells_by_their_centre_pixel():
    true = np.full((4, 6), 1.0, np.float32)
    mask = np.zeros((4, 6), bool)
    mask[:2, :] = True                       # cell centres are pixels (0|2, 0|2|4) -> (0, 1, 4)
    prompt = np.array([[1.01, 0.0, 1.5], [1.0, 1.0, 1.0]], np.float32)
    prompt_nearer = prompt.copy()
    prompt_nearer[0, 0] = 0.5
    assert prompt_on_object(prompt, true, mask) == {'cells': 3, 'right': 1, 'none': 1,
                                                    'beyond': 1, 'nearer': 0}
    assert prompt_on_object(prompt_nearer, true, mask)['nearer'] == 1


def test_same_seed_writes_the_same_frames(frames, tmp_path):
    out, _ = frames
    again = str(tmp_path / 'again')
    write_frames(again, 3, seed=3, objects=('red_can', 'glass_bottle'), per_episode=3,
                 random_share=0.5, progress=False)     # the first episode, all its frames
    for sub, name in (('rgb', '000002.png'), ('prompt', '000002.png'), ('gt', '000002.npy')):
        with open(os.path.join(out, sub, name), 'rb') as a, \
                open(os.path.join(again, sub, name), 'rb') as b:
            assert a.read() == b.read(), sub


def test_prompt_matches_what_the_sim_node_publishes(tmp_path):
    """The frame writer and the node's prompt_depth topic: the same grid for the same state."""
    from promptda_sim.node import SimNode
    episode = scene.EpisodeConfig(4, 'glass_bottle', 'far')
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID)
    got = []
    try:
        params = [Parameter('seed', value=episode.seed),
                  Parameter('object', value=episode.object),
                  Parameter('position', value=episode.position),
                  Parameter('publish_prompt_depth', value=True),
                  Parameter('camera_rate_hz', value=60.0),
                  Parameter('real_time_factor', value=0.0)]
        sim = SimNode(context=ctx, parameter_overrides=params, probe_rendering=False)
        listener = rclpy.create_node('listener', context=ctx)
        from rclpy.qos import qos_profile_sensor_data
        listener.create_subscription(Image, 'prompt_depth', got.append, qos_profile_sensor_data)
        executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
        executor.add_node(sim)
        executor.add_node(listener)
        while len(got) < 3 and sim.ticks < 200:
            executor.spin_once(timeout_sec=0.05)
        tick_s = sim.tick_s
        sim.world.close()
        executor.shutdown()
        sim.destroy_node()
        listener.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)
    assert got, 'no prompt_depth message'
    msg = got[-1]
    # Replay the node's ticks in a world of our own: one camera + LiDAR frame per tick.
    world = SimWorld(episode)
    ticks = int(round(stamp_to_ns(msg.header.stamp) * 1e-9 / world.model.opt.timestep
                      / round(tick_s / world.model.opt.timestep)))
    try:
        for _ in range(ticks):
            world.set_command(world.command)
            world.step(tick_s)
            rgb, prompt, gt = capture(world, (24, 32))
    finally:
        world.close()
    folder = str(tmp_path / 'one')
    os.makedirs(folder)
    write_folder_intrinsics(folder, world.camera)
    write_folder_frame(folder, '000000', rgb, prompt, gt)
    written = next(iter(open_input(folder))).prompt_m
    published = image_to_depth_m(msg)
    assert msg.encoding == '16UC1' and published.shape == (24, 32)
    assert np.array_equal(written, published)
    assert (published > 0).sum() > 200


def test_train_two_steps_on_two_sim_frames_from_random_tiny_weights(tmp_path):
    data = str(tmp_path / 'frames')
    write_frames(data, 2, seed=1, per_episode=2, progress=False)
    run = str(tmp_path / 'run')
    rc = train_main(['--data', data, '--init', 'random', '--encoder', 'tiny', '--out', run,
                     '--pattern', 'lidar', '--prompt-hw', '24x32', '--loss', 'l1_grad',
                     '--input-size', '56x70', '--steps', '2', '--batch-size', '1',
                     '--val-fraction', '0.5', '--val-every', '2', '--save-every', '2',
                     '--log-every', '1', '--quiet', '--device', 'cpu'])
    assert rc == 0
    ckpt = read_checkpoint(os.path.join(run, 'last.safetensors'))
    assert ckpt.spec == TINY
    with open(os.path.join(run, 'metrics.jsonl'), encoding='utf-8') as f:
        records = [json.loads(line) for line in f]
    assert [r['step'] for r in records if r['split'] == 'train'] == [1, 2]
    assert any(r['split'] == 'val' and np.isfinite(r['l1']) for r in records)


def test_random_start_needs_an_encoder_and_a_dense_loss(tmp_path, capsys):
    data = str(tmp_path / 'frames')
    write_frames(data, 1, progress=False)
    base = ['--data', data, '--init', 'random', '--steps', '1', '--quiet', '--pattern', 'lidar',
            '--prompt-hw', '24x32', '--input-size', '56x70']
    assert train_main(base + ['--out', str(tmp_path / 'a')]) == 1
    assert '--init random needs --encoder' in capsys.readouterr().err
    assert train_main(base + ['--out', str(tmp_path / 'b'), '--encoder', 'tiny',
                              '--loss', 'edge']) == 1
    assert 'use --loss l1_grad' in capsys.readouterr().err


def _cli(*argv):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT, os.path.join(ROOT, 'policy'), os.path.join(ROOT, 'sim')]))
    return subprocess.run([sys.executable, '-c', 'import sys; from promptda_sim.frames import '
                           'main; sys.exit(main())'] + list(argv), capture_output=True,
                          text=True, timeout=120, env=env)


def test_cli_errors_are_one_line(frames, tmp_path):
    out = _cli('--out', str(tmp_path / 'x'), '--frames', '0')
    assert out.returncode == 2 and out.stderr.startswith('error: argument --frames: must be an '
                                                         'integer in [1, '), out.stderr
    out = _cli('--out', str(tmp_path / 'x'), '--frames', '2', '--objects', 'red_can,cup')
    assert out.returncode == 2 and "unknown object 'cup'" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    out = _cli('--out', frames[0], '--frames', '2')
    assert out.returncode == 1 and 'already exists' in out.stderr, out.stderr
    assert 'Traceback' not in out.stderr
    out = _cli('--out', str(tmp_path / 'ok'), '--frames', '1', '--quiet')
    assert out.returncode == 0 and 'wrote 1 frames' in out.stdout, out.stderr


def test_main_in_process(tmp_path):
    assert main(['--out', str(tmp_path / 'f'), '--frames', '1', '--fixed-lighting',
                 '--random-pose', '0', '--quiet']) == 0
    with open(tmp_path / 'f' / 'frames.jsonl', encoding='utf-8') as f:
        record = json.loads(f.readline())
    assert record['lighting'] == {} and record['arm'] == 'expert'
