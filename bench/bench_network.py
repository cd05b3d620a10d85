# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Benchmark of the PromptDA network: per-stage latency, FLOPs of the prompt fusion, parameters.

    python bench/bench_network.py [--checkpoint CKPT] [--encoder vits] [--device cpu]
                                  [--sizes 378x504,756x1008] [--repeat 3] [--threads 2]

Without ``--checkpoint`` the network is built with randomly initialised weights: latency and
FLOPs do not depend on the weight values (the table says which weights were used).
FLOPs are counted with torch.utils.flop_counter with eager attention (the fused CPU attention
kernel is invisible to it); 'no fusion' runs the same network with the prompt branches skipped.
Stages: ``pre`` = prompt validation + KNN fill + image upload / resize / normalisation,
``network`` = forward, ``post`` = resize to the camera resolution + clamp + copy to numpy.
"""

import argparse
import statistics
import sys

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from promptda_ros.model.config import encoder_spec
from promptda_ros.model.processing import parse_input_size
from promptda_ros.model.runtime import DepthEstimator

PAPER_FUSION_OVERHEAD_PCT = 5.7
OFFICIAL_PARAMS = {'vits': 25083073, 'vitl': 340046529}


def count_flops(fn) -> int:
    """Return the FLOPs torch counts for one call of ``fn`` (multiply-add = 2 FLOPs)."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def synthetic_inputs(camera_hw: tuple, prompt_hw: tuple, seed: int = 0) -> tuple:
    """Return an (H, W, 3) uint8 RGB image and an (h, w) float32 metre prompt (dense)."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, camera_hw + (3,), dtype=np.uint8)
    yy, xx = np.mgrid[0:prompt_hw[0], 0:prompt_hw[1]]
    prompt = (1.0 + 3.0 * xx / prompt_hw[1] + 0.2 * np.sin(yy / 7.0)).astype(np.float32)
    return rgb, prompt


def main(argv=None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint', default=None, help='weights (default: random init)')
    parser.add_argument('--encoder', default='vits', choices=('vits', 'vitb', 'vitl'))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--precision', default='fp32', choices=('fp32', 'fp16', 'bf16'))
    parser.add_argument('--sizes', default='378x504,756x1008',
                        help='network input sizes HxW, comma separated')
    parser.add_argument('--camera', default='480x640', help='camera resolution HxW (output)')
    parser.add_argument('--prompt', default='192x256', help='prompt size HxW')
    parser.add_argument('--repeat', type=int, default=5, help='timed runs per size')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = encoder_spec(args.encoder)
    if args.checkpoint:
        from promptda_ros.model.checkpoint import load_network
        network = load_network(args.checkpoint, encoder=args.encoder)
        weights = args.checkpoint
    else:
        from promptda_ros.model.hf_adapter import PromptDANetwork
        torch.manual_seed(0)
        network = PromptDANetwork(spec).eval()
        weights = 'random init (timing / FLOPs only)'
    camera_hw = tuple(int(v) for v in args.camera.split('x'))
    prompt_hw = tuple(int(v) for v in args.prompt.split('x'))
    sizes = [parse_input_size(s) for s in args.sizes.split(',')]
    rgb, prompt = synthetic_inputs(camera_hw, prompt_hw)

    print('PromptDA %s on %s (%s, %d threads), weights: %s'
          % (spec.name, args.device, args.precision, args.threads, weights))
    print('camera %dx%d, prompt %dx%d, %d timed runs after 1 warm-up; median ms'
          % (camera_hw + prompt_hw + (args.repeat,)))
    print()
    print('| input | pre ms | network ms (min) | post ms | total ms | GFLOPs | GFLOPs no fusion '
          '| fusion overhead | paper |')
    print('|---|---|---|---|---|---|---|---|---|')
    for size in sizes:
        est = DepthEstimator(network, device=args.device, precision=args.precision,
                             input_size=size, warmup=1)
        runs = []
        for _ in range(max(1, args.repeat)):
            est.predict(rgb, prompt)
            runs.append(est.last_timings)
        med = {k: statistics.median(r[k] for r in runs) for k in ('pre', 'network', 'post')}
        pixels = torch.zeros((1, 3) + size, device=est.device)
        prompt_t = torch.from_numpy(prompt)[None, None].to(est.device)
        est.network.set_attention('eager')  # so the attention matmuls are counted too
        with_fusion = count_flops(lambda: est.network(pixels, prompt_t))
        without = count_flops(lambda: est.network.forward_without_prompt(pixels))
        est.network.set_attention('sdpa')
        overhead = 100.0 * (with_fusion - without) / without
        best = min(r['network'] for r in runs)
        print('| %dx%d | %.1f | %.1f (%.1f) | %.1f | %.1f | %.1f | %.1f | +%.2f %% | +%.1f %% |'
              % (size[0], size[1], med['pre'], med['network'], best, med['post'],
                 sum(med.values()), with_fusion / 1e9, without / 1e9, overhead,
                 PAPER_FUSION_OVERHEAD_PCT))
    print()
    total = sum(p.numel() for p in network.parameters())
    fusion = sum(p.numel() for b in network.fusion_branches() for p in b.parameters())
    print('| parameters | count | official |')
    print('|---|---|---|')
    print('| %s total | %d | %s |' % (spec.name, total, OFFICIAL_PARAMS.get(spec.name, '-')))
    print('| prompt fusion branches | %d (%.2f %%) | |' % (fusion, 100.0 * fusion / total))
    return 0


if __name__ == '__main__':
    sys.exit(main())
