# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""StarryGazer evidence run: adapt on a fresh sample with its ground truth removed, then score.

1. ``promptda-make-sample`` with a fresh seed (default 11; 30 frames, 640 x 480);
2. a copy of that bag without ``/camera/depth_gt``
   (:func:`promptda_ros.sample.bag_writer.copy_bag`);
3. ``promptda-adapt COPY --out OUT/run --eval SAMPLE``: training sees images, the simulated
   monocular relative depth and the LiDAR only; the evaluation (promptda-eval's machinery) scores
   the adapted network, lstsq- / RANSAC-aligned relative depth, ``default`` and ``bilinear``
   against the ground truth of the original bag;
4. optionally (``--other-seed``) the same weights on a second, unseen sample through
   ``promptda-eval --starrygazer``.

Prints the wall time of each stage and the tables; no assertion (CPU timings vary with load).

    python bench/adapt_evidence.py --out out/adapt_evidence --seed 11 --other-seed 12
"""

import argparse
import json
import os
import sys
import time

from promptda_ros.adapt import cli as adapt_cli
from promptda_ros.eval import cli as eval_cli
from promptda_ros.sample.bag_writer import copy_bag, GT_TOPIC, write_sample_bag
from promptda_ros.sample.scene import SampleConfig


def _table(report_path: str) -> str:
    with open(report_path, encoding='utf-8') as f:
        report = json.load(f)
    lines = ['| method | L1 (m) | RMSE (m) | AbsRel | δ<1.25^0.5 |', '|---|---|---|---|---|']
    for name, m in report['methods'].items():
        a = m['aggregate']
        lines.append(f"| {name} | {a['l1']:.4f} | {a['rmse']:.4f} | {a['absrel']:.4f} | "
                     f"{a['delta_0.5']:.3f} |")
    return '\n'.join(lines)


def main(argv=None) -> int:
    """Run the evidence; return the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', required=True, help='new output folder')
    p.add_argument('--seed', type=int, default=11, help='fresh sample seed (default 11)')
    p.add_argument('--other-seed', type=int, default=None,
                   help='also score the adapted weights on this unseen sample seed')
    p.add_argument('--frames', type=int, default=30)
    p.add_argument('--steps', type=int, default=5000)
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--width', type=int, default=16, help='U-Net base width')
    args, extra = p.parse_known_args(argv)
    os.makedirs(args.out, exist_ok=False)
    t0 = time.perf_counter()
    sample = write_sample_bag(os.path.join(args.out, f'sample_seed{args.seed}'),
                              SampleConfig(seed=args.seed, frames=args.frames), progress=False)
    no_gt = copy_bag(sample, os.path.join(args.out, f'sample_seed{args.seed}_no_gt'),
                     [GT_TOPIC])
    print(f'sample seed {args.seed} + copy without {GT_TOPIC}: '
          f'{time.perf_counter() - t0:.0f} s', flush=True)
    t1 = time.perf_counter()
    rc = adapt_cli.main([str(no_gt), '--out', os.path.join(args.out, 'run'), '--steps',
                         str(args.steps), '--batch', str(args.batch), '--width', str(args.width),
                         '--eval', str(sample), *extra])
    if rc:
        return rc
    print(f'promptda-adapt (training + evaluation): {time.perf_counter() - t1:.0f} s')
    print(_table(os.path.join(args.out, 'run', 'eval', 'report.json')))
    if args.other_seed is not None:
        other = write_sample_bag(os.path.join(args.out, f'sample_seed{args.other_seed}'),
                                 SampleConfig(seed=args.other_seed, frames=args.frames),
                                 progress=False)
        ev = os.path.join(args.out, f'eval_seed{args.other_seed}')
        rc = eval_cli.main([str(other), '--out', ev, '--no-recon', '--starrygazer',
                            os.path.join(args.out, 'run', adapt_cli.WEIGHTS)])
        if rc:
            return rc
        print(f'unseen seed {args.other_seed}:')
        print(_table(os.path.join(ev, 'report.json')))
    print(f'total {time.perf_counter() - t0:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
