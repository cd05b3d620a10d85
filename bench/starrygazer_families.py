# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""StarryGazer on relative maps it was not designed against: adaptation + scoring per family.

Four simulated monocular models, written here independently of the pair synthesis
(:mod:`promptda_ros.adapt.synthesis`) and of the bundled sample's model
(:mod:`promptda_ros.sample.mono_sim`), each seeded per frame (:func:`family_map`):

* ``regions`` - inverse depth under an unknown affine map; per-region scale errors on a
  Felzenszwalb segmentation of the RGB; a low-frequency warp made of two random plane waves;
  blur (1.5 px per 640 px) and 0.5 % noise (informative);
* ``logtex`` - relative *depth* ``log(d)`` (not affine in depth: the fit is wrong at both
  ends), the RGB's high-pass luminance copied into it (3 % of depth per standard deviation),
  the near side dilated over the far one by 2 px (edge bleed), 1 % noise (informative, with
  copied texture);
* ``thinfar`` - inverse depth with a random planar tilt, depths beyond a random 70..85th
  percentile saturated (distant ordering lost), thin near structure erased by a morphological
  opening of nearness (7 px per 640 px), 2 px blur (partly informative);
* ``random`` - a smooth random field that knows nothing of the scene (misleading);
* ``tonequant`` - written after the design was fixed and never used to choose anything
  (held out): inverse depth with per-object offsets (3 % of the median, on a fine
  Felzenszwalb segmentation), an unknown tone curve (normalised nearness to a power in
  0.6..1.6, not affine), a halo of overshoot at depth edges (as a sharpened network output)
  and 8-bit quantisation (a map stored as PNG) (informative).

Datasets:

* ``sample``: a fresh bundled sample (seed ``--seed``, ``--frames`` frames, 640 x 480), the
  relative maps made from its ground truth; adaptation sees RGB, relative map and LiDAR only,
  scoring uses the ground truth (L1 over the frames' valid pixels, frame mean);
* ``real``: the real 640 x 480 indoor frames of ``--real`` whose laser depth is dense enough to
  simulate a monocular model from (iBims-1 ``any2full_ibims_*``). Per frame, 20 % of the
  measured points are held out (:func:`promptda_ros.eval.holdout.split_depth`, seed 0) and are
  the reference; the prompt is ``--real-points`` of the rest (seed 1); the relative map is
  simulated from the measured depth, holes filled with the nearest measurement (as a monocular
  network sees the whole scene). No intrinsics ship with the frames: K is assumed to be the
  NYU-v2 camera's (fx = fy = 518.9 px, principal point at the centre).

Per (dataset, family): ``promptda-adapt``'s training (:func:`promptda_ros.adapt.cli.train`,
``--steps``) on the unlabelled frames, then scoring of the adapted backend with its serve-time
guard, the same without the guard, the untrained network (zero head = the LiDAR-only
completion), the relative map *locally* aligned to the prompt (:func:`open_gate`: the gate open
everywhere, no learning; a family is informative where this beats ``default``), ``default``,
``bilinear`` and the lstsq / RANSAC-aligned relative map, every backend through the frame
pipeline. ``--ablation FAMILY`` also trains the synthesis variants
of :data:`ABLATION` on the first dataset (the sample, or the real frames without it). Prints
markdown tables and writes ``OUT/results.json``.
``--timing`` only times ``default`` and ``starrygazer`` (guard on / off) per frame;
``--rescore`` scores the weights of an earlier run again (after a change of the guard) and
writes ``OUT/rescored.json``.

    python bench/starrygazer_families.py --out OUT --steps 600
