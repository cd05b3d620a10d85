# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-demo``: the bundled sample, through the perception node, to files you can open.

Steps (all local, no downloaded weights):

1. generate the bundled sample scene as a ROS 2 bag (``promptda-make-sample``), unless one made
   with the same settings is already in ``OUT/sample_bag``;
2. replay it through the perception node on a real rclpy graph (``promptda-replay``), recording
   ``/promptda/depth/image`` into ``OUT/depth_bag``;
3. score every output frame against the sample's ground truth, next to the bilinear upsampling of
   the same LiDAR prompt (the PromptDA paper's "ARKit depth" baseline);
4. write ``OUT/depth/NNNN.png`` (uint16 mm) and ``.npy`` (float32 m) for every frame, a coloured
   point cloud ``OUT/cloud.ply`` and a panel ``OUT/panel.png`` (RGB / prompt / depth / error) of
   the middle frame, and ``OUT/metrics.json``; print the metrics table.
"""

import argparse
import json
import math
from pathlib import Path
import shutil
import sys

import numpy as np

from promptda_ros.backends import make_backend
from promptda_ros.bagio import read_frames
from promptda_ros.cli_args import CliParser, number, run_cli, seed_int, writable_folder
from promptda_ros.core.depth_io import save_depth_npy_m, save_depth_png_mm
from promptda_ros.core.errors import PromptDAError
from promptda_ros.core.pointcloud import depth_to_points, write_ply
from promptda_ros.eval.metrics import aggregate_frames, depth_metrics
from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_points
from promptda_ros.ros.replay import read_depth_bag, replay_bag
from promptda_ros.sample.bag_writer import write_sample_bag
from promptda_ros.sample.scene import SampleConfig
from promptda_ros.serving import tune_allocator

SHOWN = ('l1', 'rmse', 'absrel', 'delta_0.5', 'delta_1')


def _sample_bag(out: Path, config: SampleConfig, progress: bool) -> Path:
    """Return the sample bag in ``out``, generating it unless the same settings made it."""
    bag = out / 'sample_bag'
    stamp = out / 'sample_bag.json'
    wanted = json.dumps({'seed': config.seed, 'frames': config.frames, 'width': config.width,
                         'height': config.height}, sort_keys=True)
    if bag.exists() and stamp.exists() and stamp.read_text() == wanted:
        return bag
    if bag.exists():
        shutil.rmtree(bag)
    write_sample_bag(bag, config, progress=progress)
    stamp.write_text(wanted)
    return bag


def _panel(path: Path, rgb: np.ndarray, prompt_m: np.ndarray, depth_m: np.ndarray,
           gt_m: np.ndarray, title: str) -> None:
    """Save RGB / prompt / depth / |error| side by side (all depth panels share a colour scale)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    valid = np.isfinite(gt_m) & (gt_m > 0)
    lo, hi = np.percentile(gt_m[valid], [1, 99]) if valid.any() else (0.0, 1.0)
    err = np.abs(depth_m - gt_m)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), constrained_layout=True)
    axes[0].imshow(rgb)
    axes[0].set_title('RGB')
    shown = np.where(prompt_m > 0, prompt_m, np.nan)
    im = axes[1].imshow(shown, cmap='turbo', vmin=lo, vmax=hi, interpolation='nearest')
    axes[1].set_title('LiDAR prompt (m)')
    axes[2].imshow(depth_m, cmap='turbo', vmin=lo, vmax=hi)
    axes[2].set_title('output depth (m)')
    fig.colorbar(im, ax=axes[1:3], shrink=0.8)
    im_err = axes[3].imshow(err, cmap='magma', vmin=0.0, vmax=0.2)
    axes[3].set_title('|error| vs ground truth (m)')
    fig.colorbar(im_err, ax=axes[3], shrink=0.8)
    for ax in axes:
        ax.axis('off')
    fig.suptitle(title)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run_demo(out: Path, config: SampleConfig, backend: str = 'default',
             checkpoint: str = '', progress: bool = True, domain_id: int | None = None) -> dict:
    """Run the whole demo; return {'node': aggregate, 'bilinear': aggregate, 'replay': stats}.

    Raises:
        PromptDAError: a step failed (the message names it); OSError: output not writable.
    """
    out.mkdir(parents=True, exist_ok=True)
    bag = _sample_bag(out, config, progress)
    depth_bag = out / 'depth_bag'
    if depth_bag.exists():
        shutil.rmtree(depth_bag)
    node_params = {'backend': backend, 'publish_points': False}
    if checkpoint:
        node_params['checkpoint'] = checkpoint
    stats = replay_bag(bag, depth_bag, params=node_params, progress=progress,
                       domain_id=domain_id)
    depth_by_stamp = read_depth_bag(depth_bag)
    if not depth_by_stamp:
        raise PromptDAError(f'the node published no depth ({stats.summary()})')

    pipeline_config = PipelineConfig()  # the node's defaults: the replay above ran with them
    bilinear = DepthPipeline(make_backend('bilinear'))
    depth_dir = out / 'depth'
    depth_dir.mkdir(exist_ok=True)
    rows: dict[str, list[dict[str, float]]] = {'node': [], 'bilinear': []}
    frames = [f for f in read_frames(bag) if f.stamp_ns in depth_by_stamp]
    middle = frames[len(frames) // 2].stamp_ns if frames else None
    for index, frame in enumerate(frames):
        depth = depth_by_stamp[frame.stamp_ns]
        gt, points = frame.depth_gt_m, frame.points_lidar
        if gt is None or points is None:
            raise PromptDAError(f'sample frame {index} lacks ground truth or a LiDAR sweep')
        prompt = prompt_from_points(points, frame.T_cam_lidar, frame.camera, pipeline_config)
        base = bilinear.predict(frame.rgb, frame.camera, prompt, pipeline_config).depth_m
        low, high = pipeline_config.min_depth, pipeline_config.max_depth
        rows['node'].append(depth_metrics(depth, gt, low, high))
        rows['bilinear'].append(depth_metrics(base, gt, low, high))
        save_depth_png_mm(depth_dir / f'{index:04d}.png', depth)
        save_depth_npy_m(depth_dir / f'{index:04d}.npy', depth)
        if frame.stamp_ns == middle:
            points = depth_to_points(depth, frame.camera)
            write_ply(out / 'cloud.ply', points, frame.rgb)
            _panel(out / 'panel.png', frame.rgb, prompt.sparse_m, depth, gt,
                   f'frame {index}: {backend} backend through the perception node')
    result = {name: aggregate_frames(r) for name, r in rows.items()}
    result['replay'] = {'frames_in': stats.frames_in, 'frames_out': stats.frames_out,
                        'dropped': stats.dropped, 'mean_latency_ms': stats.mean_latency_ms,
                        'mean_network_ms': stats.mean_network_ms, 'hz': stats.hz}
    (out / 'metrics.json').write_text(json.dumps(result, indent=2, allow_nan=True))
    return result


def _table(result: dict, backend: str) -> str:
    """Format the metrics as a Markdown table."""
    lines = ['| method | ' + ' | '.join(SHOWN) + ' |', '|---' * (len(SHOWN) + 1) + '|']
    for name, label in (('node', f'{backend} (perception node)'),
                        ('bilinear', 'bilinear upsampling of the prompt')):
        vals = [result[name].get(k, math.nan) for k in SHOWN]
        lines.append(f'| {label} | ' + ' | '.join(f'{v:.4f}' for v in vals) + ' |')
    return '\n'.join(lines)


IMAGE_SIDE = number(int, 16, 8192)   # px, the sample scene's bounds


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = CliParser(
        prog='promptda-demo',
        description='Generate the bundled sample scene, replay it through the perception node, '
                    'and write depth (PNG mm + NPY m), a PLY point cloud, a panel PNG and '
                    'metrics against ground truth (L1 / RMSE in metres).')
    p.add_argument('--out', default='out/demo', help='output folder (default: %(default)s)')
    p.add_argument('--seed', type=seed_int, default=7,
                   help='sample scene seed (default: %(default)s)')
    p.add_argument('--frames', type=number(int, 2, 100000), default=30,
                   help='frames at 10 Hz, >= 2 (default: 30)')
    p.add_argument('--width', type=IMAGE_SIDE, default=640,
                   help='image width, 16..8192 px (default: 640)')
    p.add_argument('--height', type=IMAGE_SIDE, default=480,
                   help='image height, 16..8192 px (default: 480)')
    p.add_argument('--backend', default='default',
                   help="node backend: 'default' (weights-free), 'bilinear' or 'promptda'")
    p.add_argument('--checkpoint', default='', help='PromptDA checkpoint for --backend promptda')
    p.add_argument('--no-progress', action='store_true', help='hide progress bars')
    return p


def main(argv=None) -> int:
    """Entry point of ``promptda-demo``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    tune_allocator()
    out = Path(args.out)

    def work():
        config = SampleConfig(seed=args.seed, frames=args.frames, width=args.width,
                              height=args.height)
        writable_folder(str(out), '--out')
        _report(out, run_demo(out, config, args.backend, args.checkpoint,
                              progress=not args.no_progress), args.backend)
    return run_cli(work, f'{out} holds what was written so far; run the demo again to '
                   'redo it')


def _report(out: Path, result: dict, backend: str) -> None:
    """Print the replay statistics, the metrics table and the files written."""
    rep = result['replay']
    print(f'perception node: {rep["frames_out"]}/{rep["frames_in"]} frames, '
          f'{rep["dropped"]} dropped, mean latency {rep["mean_latency_ms"]:.1f} ms, '
          f'{rep["hz"]:.1f} Hz (replay waits for each frame)')
    print(_table(result, backend))
    print(f'wrote {out}/depth/*.png (uint16 mm) and *.npy (float32 m), {out}/cloud.ply, '
          f'{out}/panel.png, {out}/metrics.json')


if __name__ == '__main__':
    sys.exit(main())
