# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Benchmark the weights-free 'default' backend.

Usage::

    python bench/bench_default_backend.py [--frames N] [--bag DIR] ...   # = promptda-default-bench
    python bench/bench_default_backend.py --speed-against REV [--rounds N]

The first form scores 'default' against 'bilinear' (accuracy and time). The second compares the
speed of this checkout's backend with the backend of git revision ``REV`` in one process, on
the generated 640x480 sample, alternating old and new frame by frame so that both see the same
machine load; it checks that every output is bit-identical and prints median ms per frame and
the old / new ratios (speed on a shared machine is only meaningful as a ratio in one run).
"""

import argparse
import importlib.util
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
MODULE = 'promptda_ros/backends/default.py'


def _load_revision(rev: str):
    """Import ``default.py`` of git revision ``rev`` as a module of its own."""
    source = subprocess.run(['git', '-C', str(ROOT), 'show', f'{rev}:{MODULE}'],
                            capture_output=True, text=True)
    if source.returncode != 0:
        raise SystemExit(f'error: cannot read {MODULE} at {rev!r}: '
                         f'{source.stderr.strip().splitlines()[-1:]}')
    with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f:
        f.write(source.stdout)
    try:
        spec = importlib.util.spec_from_file_location(f'default_at_{rev}', f.name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        os.unlink(f.name)
    return module


def speed_against(rev: str, rounds: int, frames: int) -> int:
    """Time this checkout's default backend against ``rev``'s; return the exit status."""
    import numpy as np

    from promptda_ros.backends import default as current
    from promptda_ros.pipeline import PipelineConfig, prompt_from_points
    from promptda_ros.sample.scene import SampleGenerator

    old = _load_revision(rev)
    gen = SampleGenerator(frames=frames, width=640, height=480, seed=0)
    config = PipelineConfig()
    inputs = []
    for i in range(frames):
        frame = gen.frame(i)
        prompt = prompt_from_points(frame.points_lidar, gen.T_cam_lidar, gen.camera, config)
        inputs.append((frame.rgb, prompt.sparse_m))
    backends = {f'{rev} (old)': old.DefaultBackend(),
                'this checkout, threads=1': current.DefaultBackend(threads=1),
                'this checkout, threads=2': current.DefaultBackend(threads=2)}
    times = {name: [] for name in backends}
    for rgb, prompt in inputs:  # warm-up, and the outputs must not change
        outs = [b.predict(rgb, prompt, gen.camera) for b in backends.values()]
        if not all(np.array_equal(outs[0], o, equal_nan=True) for o in outs[1:]):
            print('error: the outputs differ from the old backend', file=sys.stderr)
            return 1
    load_before = os.getloadavg()[0]
    for _ in range(rounds):
        for rgb, prompt in inputs:
            for name, backend in backends.items():
                start = time.perf_counter()
                backend.predict(rgb, prompt, gen.camera)
                times[name].append(time.perf_counter() - start)
    load_after = os.getloadavg()[0]
    base = float(np.median(times[f'{rev} (old)']))
    print(f'default backend, 640x480, 192x256 prompt, {rounds} x {frames} frames each, '
          f'alternating; {os.cpu_count()} CPUs, load average {load_before:.1f} -> '
          f'{load_after:.1f}; outputs bit-identical')
    print('| backend | median ms / frame | p90 ms | speed-up vs old |\n|---|---|---|---|')
    for name, values in times.items():
        median = float(np.median(values))
        print(f'| {name} | {median * 1e3:.1f} | {np.percentile(values, 90) * 1e3:.1f} | '
              f'{base / median:.2f}x |')
    return 0


def main(argv=None) -> int:
    """Dispatch: the accuracy bench, or ``--speed-against REV``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--speed-against' not in argv:
        from promptda_ros.sample.bench_cli import main as bench_main
        return bench_main(argv)
    p = argparse.ArgumentParser(description='Speed of the default backend against a revision.')
    p.add_argument('--speed-against', required=True, metavar='REV',
                   help='git revision whose default backend is the baseline')
    p.add_argument('--rounds', type=int, default=10, help='rounds over the frames (10)')
    p.add_argument('--frames', type=int, default=4, help='sample frames (4)')
    args = p.parse_args(argv)
    if args.rounds < 1 or args.frames < 1:
        print('error: --rounds and --frames must be >= 1', file=sys.stderr)
        return 2
    return speed_against(args.speed_against, args.rounds, args.frames)


if __name__ == '__main__':
    sys.exit(main())
