# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-default-bench``: the 'default' backend against the 'bilinear' baseline.

Runs both methods on every frame of the generated sample (or of a bag with ground truth)
through the evaluation code of ``promptda-eval``: the LiDAR sweep is projected as the
evaluation's bag reader does (:func:`promptda_ros.pipeline.lidar_prompt_grid`), the methods run
through :class:`promptda_ros.eval.methods.MethodRunner` (the frame pipeline the perception node
runs), each frame is scored by :func:`promptda_ros.eval.metrics.depth_metrics` and the frames
aggregated by :func:`promptda_ros.eval.metrics.aggregate_frames`. It reports L1 / RMSE / AbsRel,
the coverage (fraction of ground-truth pixels with a prediction, so that no method can look
better by abstaining) and the time per frame.
"""

import argparse
import sys
from typing import Dict, Iterable, List, Optional

import numpy as np

from promptda_ros.core.errors import InputError, PromptDAError
from promptda_ros.eval.dataset import EvalFrame
from promptda_ros.eval.methods import MethodRunner
from promptda_ros.eval.metrics import aggregate_frames, depth_metrics
from promptda_ros.pipeline import lidar_prompt_grid, PipelineConfig

METHODS = ('default', 'bilinear')
_PIPELINE = PipelineConfig()
DEFAULT_PROMPT_HW = _PIPELINE.prompt_hw
SCORES = ('l1', 'rmse', 'absrel', 'coverage')


def _config(camera, prompt_hw: Optional[tuple]) -> PipelineConfig:
    """Return the pipeline config of a prompt grid (None: the default, capped at the image)."""
    if prompt_hw is None:  # the default grid, never finer than the image
        h, w = min(DEFAULT_PROMPT_HW[0], camera.height), min(DEFAULT_PROMPT_HW[1], camera.width)
    else:
        h, w = (int(v) for v in prompt_hw)
    if not (1 <= h <= camera.height and 1 <= w <= camera.width):
        raise InputError(f'prompt grid {h}x{w} (rows x columns) must be between 1x1 and the '
                         f'image size {camera.height}x{camera.width}')
    return PipelineConfig.with_prompt_hw((h, w))


def run_bench(frames: Iterable, prompt_hw: Optional[tuple] = DEFAULT_PROMPT_HW,
              methods: Iterable[str] = METHODS) -> Dict[str, Dict[str, float]]:
    """Score methods on frames with ``rgb``, ``camera``, ``points_lidar``, ``T_cam_lidar``, GT.

    Args:
        frames: iterable of :class:`promptda_ros.bagio.Frame`-like objects.
        prompt_hw: (h, w) LiDAR prompt grid, at most the image size; None = 192x256 capped
            at the image size.
        methods: ``promptda-eval`` method names.

    Returns:
        {method: {'l1', 'rmse', 'absrel', 'coverage' (means over frames with scored pixels),
        'ms' (median time of the method per frame, ms), 'frames'}}.

    Raises:
        InputError: a frame without LiDAR sweep, extrinsic or ground truth, a prompt grid
            larger than the image (or empty), a prompt a method cannot use (too sparse), or
            no frame at all.
    """
    names, runner = list(methods), None
    rows: Dict[str, List[Dict[str, float]]] = {name: [] for name in names}
    for fr in frames:
        if fr.points_lidar is None or fr.T_cam_lidar is None or fr.depth_gt_m is None:
            raise InputError(f'frame at {fr.stamp_ns} ns lacks a LiDAR sweep, extrinsic or '
                             'ground-truth depth')
        config = _config(fr.camera, prompt_hw)
        if runner is None or runner.config != config:
            runner = MethodRunner(names, config=config)
        grid = lidar_prompt_grid(fr.points_lidar, fr.T_cam_lidar, fr.camera, config)
        preds, times, errors = runner.run(EvalFrame(fr.index, str(fr.stamp_ns), fr.stamp_ns,
                                                    fr.rgb, fr.camera, grid, fr.depth_gt_m,
                                                    None))
        for name in names:
            if name in errors:
                raise InputError(f'{name} at {fr.stamp_ns} ns: {errors[name]}')
            rows[name].append({**depth_metrics(preds[name], fr.depth_gt_m, config.min_depth,
                                               config.max_depth), 'ms': times[name]})
    if not any(rows.values()):
        raise InputError('no frames to benchmark')
    out = {}
    for name, scored in rows.items():
        out[name] = {k: v for k, v in aggregate_frames(scored, SCORES).items() if k in SCORES}
        out[name]['ms'] = float(np.median([r['ms'] for r in scored]))
        out[name]['frames'] = len(scored)
    return out


def format_table(result: Dict[str, Dict[str, float]]) -> str:
    """Return the result of :func:`run_bench` as a Markdown table plus the L1 ratio line."""
    lines = ['| method | L1 (m) | RMSE (m) | AbsRel | coverage | ms / frame |',
             '|---|---|---|---|---|---|']
    for name, r in result.items():
        lines.append(f"| {name} | {r['l1']:.4f} | {r['rmse']:.4f} | {r['absrel']:.4f} | "
                     f"{r['coverage']:.3f} | {r['ms']:.1f} |")
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