"""

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

FAMILIES = ('regions', 'logtex', 'thinfar', 'random', 'tonequant')
ABLATION = (
    ('segment rescaling only', ['--modes', 'none', '--uninformative', '0']),
    ('+ offset, warp', ['--modes', 'offset,warp', '--uninformative', '0']),
    ('+ bleed, noise', ['--modes', 'offset,warp,bleed,noise', '--uninformative', '0']),
    ('+ thin/far, texture', ['--uninformative', '0']),
    ('all, + a free residual (bound 1)', ['--residual', '1']),
    ('all, segment sigma 0.15 (earlier default)', ['--segment-sigma', '0.15']),
    ('all, each mode at probability 0.5 (earlier default)', ['--degrade', '0.5']),
    ('+ uninformative maps (all, the default)', []),
)
NYU_FOCAL_PX = 518.9
OPEN_GATE = 'locally aligned'  # a network whose gate is open everywhere, no residual, no guard
FAMILY_STREAM = 0x5A17


def _waves(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Return (H, W) float64: the sum of two random plane waves of 0.3..1.2 cycles per image."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / float(max(h, w))
    out = np.zeros(shape)
    for _ in range(2):
        ang, freq, ph = rng.uniform(0, np.pi), rng.uniform(0.3, 1.2), rng.uniform(0, 2 * np.pi)
        out += np.sin(2 * np.pi * freq * (np.cos(ang) * xx + np.sin(ang) * yy) + ph)
    return out / 2.0


def family_map(family: str, depth_m: np.ndarray, rgb: np.ndarray, seed: int,
               index: int) -> tuple:
    """Simulate one monocular model's map of a frame.

    Args:
        family: one of :data:`FAMILIES`.
        depth_m: (H, W) float metres, dense (> 0).
        rgb: (H, W, 3) uint8 RGB.
        seed: family seed; index: frame index (the map is seeded by both).

    Returns:
        ((H, W) float32 relative map, space 'inverse' or 'depth').
    """
    import cv2
    from skimage.segmentation import felzenszwalb

    rng = np.random.default_rng([int(seed), FAMILIES.index(family), int(index), FAMILY_STREAM])
    d = np.asarray(depth_m, np.float64)
    h, w = d.shape
    px = w / 640.0
    if family == 'regions':
        labels = felzenszwalb(rgb, scale=300, sigma=0.8, min_size=int(400 * px * px))
        d = d * np.exp(np.clip(rng.normal(0.0, 0.1, labels.max() + 1), -0.25, 0.25))[labels]
        d = d * np.exp(0.06 * _waves(d.shape, rng))
        rel = rng.uniform(0.5, 2.0) / d + rng.uniform(0.0, 0.3)
        rel = cv2.GaussianBlur(rel, (0, 0), 1.5 * px)
        return (rel * (1 + rng.normal(0, 0.005, rel.shape))).astype(np.float32), 'inverse'
    if family == 'logtex':
        near = cv2.dilate(1.0 / d, np.ones((5, 5), np.uint8))
        grey = rgb.astype(np.float64).mean(axis=-1) / 255.0
        high = grey - cv2.GaussianBlur(grey, (0, 0), 4.0 * px)
        rel = np.log(1.0 / near) + 0.03 * high / max(float(high.std()), 1e-6)
        return (rel + rng.normal(0, 0.01, rel.shape)).astype(np.float32), 'depth'
    if family == 'thinfar':
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w] / float(max(h, w))
        d = d * np.exp(rng.uniform(0.05, 0.15) * (np.cos(ang) * xx + np.sin(ang) * yy))
        d = np.minimum(d, np.percentile(d, rng.uniform(70, 85)))
        k = max(3, int(round(7 * px)) | 1)
        near = cv2.morphologyEx(1.0 / d, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
        return cv2.GaussianBlur(near, (0, 0), 2.0 * px).astype(np.float32), 'inverse'
    if family == 'tonequant':
        labels = felzenszwalb(rgb, scale=100, sigma=0.5, min_size=int(200 * px * px))
        near = 1.0 / d
        med = float(np.median(near))
        near = np.maximum(near + rng.normal(0.0, 0.03, labels.max() + 1)[labels] * med,
                          0.05 * med)
        lo, hi = np.percentile(near, [1.0, 99.0])
        n = np.clip((near - lo) / max(float(hi - lo), 1e-9), 0.0, 1.0) ** rng.uniform(0.6, 1.6)
        n = n + 0.5 * (n - cv2.GaussianBlur(n, (0, 0), 3.0 * px))  # halo: overshoot at edges
        return (0.02 + np.round(np.clip(n, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32), \
            'inverse'
    if family == 'random':
        grid = rng.uniform(-1, 1, (4, 5))
        return np.exp(0.5 * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)).astype(
            np.float32), 'inverse'
    raise ValueError(family)


def open_gate():
    """Return a refinement network that passes the cue everywhere (gate 1, no residual).

    Its output is the relative map locally aligned to the prompt (the hint-corrected aligned
    map at the network resolution) on top of the LiDAR-only completion: no learning involved,
    it says whether a family's map is informative once aligned locally.
    """
    import torch

    from promptda_ros.backends.starrygazer_net import GATE, RefineNet

    net = RefineNet()
    with torch.no_grad():
        net.head.bias[GATE] = 1.0
    return net


def sample_frames(out: str, seed: int, frames: int) -> list:
    """Write a fresh bundled sample and return its frames (with ground truth)."""
    from promptda_ros.eval.dataset import read_bag
    from promptda_ros.sample.bag_writer import write_sample_bag
    from promptda_ros.sample.scene import SampleConfig

    bag = write_sample_bag(os.path.join(out, f'sample_seed{seed}'),
                           SampleConfig(seed=seed, frames=frames), progress=False)
    return list(read_bag(bag))


def real_frames(folder: str, points: int) -> tuple:
    """Return (frames with the held-out reference as ``gt_m``, dense measured depths)."""
    import cv2
    from scipy import ndimage

    from promptda_ros.core.camera import PinholeCamera
    from promptda_ros.core.holdout import holdout_mask
    from promptda_ros.eval.dataset import EvalFrame
    from promptda_ros.eval.holdout import split_depth

    frames, dense = [], []
    names = sorted(n for n in os.listdir(folder) if n.startswith('any2full_ibims'))
    for i, name in enumerate(names):
        rgb = cv2.cvtColor(cv2.imread(os.path.join(folder, name, 'rgb.png')), cv2.COLOR_BGR2RGB)
        depth = np.load(os.path.join(folder, name, 'depth.npz'))['depth_m'].astype(np.float32)
        prompt_all, reference = split_depth(depth, 0.2, seed=0)
        valid = prompt_all > 0
        keep = holdout_mask(valid, min(0.999, points / max(1, int(valid.sum()))), seed=1)
        prompt = np.where(keep, prompt_all, 0.0).astype(np.float32)
        h, w = depth.shape
        cam = PinholeCamera.from_intrinsics(NYU_FOCAL_PX, NYU_FOCAL_PX, (w - 1) / 2.0,
                                            (h - 1) / 2.0, w, h)
        frames.append(EvalFrame(i, name, None, rgb, cam, prompt, reference, None))
        idx = ndimage.distance_transform_edt(depth <= 0, return_distances=False,
                                             return_indices=True)
        dense.append(depth[tuple(idx)])
    return frames, dense


def _train(run_dir: str, frames: list, space: str, steps: int, seed: int, extra: list) -> str:
    from promptda_ros.adapt import cli

    argv = ['unlabelled', '--out', run_dir, '--steps', str(steps), '--quiet',
            '--relative-space', space, '--seed', str(seed), '--save-every', str(steps),
            '--batch', str(min(4, len(frames)))] + extra
    args = cli.build_parser().parse_args(argv)
    unlabelled = [dataclasses.replace(f, gt_m=None) for f in frames]
    return cli.train(args, unlabelled)['weights']


def _score(frames: list, space: str, weights: dict, steps_s: float) -> dict:
    """Score every method on frames carrying their relative map; return name -> metrics."""
    from promptda_ros.backends.starrygazer import GUARD_REGIONS, StarryGazerBackend
    from promptda_ros.backends.starrygazer_refiner import StarryGazer
    from promptda_ros.eval.methods import MethodRunner
    from promptda_ros.eval.metrics import depth_metrics
    from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_depth

    config = PipelineConfig()
    runner = MethodRunner(['default', 'bilinear', 'lstsq_bag', 'ransac_bag'],
                          relative_space=space, config=config)
    backends = {}
    for label, path in weights.items():
        refiner = StarryGazer(path)
        backends[label] = StarryGazerBackend(refiner, None, guard=label != OPEN_GATE)
        if label == 'adapted':
            backends['adapted, no guard'] = StarryGazerBackend(refiner, None, guard=False)
    rows = {name: [] for name in list(backends) + runner.names}
    for fr in frames:
        preds, _, _ = runner.run(fr)
        prompt = prompt_from_depth(fr.prompt_m, config)
        for label, backend in backends.items():
            preds[label] = DepthPipeline(backend.with_relative(fr.relative, space)).predict(
                fr.rgb, fr.camera, prompt, config).depth_m
        for name in rows:
            rows[name].append(depth_metrics(preds[name], fr.gt_m)['l1'])
    out = {name: float(np.mean(v)) for name, v in rows.items()}
    out['guard_refined_frames'] = int(backends['adapted'].stats.refined)
    out['guard_regions_refined'] = int(backends['adapted'].stats.regions_refined)
    out['guard_regions'] = len(frames) * int(np.prod(GUARD_REGIONS))
    out['frames'] = len(frames)
    out['train_s'] = steps_s
    return out


def timing(out: str, seed: int, frames: int) -> dict:
    """Return the median wall time per frame (ms) of default and starrygazer, guard on and off.

    On the bundled sample (640 x 480) with the sample's own relative map given (the relative
    network's time is not included) and an untrained refiner (the time does not depend on the
    weights); every backend through the frame pipeline.
    """
    from promptda_ros.backends import make_backend
    from promptda_ros.backends.starrygazer import StarryGazerBackend
    from promptda_ros.backends.starrygazer_net import RefineNet, save_refiner
    from promptda_ros.backends.starrygazer_refiner import StarryGazer
    from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_depth

    config = PipelineConfig()
    fr = sample_frames(out, seed, frames)
    refiner = StarryGazer(save_refiner(RefineNet(), os.path.join(out, 'untrained.safetensors')))
    backends = {'default': make_backend('default'),
                'starrygazer, guard on': StarryGazerBackend(refiner, None),
                'starrygazer, guard off': StarryGazerBackend(refiner, None, guard=False)}
    times = {name: [] for name in backends}
    for f in fr:
        prompt = prompt_from_depth(f.prompt_m, config)
        for name, backend in backends.items():
            if name != 'default':
                backend = backend.with_relative(f.relative, 'inverse')
            t0 = time.perf_counter()
            DepthPipeline(backend).predict(f.rgb, f.camera, prompt, config)
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: float(np.median(v[1:])) for name, v in times.items()}


def main(argv=None) -> int:
    """Run the benchmark; return the exit status."""
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', required=True, help='new output folder')
    p.add_argument('--steps', type=int, default=600, help='adaptation steps per family')
    p.add_argument('--seed', type=int, default=11, help='sample seed (default 11)')
    p.add_argument('--frames', type=int, default=12, help='sample frames')
    p.add_argument('--families', default=','.join(FAMILIES))
    p.add_argument('--datasets', default='sample,real')
    p.add_argument('--real', default=None, help='folder of the real frames')
    p.add_argument('--real-points', type=int, default=1000, help='prompt points per real frame')
    p.add_argument('--ablation', default=None, metavar='FAMILY',
                   help='also train the synthesis variants on the first dataset with this family')
    p.add_argument('--ablation-steps', type=int, default=None, help='default: --steps')
    p.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    p.add_argument('--adapt-args', default='', metavar='"ARGS"',
                   help='more promptda-adapt arguments for every training run')
    p.add_argument('--rescore', action='store_true',
                   help='score the weights of an earlier run in --out again (no training)')
    p.add_argument('--timing', action='store_true',
                   help='only time default and starrygazer per frame on the sample')
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=args.rescore)
    if args.timing:
        for name, ms in timing(args.out, args.seed, args.frames).items():
            print(f'| {name} | {ms:.0f} ms |')
        return 0
    results = {'args': vars(args), 'runs': {}}
    datasets = {}
    names = args.datasets.split(',')
    if 'sample' in names and args.rescore:
        from promptda_ros.eval.dataset import read_bag

        fr = list(read_bag(os.path.join(args.out, f'sample_seed{args.seed}')))
        datasets['sample'] = (fr, [f.gt_m for f in fr])
    elif 'sample' in names:
        fr = sample_frames(args.out, args.seed, args.frames)
        datasets['sample'] = (fr, [f.gt_m for f in fr])
    if 'real' in names:
        datasets['real'] = real_frames(args.real, args.real_points)
    more = args.adapt_args.split()
    earlier = {}  # --rescore: the training runs' own records (steps, training time)
    if args.rescore and os.path.exists(os.path.join(args.out, 'results.json')):
        with open(os.path.join(args.out, 'results.json'), encoding='utf-8') as f:
            earlier = json.load(f)['runs']
    jobs = [(ds, fam, 'all', more) for ds in datasets for fam in args.families.split(',')]
    if args.ablation:
        first = 'sample' if 'sample' in datasets else 'real'
        jobs += [(first, args.ablation, label, extra + more) for label, extra in ABLATION[:-1]]
    for ds, fam, variant, extra in jobs:
        frames, dense = datasets[ds]
        maps = [family_map(fam, np.nan_to_num(d, nan=float(np.nanmax(d))), f.rgb, args.seed,
                           f.index) for f, d in zip(frames, dense)]
        space = maps[0][1]
        frames = [dataclasses.replace(f, relative=m) for f, (m, _) in zip(frames, maps)]
        tag = f'{ds}_{fam}' + ('' if variant == 'all' else '_' + str(ABLATION.index(
            next(a for a in ABLATION if a[0] == variant))))
        steps = args.steps if variant == 'all' else (args.ablation_steps or args.steps)
        t0 = time.perf_counter()
        if args.rescore:
            weights = os.path.join(args.out, tag, 'starrygazer.safetensors')
        else:
            weights = _train(os.path.join(args.out, tag), frames, space, steps, 0, extra)
        train_s = time.perf_counter() - t0
        wanted = {'adapted': weights}
        if variant == 'all':
            from promptda_ros.backends.starrygazer_net import RefineNet, save_refiner

            wanted['untrained'] = save_refiner(RefineNet(), os.path.join(args.out, tag,
                                                                         'untrained.safetensors'))
            wanted[OPEN_GATE] = save_refiner(open_gate(),
                                             os.path.join(args.out, tag, 'open_gate.safetensors'))
        if tag in earlier:
            steps, train_s = earlier[tag]['steps'], earlier[tag]['train_s']
        res = _score(frames, space, wanted, train_s)
        res.update(dataset=ds, family=fam, variant=variant, steps=steps)
        results['runs'][tag] = res
        print(json.dumps({tag: res}), flush=True)
        name = 'rescored.json' if args.rescore else 'results.json'
        with open(os.path.join(args.out, name), 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)
    cols = ['adapted', 'adapted, no guard', 'untrained', 'default', 'bilinear', OPEN_GATE,
            'lstsq_bag', 'ransac_bag']
    print('| dataset | family | ' + ' | '.join(cols) + ' | frames refined | regions refined |')
    print('|---|---|' + '---|' * (len(cols) + 2))
    for r in results['runs'].values():
        if r['variant'] == 'all':
            regions = (f"{r['guard_regions_refined']}/{r['guard_regions']}"
                       if 'guard_regions' in r else '')
            print(f"| {r['dataset']} | {r['family']} | " + ' | '.join(
                f'{r[c]:.4f}' for c in cols) + f" | {r['guard_refined_frames']}/{r['frames']} | "
                f'{regions} |')
    if args.ablation:
        print('| synthesis | adapted | adapted, no guard |\n|---|---|---|')
        for r in results['runs'].values():
            if r['family'] == args.ablation:
                print(f"| {r['variant']} | {r['adapted']:.4f} | {r['adapted, no guard']:.4f} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
