# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-default-bench``: the 'default' backend against the 'bilinear' baseline.

Runs both backends on every frame of the generated sample (or of a bag with ground truth),
with the LiDAR sweep projected onto a prompt grid, and reports L1 / RMSE / AbsRel over the
ground-truth pixels (a pixel a method leaves NaN counts as an error equal to the GT depth, so
no method can win by abstaining) and the time per frame.
"""

import argparse
import sys
import time
from typing import Dict, Iterable, List, Optional

import numpy as np

from promptda_ros.backends import make_backend
from promptda_ros.core.errors import InputError, PromptDAError
from promptda_ros.core.projection import project_to_grid
from promptda_ros.core.transforms import transform_points

METHODS = ('default', 'bilinear')
DEFAULT_PROMPT_HW = (192, 256)


def depth_errors(pred_m: np.ndarray, gt_m: np.ndarray) -> Dict[str, float]:
    """Return L1 (m), RMSE (m) and AbsRel of ``pred_m`` (H, W) m vs ``gt_m`` (H, W) m.

    GT pixels that are NaN / <= 0 are ignored; NaN predictions count as 0 m (full error).
    """
    mask = np.isfinite(gt_m) & (gt_m > 0)
    if not np.any(mask):
        raise InputError('ground truth has no valid pixel')
    gt = gt_m[mask].astype(np.float64)
    pred = np.nan_to_num(pred_m[mask].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    err = pred - gt
    return {'l1': float(np.mean(np.abs(err))), 'rmse': float(np.sqrt(np.mean(err ** 2))),
            'absrel': float(np.mean(np.abs(err) / gt))}


def run_bench(frames: Iterable, prompt_hw: Optional[tuple] = DEFAULT_PROMPT_HW,
              methods: Iterable[str] = METHODS) -> Dict[str, Dict[str, float]]:
    """Score backends on frames with ``rgb``, ``camera``, ``points_lidar``, ``T_cam_lidar``, GT.

    Args:
        frames: iterable of :class:`promptda_ros.bagio.Frame`-like objects.
        prompt_hw: (h, w) LiDAR prompt grid, at most the image size; None = 192x256 capped
            at the image size.
        methods: backend names.

    Returns:
        {method: {'l1', 'rmse', 'absrel' (means over frames), 'ms' (median per frame),
        'frames'}}.

    Raises:
        InputError: a frame without LiDAR sweep, extrinsic or ground truth, a prompt grid
            larger than the image (or empty), or no frame at all.
    """
    backends = {m: make_backend(m) for m in methods}
    scores: Dict[str, List[Dict[str, float]]] = {m: [] for m in backends}
    for fr in frames:
        if fr.points_lidar is None or fr.T_cam_lidar is None or fr.depth_gt_m is None:
            raise InputError(f'frame at {fr.stamp_ns} ns lacks a LiDAR sweep, extrinsic or '
                             'ground-truth depth')
        if prompt_hw is None:  # the default grid, never finer than the image
            h, w = min(DEFAULT_PROMPT_HW[0], fr.camera.height), \
                min(DEFAULT_PROMPT_HW[1], fr.camera.width)
        else:
            h, w = (int(v) for v in prompt_hw)
        if not (1 <= h <= fr.camera.height and 1 <= w <= fr.camera.width):
            raise InputError(f'prompt grid {h}x{w} (rows x columns) must be between 1x1 and the '
                             f'image size {fr.camera.height}x{fr.camera.width}')
        pts = transform_points(fr.T_cam_lidar, np.asarray(fr.points_lidar, np.float64))
        prompt = project_to_grid(pts, fr.camera, (h, w))
        for name, backend in backends.items():
            t0 = time.perf_counter()
            pred = backend.predict(fr.rgb, prompt, fr.camera)
            ms = (time.perf_counter() - t0) * 1e3
            scores[name].append({**depth_errors(pred, fr.depth_gt_m), 'ms': ms})
    if not any(scores.values()):
        raise InputError('no frames to benchmark')
    out = {}
    for name, rows in scores.items():
        out[name] = {k: float(np.mean([r[k] for r in rows])) for k in ('l1', 'rmse', 'absrel')}
        out[name]['ms'] = float(np.median([r['ms'] for r in rows]))
        out[name]['frames'] = len(rows)
    return out


def format_table(result: Dict[str, Dict[str, float]]) -> str:
    """Return the result of :func:`run_bench` as a Markdown table plus the L1 ratio line."""
    lines = ['| method | L1 (m) | RMSE (m) | AbsRel | ms / frame |', '|---|---|---|---|---|']
    for name, r in result.items():
        lines.append(f"| {name} | {r['l1']:.4f} | {r['rmse']:.4f} | {r['absrel']:.4f} | "
                     f"{r['ms']:.1f} |")
    if 'default' in result and 'bilinear' in result:
        ratio = result['default']['l1'] / result['bilinear']['l1']
        change = f'{(1 - ratio) * 100:.1f} % lower' if ratio <= 1 else \
            f'{(ratio - 1) * 100:.1f} % HIGHER'
        lines.append(f'L1 default / bilinear = {ratio:.3f} ({change})')
    return '\n'.join(lines)


def _sample_frames(seed: int, frames: int, width: int, height: int):
    from promptda_ros.bagio import Frame
    from promptda_ros.sample.scene import SampleConfig, SampleGenerator

    gen = SampleGenerator(SampleConfig(seed=seed, frames=frames, width=width, height=height))
    for f in gen.frames():
        yield Frame(index=f.index, stamp_ns=f.stamp_ns, rgb=f.rgb, camera=gen.camera,
                    points_lidar=f.points_lidar, lidar_stamp_ns=f.lidar_stamp_ns,
                    T_cam_lidar=gen.T_cam_lidar, depth_gt_m=f.depth_gt_m)


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``promptda-default-bench``; return the process exit code."""
    p = argparse.ArgumentParser(
        prog='promptda-default-bench',
        description='Compare the weights-free default backend with bilinear upsampling of the '
                    'LiDAR prompt on the generated sample (or a bag with ground truth).')
    p.add_argument('--bag', help='read frames from this bag instead of generating the sample')
    p.add_argument('--seed', type=int, default=0, help='sample seed (default: %(default)s)')
    p.add_argument('--frames', type=int, default=10,
                   help='generated frames (default: %(default)s)')
    p.add_argument('--width', type=int, default=640, help='image width, px (default: 640)')
    p.add_argument('--height', type=int, default=480, help='image height, px (default: 480)')
    p.add_argument('--prompt-height', type=int, default=None,
                   help='LiDAR prompt grid rows, at most the image height (default: 192, or '
                        'the image height if smaller)')
    p.add_argument('--prompt-width', type=int, default=None,
                   help='LiDAR prompt grid columns, at most the image width (default: 256, or '
                        'the image width if smaller)')
    args = p.parse_args(argv)
    try:
        if args.bag:
            from promptda_ros.bagio import read_frames
            frames = read_frames(args.bag)
        else:
            frames = _sample_frames(args.seed, args.frames, args.width, args.height)
        prompt_hw = None
        if args.prompt_height is not None or args.prompt_width is not None:
            prompt_hw = (DEFAULT_PROMPT_HW[0] if args.prompt_height is None
                         else args.prompt_height,
                         DEFAULT_PROMPT_HW[1] if args.prompt_width is None
                         else args.prompt_width)
        result = run_bench(frames, prompt_hw)
    except (PromptDAError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(format_table(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
