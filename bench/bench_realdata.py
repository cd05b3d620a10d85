# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Weights-free depth methods on real frames, scored at held-out measured points.

Usage::

    python bench/bench_realdata.py [--data DIR] [--arkit DIR] [--frames NAME ...] [--seed S]

Every frame of ``--data`` (folders with ``rgb.png`` and ``depth.npz``, key ``depth_m``: float32
metres, 0 = no measurement; by default the project's ``shared/realdata``) and the iPhone + ARKit
frame of ``--arkit`` (``image.jpg`` and ``arkit_depth.png``, 16-bit millimetres; by default
``test/data/arkit_example``) is turned into several prompt kinds, all drawn from the frame's own
measurements:

* ``points``: every measured point (the frame's own sparse sensor);
* ``grid``: the frame's dense depth as a low-resolution grid (the iBims laser scans reduced to the
  prompt grid with the pipeline's nearest-return rule; the ARKit 192x256 map as it is);
* ``lines16`` / ``lines32``: 16 / 32 evenly spaced image rows (+-1 px) of the measured points, a
  spinning LiDAR with fewer beams;
* ``rand100`` / ``rand1000``: 100 / 1000 measured points drawn at random;
* ``lowfov``: the measured points in the lower half of the rows that hold measurements, a LiDAR
  whose vertical field of view covers only part of the image.

Each kind is split by :func:`promptda_ros.eval.holdout.split_depth` (20 % held out) and every
row is the mean over :data:`DRAWS` seeded splits (the random kinds draw their points anew with
each seed too): one split of a LiDAR frame holds a few returns at depth edges that no method
sees coming, and one such return 30 m off can decide a row on its own. The methods see the rest
through the frame pipeline the perception node runs
the methods see the rest through the frame pipeline the perception node runs
(:func:`promptda_ros.pipeline.prompt_from_depth` -> fill -> backend -> range and support
masks) and are scored on the held-out points with :func:`promptda_ros.eval.metrics.depth_metrics`
(L1, RMSE in metres; AbsRel; delta1 = share within 1.25x; coverage = share of held-out points
with a finite prediction, so a method cannot look better by leaving holes). ``ms`` is the median
wall time per frame of prompt preparation (fill included) plus backend. Held-out points of the
ARKit grid are scored at the image pixel under their cell centre.

The methods are the weights-free backends: ``default`` and ``bilinear`` on each prompt fill of
:data:`promptda_ros.core.prompt.FILL_METHODS` (``bilinear/knn`` etc.). Two tables are printed in
Markdown: every metric of every method, then L1 per method and row with the ratio
``default / bilinear`` (bilinear on the pipeline's default fill) and ``default / best``; a
third gives the cost of each fill on 192 x 256 grids of real measurements, 50 cells to all.
"""

import argparse
import os
from pathlib import Path
import sys
import time

import cv2
import numpy as np

from promptda_ros.backends import make_backend
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import PromptError
from promptda_ros.core.prompt import FILL_METHODS, fill_prompt
from promptda_ros.eval.holdout import split_depth
from promptda_ros.eval.metrics import depth_metrics
from promptda_ros.pipeline import (
    DEFAULT_FILL,
    DepthPipeline,
    PipelineConfig,
    prompt_from_depth,
    reduce_to_grid,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / 'shared' / 'realdata'
ARKIT = ROOT / 'test' / 'data' / 'arkit_example'
HELD_OUT = 0.2
MAX_DEPTH = 100.0
"""Depth range of the benchmark, metres: wide enough for every frame (KITTI reaches 78 m)."""
GRID_CELLS = 192 * 256
"""Prompt grid area; each frame's grid keeps its image's aspect ratio."""
DRAWS = 5
"""Held-out splits averaged per row (seeds seed .. seed + DRAWS - 1; random kinds redraw too)."""
ARKIT_SIZE = (480, 640)
"""(H, W) the ARKit photo is resized to (the other frames are 640 px wide, KITTI 1216)."""

# KITTI's published intrinsics of the 1216 x 352 depth-completion crop (the 1242 x 375 raw image
# cropped 13 px left and 23 px top). The other frames ship none: a 60 degree horizontal field of
# view is assumed (it only sets how many pixels the support radius of the pipeline spans).
KITTI_K = ((721.5377, 0.0, 596.5593), (0.0, 721.5377, 149.854), (0.0, 0.0, 1.0))


def frame_camera(name: str, height: int, width: int) -> PinholeCamera:
    """Return the assumed camera of a frame (KITTI's published K, else a 60 degree FOV)."""
    if 'kitti' in name and (height, width) == (352, 1216):
        return PinholeCamera(width, height, np.array(KITTI_K))
    f = 0.5 * width / np.tan(np.radians(30.0))
    return PinholeCamera(width, height, np.array([[f, 0, width / 2], [0, f, height / 2],
                                                  [0, 0, 1.0]]))


def load_frames(data: Path, arkit: Path, names=None) -> list:
    """Return ``[(name, rgb (H, W, 3) uint8, depth (H', W') float32 m, dense bool)]``.

    ``depth`` is at image resolution except for the ARKit grid (192 x 256); ``dense`` marks a
    frame whose depth covers most of the image (used as a ``grid`` prompt).
    """
    frames = []
    for folder in sorted(p for p in data.glob('*') if (p / 'depth.npz').exists()):
        if names and folder.name not in names:
            continue
        bgr = cv2.imread(str(folder / 'rgb.png'), cv2.IMREAD_COLOR)
        depth = np.load(folder / 'depth.npz')['depth_m'].astype(np.float32)
        dense = np.count_nonzero(depth > 0) > 0.3 * depth.size
        frames.append((folder.name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), depth, dense))
    if (arkit / 'arkit_depth.png').exists() and (not names or 'arkit' in names):
        bgr = cv2.imread(str(arkit / 'image.jpg'), cv2.IMREAD_COLOR)
        bgr = cv2.resize(bgr, ARKIT_SIZE[::-1], interpolation=cv2.INTER_AREA)
        depth = cv2.imread(str(arkit / 'arkit_depth.png'), cv2.IMREAD_UNCHANGED)
        frames.append(('arkit', cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                       depth.astype(np.float32) * np.float32(1e-3), True))
    return frames


def grid_hw(height: int, width: int) -> tuple:
    """Prompt grid (h, w) of about :data:`GRID_CELLS` cells with the image's aspect ratio."""
    scale = max(1.0, float(np.sqrt(height * width / GRID_CELLS)))
    return int(round(height / scale)), int(round(width / scale))


def _rows_of(depth: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Keep the measurements of ``depth`` (H, W) metres in the given rows (+-1 px)."""
    keep = np.zeros(depth.shape[0], bool)
    for r in rows:
        keep[max(0, r - 1):r + 2] = True
    return np.where(keep[:, None], depth, np.float32(0.0))


def prompt_kinds(depth: np.ndarray, dense: bool, seed: int) -> dict:
    """Return ``{kind: (H, W) float32 metres, 0 = none}`` drawn from a frame's measurements."""
    valid = depth > 0
    n = int(np.count_nonzero(valid))
    rows = np.nonzero(valid.any(axis=1))[0]
    top, bottom = int(rows.min()), int(rows.max())
    kinds = {'grid' if dense else 'points': depth}
    for lines in (16, 32) if n >= 5000 else ():
        kinds[f'lines{lines}'] = _rows_of(depth, np.round(np.linspace(top, bottom, lines))
                                          .astype(int))
    rng = np.random.default_rng(seed)
    flat = np.flatnonzero(valid)
    for count in (100, 1000):
        if n >= 2 * count:
            pick = np.zeros(depth.size, bool)
            pick[rng.choice(flat, count, replace=False)] = True
            kinds[f'rand{count}'] = np.where(pick.reshape(depth.shape), depth, np.float32(0.0))
    low = np.arange(depth.shape[0])[:, None] >= (top + bottom) // 2
    kinds['lowfov'] = np.where(low, depth, np.float32(0.0))
    return kinds


def reference_image(reference: np.ndarray, image_hw: tuple) -> np.ndarray:
    """Held-out points (h, w) metres (NaN = none) at the image pixel under each cell centre."""
    h, w = reference.shape
    if (h, w) == tuple(image_hw):
        return reference
    out = np.full(image_hw, np.nan, np.float32)
    r, c = np.nonzero(np.isfinite(reference))
    v = np.clip(np.rint((r + 0.5) * image_hw[0] / h - 0.5).astype(int), 0, image_hw[0] - 1)
    u = np.clip(np.rint((c + 0.5) * image_hw[1] / w - 0.5).astype(int), 0, image_hw[1] - 1)
    out[v, u] = reference[r, c]
    return out


def methods() -> dict:
    """Return ``{label: (backend name, fill)}`` of every weights-free method."""
    fills = [f for f in FILL_METHODS if f != 'none']
    out = {'default': ('default', DEFAULT_FILL)}
    out.update({f'bilinear/{f}': ('bilinear', f) for f in fills})
    return out


def _mean_scores(draws: list) -> dict:
    """Mean of per-draw metric dicts (``ms``: median); an error in any draw is the result."""
    for scores in draws:
        if 'error' in scores:
            return scores
    out = {k: float(np.mean([d[k] for d in draws])) for k in ('l1', 'rmse', 'absrel',
                                                              'delta_1', 'coverage')}
    out['ms'] = float(np.median([d['ms'] for d in draws]))
    return out


def run(frames: list, seed: int, repeats: int, draws: int = DRAWS) -> list:
    """Score every method on every frame and prompt kind; return a list of row dicts.

    Every row is the mean over ``draws`` held-out splits (seeds ``seed`` ... ``seed + draws -
    1``); the random kinds (``rand*``) also draw their points with each seed. One split scores
    a method at a fixed few returns, and on a LiDAR frame one return at a depth edge, missed
    by every method by tens of metres, can then decide the row.
    """
    plans = methods()
    pipelines = {b: DepthPipeline(make_backend(b)) for b in ('default', 'bilinear')}
    rows = []
    for name, rgb, depth, dense in frames:
        H, W = rgb.shape[:2]
        camera = frame_camera(name, H, W)
        for kind in prompt_kinds(depth, dense, seed):
            seeds = range(seed, seed + draws)
            scores = {label: [] for label in plans}
            for draw in seeds:
                sparse = prompt_kinds(depth, dense, draw)[kind]
                prompt_in, reference = split_depth(sparse, HELD_OUT, draw)
                ref = reference_image(reference, (H, W))
                hw = grid_hw(H, W) if sparse.shape == (H, W) else sparse.shape
                for label, (backend, fill) in plans.items():
                    config = PipelineConfig.with_prompt_hw(hw, prompt_fill=fill,
                                                           max_depth=MAX_DEPTH)
                    times = []
                    try:
                        for _ in range(repeats):
                            start = time.perf_counter()
                            prompt = prompt_from_depth(prompt_in, config)
                            result = pipelines[backend].predict(rgb, camera, prompt, config)
                            times.append(time.perf_counter() - start)
                    except PromptError as exc:
                        scores[label].append({'error': str(exc)})
                        continue
                    one = depth_metrics(result.depth_m, ref, 0.0, MAX_DEPTH)
                    one['ms'] = 1e3 * float(np.median(times))
                    scores[label].append(one)
            row = {'frame': name, 'kind': kind, 'n': int(np.count_nonzero(prompt_in > 0)),
                   'draws': len(seeds), 'grid': hw}
            row.update({label: _mean_scores(s) for label, s in scores.items()})
            rows.append(row)
            print(f'.. {name} {kind}: ' + ' '.join(
                f'{k} {v["l1"]:.3f}' for k, v in row.items() if isinstance(v, dict) and 'l1' in v),
                file=sys.stderr, flush=True)
    return rows


def _short(name: str) -> str:
    return name.replace('any2full_', '').replace('_demo', '')


def tables(rows: list) -> str:
    """Return the two Markdown tables of the module docstring."""
    labels = list(methods())
    base = f'bilinear/{DEFAULT_FILL}'
    out = ['| frame | prompt | points | method | L1 m | RMSE m | AbsRel | δ1 | coverage | ms |',
           '|---|---|---|---|---|---|---|---|---|---|']
    for row in rows:
        for label in labels:
            s = row[label]
            if 'error' in s:
                out.append(f'| {_short(row["frame"])} | {row["kind"]} | {row["n"]} | {label} | '
                           f'error: {s["error"]} |||||')
                continue
            out.append(f'| {_short(row["frame"])} | {row["kind"]} | {row["n"]} | {label} | '
                       f'{s["l1"]:.3f} | {s["rmse"]:.3f} | {s["absrel"]:.3f} | '
                       f'{s["delta_1"]:.3f} | {s["coverage"]:.3f} | {s["ms"]:.0f} |')
    out += ['', '| frame | prompt | points | ' + ' | '.join(f'{m} L1' for m in labels)
            + f' | default / {base} | default / best |',
            '|---|---|---|' + '---|' * (len(labels) + 2)]
    worst_base = worst_best = 0.0
    for row in rows:
        l1 = {m: row[m].get('l1', np.nan) for m in labels}
        best = np.nanmin(list(l1.values()))
        r_base, r_best = l1['default'] / l1[base], l1['default'] / best
        worst_base, worst_best = np.nanmax([worst_base, r_base]), np.nanmax([worst_best, r_best])
        cells = ' | '.join(f'**{v:.3f}**' if v == best else f'{v:.3f}' for v in l1.values())
        out.append(f'| {_short(row["frame"])} | {row["kind"]} | {row["n"]} | {cells} | '
                   f'{r_base:.3f} | {r_best:.3f} |')
    out.append(f'\nworst default / {base}: {worst_base:.3f}; worst default / best: '
               f'{worst_best:.3f} ({len(rows)} rows)')
    return '\n'.join(out)


def fill_costs(frames: list, seed: int, repeats: int = 3) -> str:
    """Markdown table: ms of each fill on 192 x 256 grids of real measurements, and its range.

    For every frame, ``count`` measured cells of its 192 x 256 grid (the pipeline's
    nearest-return reduction; ARKit's own map) are kept at random, from 50 to all; each fill's
    median time over ``repeats`` runs is printed with the largest amount (mm) by which a filled
    value leaves ``[min, max]`` of the kept cells (0 = never invents depth).
    """
    def options(method: str, grid: np.ndarray) -> dict:
        return {'max_depth': max(100.0, 2.0 * float(grid.max()))} if method == 'morph' else {}

    fills = {f: (lambda g, f=f: fill_prompt(g, f, **options(f, g)))
             for f in FILL_METHODS if f != 'none'}
    out = ['| frame | measured cells | ' + ' | '.join(f'{f} ms | {f} outside range mm'
                                                      for f in fills) + ' |',
           '|---|---|' + '---|---|' * len(fills)]
    rng = np.random.default_rng(seed)
    for name, _rgb, depth, _dense in frames:
        grid = reduce_to_grid(depth, (192, 256))
        cells = np.flatnonzero(grid > 0)
        for count in (50, 1000, 20000, cells.size):
            if count > cells.size or (count == cells.size and count in (50, 1000, 20000)):
                continue
            keep = rng.choice(cells, count, replace=False)
            sparse = np.zeros_like(grid)
            sparse.flat[keep] = grid.flat[keep]
            lo, hi = float(sparse.flat[keep].min()), float(sparse.flat[keep].max())
            row = []
            for fill in fills.values():
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    filled = fill(sparse)
                    times.append(time.perf_counter() - start)
                outside = max(float(filled.max()) - hi, lo - float(filled.min()), 0.0)
                row.append(f'{1e3 * np.median(times):.1f} | {1e3 * outside:.0f}')
            out.append(f'| {_short(name)} | {count} | ' + ' | '.join(row) + ' |')
    return '\n'.join(out)


def main(argv=None) -> int:
    """Run the benchmark and print its tables."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', type=Path, default=DATA,
                   help='folder of real frames (rgb.png + depth.npz), default shared/realdata')
    p.add_argument('--arkit', type=Path, default=ARKIT,
                   help='iPhone + ARKit frame folder (image.jpg + arkit_depth.png)')
    p.add_argument('--frames', nargs='*', help='only these frame folders ("arkit" = ARKit)')
    p.add_argument('--seed', type=int, default=0, help='held-out and sampling seed (0)')
    p.add_argument('--repeats', type=int, default=1, help='timed runs per method and row (1)')
    p.add_argument('--draws', type=int, default=DRAWS,
                   help=f'held-out splits averaged per row; random kinds redraw their points '
                        f'with each ({DRAWS})')
    args = p.parse_args(argv)
    frames = load_frames(args.data, args.arkit, args.frames)
    if not frames:
        print(f'error: no frame in {args.data} or {args.arkit}', file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = run(frames, args.seed, max(1, args.repeats), max(1, args.draws))
    draws = max(1, args.draws)
    print(f'real frames, {int(HELD_OUT * 100)} % of each prompt held out (mean of '
          f'{draws} splits, seeds {args.seed}..{args.seed + draws - 1}), '
          f'depth range 0-{MAX_DEPTH:.0f} m, {os.cpu_count()} CPUs, '
          f'{time.perf_counter() - start:.0f} s\n')
    print(tables(rows))
    print('\nPrompt fill on 192x256 grids (median of 3 runs):\n')
    print(fill_costs(frames, args.seed))
    return 0


if __name__ == '__main__':
    sys.exit(main())
