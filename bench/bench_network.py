# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Benchmark of the PromptDA network: per-stage latency, FLOPs of the prompt fusion, parameters.

    python bench/bench_network.py [--checkpoint CKPT] [--encoder vits] [--device cpu]
                                  [--sizes 378x504,756x1008] [--repeat 3] [--threads 2]
                                  [--official-code DIR [--precisions fp32,bf16]]

Without ``--checkpoint`` the network is built with randomly initialised weights: latency and
FLOPs do not depend on the weight values (the table says which weights were used).
FLOPs are counted with torch.utils.flop_counter with eager attention (the fused CPU attention
kernel is invisible to it); 'no fusion' runs the same network with the prompt branches skipped.
Stages: ``pre`` = prompt validation + KNN fill + image upload / resize / normalisation,
``network`` = forward, ``post`` = resize to the camera resolution + clamp + copy to numpy.

With ``--official-code DIR`` (a checkout of github.com/DepthAnything/PromptDA; nothing is
downloaded) the official network is built with the same weights and its fp32 forward is timed
in the same run, interleaved round by round with this package's forward in each of
``--precisions``; the table gives each time as a multiple of the official fp32 time and the max
|delta| of each output against the official one.
"""

import argparse
import contextlib
import io
import os
import statistics
import sys
import time

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


def load_official(directory: str, network):
    """Build the official PromptDA model of ``network``'s encoder holding ``network``'s weights.

    Args:
        directory: root of a checkout of the official code (has ``promptda/promptda.py``).
        network: the :class:`~promptda_ros.model.hf_adapter.PromptDANetwork` to copy.
    """
    from promptda_ros.model.checkpoint import hf_to_official
    root = os.path.abspath(directory)
    if not os.path.isfile(os.path.join(root, 'promptda', 'promptda.py')):
        raise SystemExit('error: %s is not a checkout of the official PromptDA code '
                         '(no promptda/promptda.py)' % directory)
    sys.path.insert(0, root)
    from promptda.promptda import PromptDA
    with contextlib.redirect_stdout(io.StringIO()):  # its 'checkpoint not found' warning
        model = PromptDA(encoder=network.spec.name,
                         ckpt_path=os.path.join(root, 'no-checkpoint-here'))
    model.load_state_dict(hf_to_official(network.hf_state_dict()), strict=True)
    return model.eval().to(next(network.parameters()).device)


def compare_official(network, official, device: str, sizes: list, precisions: list,
                     prompt_np: np.ndarray, repeat: int) -> None:
    """Print official fp32 vs this package's forward per precision, interleaved, same inputs.

    ``official`` takes RGB in [0, 1] and normalises it itself; this package's network takes the
    normalised image, as the estimator gives it (the normalisation is in neither time).
    """
    from promptda_ros.model.config import IMAGENET_MEAN, IMAGENET_STD
    estimators = {p: DepthEstimator(network, device=device, precision=p, warmup=0)
                  for p in precisions}
    print('| input | code | precision | median ms | min ms | x official fp32 (median) '
          '| x official fp32 (min) | max abs diff vs official, m |')
    print('|---|---|---|---|---|---|---|---|')
    for size in sizes:
        gen = torch.Generator().manual_seed(0)
        rgb01 = torch.rand((1, 3) + tuple(size), generator=gen).to(device)
        mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        pixels = (rgb01 - mean) / std
        prompt = torch.from_numpy(prompt_np)[None, None].to(device)
        runs = {('official', 'fp32'): lambda: official(rgb01, prompt)[:, 0]}
        for p, est in estimators.items():
            runs[('promptda_ros', p)] = lambda est=est: est.infer(pixels, prompt)
        outputs, times = {}, {k: [] for k in runs}
        with torch.inference_mode():
            for key, fn in runs.items():  # warm-up, and the outputs compared
                outputs[key] = fn().float()
            for _ in range(max(1, repeat)):
                for key, fn in runs.items():
                    t0 = time.perf_counter()
                    fn()
                    if device.startswith('cuda'):
                        torch.cuda.synchronize()
                    times[key].append(1e3 * (time.perf_counter() - t0))
        ref = outputs[('official', 'fp32')]
        base_med = statistics.median(times[('official', 'fp32')])
        base_min = min(times[('official', 'fp32')])
        for (code, p), ms in times.items():
            print('| %dx%d | %s | %s | %.1f | %.1f | %.2f | %.2f | %.2g |'
                  % (size[0], size[1], code, p, statistics.median(ms), min(ms),
                     statistics.median(ms) / base_med, min(ms) / base_min,
                     float((outputs[(code, p)] - ref).abs().max())))


def main(argv=None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint', default=None, help='weights (default: random init)')
    parser.add_argument('--conformance-weights', action='store_true',
                        help='use the conformance-vector weights (generated, see '
                             'promptda_ros.model.conformance) instead of a random init')
    parser.add_argument('--encoder', default='vits', choices=('vits', 'vitb', 'vitl'))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--precision', default='fp32', choices=('fp32', 'fp16', 'bf16'))
    parser.add_argument('--sizes', default='378x504,756x1008',
                        help='network input sizes HxW, comma separated')
    parser.add_argument('--camera', default='480x640', help='camera resolution HxW (output)')
    parser.add_argument('--prompt', default='192x256', help='prompt size HxW')
    parser.add_argument('--repeat', type=int, default=5, help='timed runs per size')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    parser.add_argument('--official-code', default=None, metavar='DIR',
                        help='checkout of the official PromptDA code: also compare with its '
                             'fp32 forward (same weights, same run)')
    parser.add_argument('--precisions', default=None,
                        help='with --official-code: precisions of this package to time, comma '
                             'separated (default fp32,bf16 on cpu, fp32,fp16,bf16 on cuda)')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = encoder_spec(args.encoder)
    if args.conformance_weights:
        from promptda_ros.model.conformance import conformance_network
        network = conformance_network(args.encoder)
        weights = 'conformance vectors'
    elif args.checkpoint:
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
    if args.official_code:
        network = network.to(args.device)
        precisions = (args.precisions.split(',') if args.precisions else
                      ['fp32', 'bf16'] if args.device == 'cpu' else ['fp32', 'fp16', 'bf16'])
        print('official PromptDA code (%s) against this package, %d interleaved rounds after '
              'one warm-up, network forward only, prompt %dx%d'
              % (args.official_code, args.repeat, prompt_hw[0], prompt_hw[1]))
        print()
        compare_official(network, load_official(args.official_code, network), args.device,
                         sizes, precisions, prompt, args.repeat)
        return 0
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
