# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Evidence run of ``promptda-train`` on the procedural sample, on a CPU, in minutes.

What it does (all seeded):

1. writes two sample bags with ``promptda-make-sample``: seed 11 for training, seed 12 (another
   room layout and trajectory) for validation, at a small resolution;
2. builds a *tiny* PromptDA (:data:`promptda_ros.model.config.TINY`, 0.2 M parameters) with random
   weights - no pretrained weights can be downloaded here, so this is a from-scratch toy, not a
   fine-tune of the published network;
3. trains two copies with ``promptda-train`` for the same steps: one on *naive* prompts (the
   ground truth averaged down to the prompt grid), one on simulated *beam* prompts (a 32-beam
   LiDAR 8 cm above the camera, noise, dropouts, outliers); both validate on beam prompts;
4. scores the start and both results on the validation bag with naive and beam prompts (the
   evaluation's metrics) and with the bag's own LiDAR sweep through ``promptda-eval``.

Usage::

    python bench/train_evidence.py --out evidence --steps 120 [--frames 40]

It prints the validation L1 after each validation of both runs and a table (paste it into the
README's "Training" section).
"""

import argparse
import json
import os
import sys
import time

import torch

from promptda_ros.backends import make_backend
from promptda_ros.eval.cli import main as eval_main
from promptda_ros.eval.metrics import aggregate_frames, depth_metrics
from promptda_ros.model.checkpoint import load_network, save_checkpoint
from promptda_ros.model.config import TINY
from promptda_ros.model.hf_adapter import PromptDANetwork
from promptda_ros.sample.cli import main as make_sample
from promptda_ros.train.cli import train_main, Validator
from promptda_ros.train.data import cache_dir
from promptda_ros.train.lidar_sim import LidarSimConfig

WIDTH, HEIGHT = 160, 120
INPUT = '84x112'
PROMPT = '24x32'


def _records(run: str, split: str) -> list:
    with open(os.path.join(run, 'metrics.jsonl'), encoding='utf-8') as f:
        return [r for r in map(json.loads, f) if r['split'] == split]


def _prompt_only_l1(validator: Validator, backend) -> float:
    """Mean L1 (m) of the validator's filled prompts upsampled by the bilinear backend."""
    per_frame = [depth_metrics(backend.predict(frame.rgb, prompt, frame.camera), frame.gt,
                               max_depth=validator.max_depth)
                 for frame, prompt in validator.frames]
    return aggregate_frames(per_frame)['l1']


def main(argv=None) -> int:
    """Run the evidence; return the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='work folder (created)')
    p.add_argument('--steps', type=int, default=120, help='steps per run (%(default)s)')
    p.add_argument('--frames', type=int, default=40, help='training frames (%(default)s)')
    p.add_argument('--val-frames', type=int, default=10, help='validation frames')
    p.add_argument('--batch-size', type=int, default=4)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    train_bag = os.path.join(args.out, 'train_seed11')
    val_bag = os.path.join(args.out, 'val_seed12')
    for bag, seed, frames in ((train_bag, 11, args.frames), (val_bag, 12, args.val_frames)):
        if not os.path.exists(bag):
            make_sample(['--out', bag, '--seed', str(seed), '--frames', str(frames),
                         '--width', str(WIDTH), '--height', str(HEIGHT), '--quiet'])
    torch.manual_seed(0)
    init = os.path.join(args.out, 'tiny_random_init.safetensors')
    save_checkpoint(TINY, PromptDANetwork(TINY).hf_state_dict(), init, 'safetensors')
    runs = {}
    for pattern in ('naive', 'beams'):
        run = os.path.join(args.out, 'run_' + pattern)
        runs[pattern] = run
        if os.path.exists(os.path.join(run, 'last.safetensors')):
            continue
        # Random weights need far larger steps than the paper's fine-tuning rates (5e-6 / 5e-5).
        rc = train_main(['--data', train_bag, '--val', val_bag, '--init', init, '--out', run,
                         '--pattern', pattern, '--val-pattern', 'beams', '--steps',
                         str(args.steps), '--val-every', str(max(1, args.steps // 6)),
                         '--save-every', str(args.steps), '--batch-size', str(args.batch_size),
                         '--input-size', INPUT, '--prompt-hw', PROMPT, '--lr-vit', '1e-4',
                         '--lr-decoder', '1e-3', '--warmup', '20', '--quiet', '--seed', '0'])
        if rc:
            return rc
    print(f'\ntraining done in {time.perf_counter() - t0:.0f} s\n')
    print('validation L1 (m) on beam prompts after each validation:')
    for pattern, run in runs.items():
        vals = _records(run, 'val')
        print(f'  trained on {pattern:5s}: ' + ', '.join(
            f'{r["step"]}: {r["l1"]:.3f}' for r in vals))
    val_cache = cache_dir(runs['beams'], 'val')
    h, w = (int(v) for v in INPUT.split('x'))
    ph, pw = (int(v) for v in PROMPT.split('x'))
    validators = {pattern: Validator(val_cache, pattern, (ph, pw), 'morph', LidarSimConfig(), 7,
                                     (h, w)) for pattern in ('naive', 'beams')}
    # The weights after the last step (no selection on the validation frames).
    models = {'random init (start)': init,
              'trained on naive': os.path.join(runs['naive'], 'last.safetensors'),
              'trained on beams': os.path.join(runs['beams'], 'last.safetensors')}
    bilinear = make_backend('bilinear')
    row = {k: _prompt_only_l1(v, bilinear) for k, v in validators.items()}
    rows = [('the filled prompt alone (bilinear)', row)]
    for name, path in models.items():
        net = load_network(path)
        row = {k: v(net)['l1'] for k, v in validators.items()}
        out = os.path.join(args.out, 'eval_' + name.split()[-1].strip('()'))
        rc = eval_main([val_bag, '--out', out, '--methods', 'promptda,bilinear', '--checkpoint',
                        path, '--input-size', INPUT, '--prompt-size', PROMPT, '--no-recon',
                        '--no-plots'])
        if rc:
            return rc
        with open(os.path.join(out, 'report.json'), encoding='utf-8') as f:
            report = json.load(f)['methods']
        row['lidar'] = report['promptda']['aggregate']['l1']
        rows[0][1]['lidar'] = report['bilinear']['aggregate']['l1']
        rows.append((name, row))
    print('\n| model (tiny, random init; validation bag, seed 12) | L1 naive prompts | '
          'L1 beam prompts | L1 bag LiDAR (promptda-eval) |')
    print('|---|---|---|---|')
    for name, row in rows:
        print(f'| {name} | {row["naive"]:.3f} m | {row["beams"]:.3f} m | {row["lidar"]:.3f} m |')
    print(f'\ntotal {time.perf_counter() - t0:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
