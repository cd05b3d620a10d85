# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""CPU inference time of the depth ACT policy (default config) at 480x640 depth.

Usage::

    python bench/bench_policy.py [--height 480] [--width 640] [--threads 2] [--runs 10]

Builds an untrained checkpoint of the default ``act_depth`` config (ResNet18, dim_model 512,
4 encoder / 1 decoder layers, chunk 100, H1 right arm: 4 joints), loads it through the same
path as the node (``from_pretrained`` + processors) and times ``predict_chunk`` (normalise ->
network -> unnormalise). Prints one line per setting, median and p90 in ms.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0."""
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--height', type=int, default=480, help='depth rows (%(default)s)')
    p.add_argument('--width', type=int, default=640, help='depth columns (%(default)s)')
    p.add_argument('--threads', type=int, default=2, help='torch CPU threads (%(default)s)')
    p.add_argument('--runs', type=int, default=10, help='timed runs (%(default)s)')
    p.add_argument('--chunk-size', type=int, default=100, help='actions per chunk (%(default)s)')
    args = p.parse_args(argv)

    import torch

    from promptda_policy.inference import DepthPolicy
    from promptda_policy.synthetic import save_untrained_policy

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_untrained_policy(os.path.join(tmp, 'ckpt'), args.height, args.width, 4,
                                     chunk_size=args.chunk_size,
                                     n_action_steps=args.chunk_size)
        policy = DepthPolicy(path)
        params = sum(p.numel() for p in policy.policy.parameters())
        rng = np.random.default_rng(0)
        depth = rng.uniform(0.3, 3.0, (args.height, args.width)).astype(np.float32)
        state = np.zeros(4)
        policy.predict_chunk(depth, state)  # warm-up
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            policy.predict_chunk(depth, state)
            times.append((time.perf_counter() - t0) * 1e3)
    times = np.array(times)
    print('act_depth default config (%.1f M params), depth %dx%d, chunk %d, %d CPU threads: '
          'median %.0f ms, p90 %.0f ms over %d runs'
          % (params / 1e6, args.height, args.width, args.chunk_size, args.threads,
             np.median(times), np.percentile(times, 90), args.runs))
    return 0


if __name__ == '__main__':
    sys.exit(main())
