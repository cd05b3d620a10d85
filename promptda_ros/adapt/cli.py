# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-adapt``: train the StarryGazer refinement network on your own unlabelled frames.

Reads images, their relative depth and their LiDAR (for the metric scale only) from a bag or a
frame folder -- never a reference depth topic or ``gt/`` folder: the bag reader is told not to
read one (``with_gt=False``), so the code path cannot touch it -- synthesizes training pairs
(:mod:`promptda_ros.adapt.synthesis`), trains the refinement network
(:mod:`promptda_ros.backends.starrygazer_net`) with the training package's step loop,
checkpoints and losses, and with ``--eval BAG`` scores the result against lstsq- /
RANSAC-aligned relative depth, the ``default`` backend and bilinear upsampling with
``promptda-eval``'s machinery.

Output folder: ``starrygazer.safetensors`` (the weights, config inside; also
``starrygazer_best.safetensors``, best synthetic-validation L1), ``run.json``, ``state.pt``
(``--resume``), ``metrics.jsonl``, ``curves.png`` and, with ``--eval``, ``eval/report.md`` /
``report.json`` and plots.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Sequence

import numpy as np

from promptda_ros.backends import NETWORK_RELATIVE_SOURCES
from promptda_ros.cli_args import (
    CliParser,
    device_arg,
    fraction,
    hw_arg,
    number,
    positive_int,
    run_cli,
    seed_int,
    STOP_WITHIN_S,
    topics_arg,
    writable_folder,
)
from promptda_ros.core.errors import InputError, PromptError

KIND = 'starrygazer-adapt'
WEIGHTS = 'starrygazer.safetensors'
BEST_WEIGHTS = 'starrygazer_best.safetensors'
VAL_PAIRS = 8
MAX_TRIES = 8

DESCRIPTION = """\
Train the StarryGazer refinement network on unlabelled frames (no ground truth): relative depth
from a monocular model is segmented and rescaled at random into synthetic (dense pseudo-truth,
sparse depth) pairs, the map the network sees corrupted with the failure modes of monocular
models; the network learns a per-pixel gate between the LiDAR-only completion (the 'default'
backend) and the relative map locally aligned to the LiDAR, so an untrained network returns
exactly that completion.

INPUT is a ROS 2 bag (image, camera_info, LiDAR points or low-res LiDAR depth, and for
--relative-source bag a 32FC1 relative-depth topic, default /camera/relative_depth) or a frame
folder (rgb/, prompt/, intrinsics.json; relative maps in --relative-dir). A reference depth
topic or gt/ folder is never read. The LiDAR gives the metric scale only.
"""


def _modes_arg(text: str) -> tuple:
    """Parse ``--modes``: comma-separated failure modes, or 'none'."""
    from promptda_ros.adapt.synthesis import MODES

    if text.strip() == 'none':
        return ()
    modes = tuple(m.strip() for m in text.split(',') if m.strip())
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown failure modes {', '.join(bad)} (known: "
                                         f"{', '.join(MODES)}, or none)")
    return modes


def _sigma_arg(text: str) -> tuple:
    """Parse ``--segment-sigma``: 'LO,HI' or one value (LO = HI), each in (0, 1]."""
    parts = [t.strip() for t in text.split(',')]
    try:
        values = tuple(float(t) for t in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO[,HI], got '{text}'") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(0.0 < v <= 1.0 for v in values) or values[0] > values[1]:
        raise argparse.ArgumentTypeError(f"expected 0 < LO <= HI <= 1, got '{text}'")
    return values


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``promptda-adapt``."""
    from promptda_ros.adapt.synthesis import SynthesisConfig
    from promptda_ros.backends import RELATIVE_SOURCES
    from promptda_ros.backends.starrygazer_net import RefineConfig

    d = RefineConfig()
    d_synth = SynthesisConfig()
    p = CliParser(prog='promptda-adapt', description=DESCRIPTION,
                  formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input', metavar='BAG_OR_DIR', help='ROS 2 bag folder or frame folder')
    p.add_argument('--out', required=True, metavar='DIR',
                   help='run folder (new, or an existing one with --resume)')
    p.add_argument('--resume', action='store_true', help='continue the run in --out')
    p.add_argument('--relative-source', choices=RELATIVE_SOURCES, default='bag',
                   help="relative depth: 'bag' (the bag's relative-depth topic, default), "
                   "'disk' (--relative-dir), 'promptda_noprompt' or 'depth_anything_v2' "
                   '(--relative-checkpoint)')
    p.add_argument('--relative-dir', default=None,
                   help="folder of relative maps for 'disk' (<frame>.npy|png or <index:06d>)")
    p.add_argument('--relative-space', choices=('inverse', 'depth'), default='inverse',
                   help="what 'bag' / 'disk' maps hold: inverse (disparity, default) or depth")
    p.add_argument('--relative-checkpoint', default=None,
                   help='weights of the relative-depth network (promptda_noprompt: a PromptDA '
                   'checkpoint; depth_anything_v2: a -hf folder or the official .pth)')
    p.add_argument('--relative-short-side', type=number(int, 14, 4096), default=518,
                   help='depth_anything_v2: input short side, px (default 518)')
    p.add_argument('--steps', type=positive_int, default=5000,
                   help='optimiser steps (default 5000, ~30 min on a 2-core CPU; the network '
                        'starts from the LiDAR-only completion)')
    p.add_argument('--batch', type=positive_int, default=4, help='pairs per step (default 4)')
    p.add_argument('--lr', type=number(float, 0.0, 1.0, low_open=True), default=2e-3,
                   help='AdamW learning rate, in (0, 1] (default 2e-3)')
    p.add_argument('--width', type=number(int, 1, 512), default=d.base_width,
                   help=f'U-Net base width (default {d.base_width})')
    p.add_argument('--residual', type=number(float, 0.0, 5.0), default=d.max_log_correction,
                   metavar='B', help='bound of a free log-depth residual added to the gated cue '
                   '(default %(default)s: none, the gate alone; e.g. 1 = a factor up to e)')
    p.add_argument('--net-long-side', type=number(int, 16, 4096), default=d.net_long_side,
                   help=f'network input long side, px (default {d.net_long_side})')
    p.add_argument('--pattern', choices=('mix', 'beams', 'random'), default='mix',
                   help='simulated sparse pattern of the pairs (default mix: beams or random)')
    p.add_argument('--degrade', type=fraction, default=d_synth.degrade_probability, metavar='P',
                   help='chance that each failure mode of --modes corrupts the relative map '
                        'the network sees (the pseudo-truth keeps it clean; default '
                        '%(default)s; 0 = off)')
    p.add_argument('--modes', type=_modes_arg, default=d_synth.modes, metavar='M,...',
                   help='failure modes simulated on the relative map: any of '
                        f"{','.join(d_synth.modes)} (default all; 'none' = none)")
    p.add_argument('--factor-smoothing', type=fraction, default=d_synth.factor_smoothing,
                   metavar='S', help='spread the per-segment factors of the pseudo-truth '
                   'edge-aware along the relative map (spatial sigma S x image width, in '
                   '[0, 1]; default 0: a constant factor per segment)')
    p.add_argument('--segment-sigma', type=_sigma_arg, default=d_synth.segment_sigma,
                   metavar='LO[,HI]', help='standard deviation of the log factor each segment '
                   'of the pseudo-truth gets, drawn log-uniform in [LO, HI] per pair (default '
                   f'{d_synth.segment_sigma[0]},{d_synth.segment_sigma[1]}; in (0, 1])')
    p.add_argument('--uninformative', type=fraction,
                   default=d_synth.uninformative_probability, metavar='P',
                   help='share of pairs whose relative map is a random field unrelated to the '
                        'scene (default %(default)s)')
    p.add_argument('--seed', type=seed_int, default=0, help='seed of the pairs and the init')
    p.add_argument('--stride', type=positive_int, default=1, help='use every N-th input frame')
    p.add_argument('--max-frames', type=positive_int, default=None, help='use at most N frames')
    p.add_argument('--prompt-size', type=hw_arg, default=(192, 256), metavar='HxW',
                   help='bags: grid the LiDAR sweep is projected on (default 192x256)')
    p.add_argument('--topics', type=topics_arg, default={}, metavar='KEY=TOPIC,...',
                   help='bags: topic overrides, e.g. image=/cam/image_raw,relative=/cam/rel')
    p.add_argument('--save-every', type=positive_int, default=100, help='checkpoint period, steps')
    p.add_argument('--device', type=device_arg, default='cpu',
                   help='torch device, cpu or cuda (CUDA must be available; default cpu)')
    p.add_argument('--eval', default=None, metavar='BAG',
                   help='after training, evaluate on this bag (with a reference depth topic) '
                   'with promptda-eval: starrygazer vs lstsq / RANSAC-aligned relative depth, '
                   'default and bilinear; report in DIR/eval/')
    p.add_argument('--eval-max-frames', type=positive_int, default=None,
                   help='evaluate at most N frames')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    return p


def _check_args(args) -> None:
    """Check what argparse types cannot: options that need each other."""
    if args.relative_source == 'disk' and not args.relative_dir:
        raise InputError('--relative-source disk needs --relative-dir')
    if args.relative_source in NETWORK_RELATIVE_SOURCES and \
            not args.relative_checkpoint:
        raise InputError(f'--relative-source {args.relative_source} needs '
                         '--relative-checkpoint')
    if args.eval and args.relative_source == 'depth_anything_v2':
        raise InputError('--eval scores the starrygazer method on relative maps of the bag, '
                         'a folder or the PromptDA network; write the Depth Anything V2 maps '
                         'to a folder and use --relative-source disk')


def open_unlabelled(args) -> list:
    """Read the input frames without ground truth; check LiDAR and relative maps.

    Returns:
        list of :class:`promptda_ros.eval.dataset.EvalFrame` with ``gt_m`` None.

    Raises:
        InputError: no LiDAR, or relative maps whose count does not match the frames.
    """
    from promptda_ros import bagio
    from promptda_ros.eval.dataset import open_input, strided

    path = args.input
    if not os.path.exists(path):
        raise InputError(f'input {path} does not exist')
    is_folder = os.path.isdir(os.path.join(path, 'rgb'))
    if not is_folder:
        present = bagio.bag_topics(bagio.check_bag_path(path))
        lidar = args.topics.get('lidar_topic', bagio.LIDAR_TOPIC)
        depth = args.topics.get('prompt_depth_topic', bagio.PROMPT_DEPTH_TOPIC)
        if lidar not in present and depth not in present:
            raise InputError(f'bag {path} has no LiDAR: neither {lidar} (PointCloud2) nor '
                             f'{depth} (low-res depth image); promptda-adapt needs LiDAR for '
                             'the metric scale')
        if args.relative_source == 'bag':
            rel_topic = args.topics.get('relative_topic', bagio.RELATIVE_TOPIC)
            if rel_topic not in present:
                raise InputError(f'bag {path} has no relative-depth topic {rel_topic} '
                                 '(--relative-source bag); set it with --topics '
                                 'relative=TOPIC or choose another --relative-source')
    elif args.relative_source == 'bag':
        raise InputError(f'{path} is a frame folder: --relative-source bag needs a bag '
                         '(use --relative-source disk --relative-dir DIR)')
    skipped: list[str] = []
    frames = list(strided(open_input(path, prompt_hw=args.prompt_size, topics=args.topics,
                                     skipped=skipped, with_gt=False),
                          args.stride, args.max_frames))
    if not frames:
        why = f' ({skipped[0]})' if skipped else ''
        raise InputError(f'{path} yielded no frame with LiDAR{why}')
    if args.relative_source == 'bag':
        missing = [f.name for f in frames if f.relative is None]
        if missing:
            raise InputError(f'the relative-depth topic has {len(frames) - len(missing)} '
                             f'maps for {len(frames)} frames (first frame without one: stamp '
                             f'{missing[0]})')
    if args.relative_source == 'disk':
        from promptda_ros.backends.relative import DiskRelative

        n = len(DiskRelative(args.relative_dir).files())
        total = len(frames) if args.stride == 1 and args.max_frames is None else None
        if total is not None and n != total:
            raise InputError(f'{args.relative_dir} holds {n} relative maps for {total} frames')
    return frames


def _source(args):
    from promptda_ros.backends.relative import make_relative_source

    return make_relative_source(args.relative_source, relative_dir=args.relative_dir,
                                space=args.relative_space, checkpoint=args.relative_checkpoint,
                                device=args.device, short_side=args.relative_short_side)


class PairDataset:
    """Map-style dataset of synthetic pairs: code ``epoch * n + i`` -> pair of frame ``i``."""

    def __init__(self, bases: list, seed: int, config) -> None:
        from promptda_ros.backends.starrygazer_refiner import LidarOnly

        self.bases = bases
        self.seed = int(seed)
        self.config = config
        self.lidar_only = LidarOnly()

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.bases)

    def pair(self, index: int, stream: tuple) -> tuple:
        """Return (x (10, h, w), target / s (h, w), LiDAR-only / s (h, w)) float32 tensors."""
        import torch

        from promptda_ros.adapt.synthesis import synthesize

        for attempt in range(MAX_TRIES):
            rng = np.random.default_rng([self.seed, *stream, attempt])
            try:
                prep, target = synthesize(self.bases[index], rng, self.config,
                                          self.lidar_only)
            except PromptError:
                continue
            return (torch.from_numpy(prep.x), torch.from_numpy(target / prep.s),
                    torch.from_numpy(prep.lidar_m / prep.s))
        raise InputError(f'frame {index}: {MAX_TRIES} synthetic pairs in a row had too few '
                         'sparse samples')

    def __getitem__(self, code: int) -> tuple:
        """Return the pair of a sampler code (see :func:`promptda_ros.train.loop.split_code`)."""
        from promptda_ros.train.loop import split_code

        index, epoch = split_code(code, len(self.bases))
        return self.pair(index, (epoch, index))


def _loss(model, batch) -> tuple:
    from promptda_ros.backends.starrygazer_net import compose
    from promptda_ros.train.losses import l1_gradient_loss, l1_loss

    x, target, lidar = batch
    pred = compose(lidar, model(x))
    loss = l1_gradient_loss(pred, target)
    return loss, {'l1_norm': float(l1_loss(pred.detach(), target))}


def train(args, frames: list) -> dict:
    """Train (or resume) the refinement network; return a summary dict."""
    import torch

    from promptda_ros.adapt.synthesis import frame_base, SynthesisConfig
    from promptda_ros.backends.relative import relative_for
    from promptda_ros.backends.starrygazer_net import (
        compose,
        load_refiner,
        RefineConfig,
        RefineNet,
        save_refiner,
    )
    from promptda_ros.core.errors import CheckpointError
    from promptda_ros.train import loop

    config = RefineConfig(base_width=args.width, net_long_side=args.net_long_side,
                          max_log_correction=args.residual)
    synth = SynthesisConfig(pattern=args.pattern, degrade_probability=args.degrade,
                            modes=tuple(args.modes),
                            uninformative_probability=args.uninformative,
                            factor_smoothing=args.factor_smoothing,
                            segment_sigma=tuple(args.segment_sigma))
    run = loop.RunFolder(args.out, KIND, resume=args.resume)
    run_config = {'refine': config.to_json(), 'pattern': args.pattern,
                  'degrade': args.degrade, 'modes': list(args.modes),
                  'uninformative': args.uninformative,
                  'factor_smoothing': args.factor_smoothing,
                  'segment_sigma': list(args.segment_sigma), 'seed': args.seed,
                  'batch': args.batch, 'lr': args.lr, 'input': os.path.abspath(args.input),
                  'relative_source': args.relative_source,
                  'relative_space': args.relative_space}
    if args.resume:
        stored = run.config()
        if stored.get('refine') != run_config['refine']:
            stored_cfg = RefineConfig.from_json(stored['refine'])
            diff = [f'{k}={v!r} (this run: {getattr(config, k)!r})'
                    for k, v in vars(stored_cfg).items() if getattr(config, k) != v]
            raise CheckpointError(f'--resume: {args.out} holds refinement weights of another '
                                  f'config: {", ".join(diff)}')
    ctx = loop.setup_distributed(args.device)
    torch.manual_seed(args.seed)
    source = _source(args)
    t0 = time.perf_counter()
    bases = []
    from tqdm import tqdm
    for fr in tqdm(frames, desc='frames', unit='frame', disable=args.quiet, file=sys.stderr):
        rel = relative_for(source, fr)
        net_hw = config.net_hw(fr.rgb.shape[:2])
        try:
            bases.append(frame_base(fr.rgb, rel, source.space, fr.prompt_m, fr.camera, net_hw,
                                    synth))
        except PromptError as exc:
            print(f'warning: frame {fr.name} skipped: {exc}', file=sys.stderr)
    if not bases:
        raise InputError('no frame has enough LiDAR samples to fix the metric scale')
    prep_s = time.perf_counter() - t0
    model = RefineNet(config).to(ctx.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = loop.warmup_schedule(optimizer, max(1, args.steps // 20), args.steps)
    start, best = 0, math.inf
    if args.resume:
        state = run.load_state()
        weights, _ = load_refiner(run.file(WEIGHTS), expected=config)
        model.load_state_dict(weights.state_dict())
        optimizer.load_state_dict(state['optimizer'])
        if state.get('scheduler') is not None:
            scheduler.load_state_dict(state['scheduler'])
        start = int(state['step'])
        best = float(state.get('extra', {}).get('best', math.inf))
        run.truncate_log(start)
        if start >= args.steps:
            raise InputError(f'--resume: the run already did {start} steps; pass --steps > '
                             f'{start} to continue')
    else:
        run.create(run_config)
    data = PairDataset(bases, args.seed, synth)
    val = [data.pair(i % len(bases), (1_000_000, i)) for i in range(VAL_PAIRS)]
    meta = {'relative_source': args.relative_source, 'relative_space': source.space,
            'frames': str(len(bases))}

    def validate(step: int) -> dict:
        """Return the mean L1 on fixed synthetic pairs, in units of the sparse scale."""
        model.eval()
        with torch.inference_mode():
            errs = [float((compose(lidar[None], model(x[None])) - target[None])
                          .abs().mean()) for x, target, lidar in val]
        return {'l1': float(np.mean(errs))}

    def save(tag: str) -> None:
        save_refiner(model, run.file(WEIGHTS if tag == 'last' else BEST_WEIGHTS), meta)

    batches = loop.step_batches(data, args.batch, ctx, seed=args.seed, start_step=start)
    lcfg = loop.LoopConfig(steps=args.steps, log_every=10, val_every=max(1, args.steps // 10),
                           save_every=args.save_every, progress=not args.quiet)
    t1 = time.perf_counter()
    last = loop.run_loop(model, optimizer, scheduler, batches, _loss, run, ctx, lcfg,
                         start_step=start, validate=validate, save=save, best=best)
    train_s = time.perf_counter() - t1
    loop.plot_curves(run.records(), run.file(loop.CURVES_FILE), train_key='loss',
                     val_keys=('l1',))
    loop.teardown_distributed()
    return {'frames': len(bases), 'steps': args.steps, 'start_step': start,
            'prepare_s': prep_s, 'train_s': train_s, 'val_l1_norm': last.get('l1'),
            'weights': run.file(WEIGHTS)}


def evaluate_adapted(args, weights: str) -> dict:
    """Score the adapted network on ``args.eval`` with promptda-eval's machinery."""
    from promptda_ros.eval.cli import build_parser as eval_parser
    from promptda_ros.eval.cli import evaluate

    src = args.relative_source
    methods = ['starrygazer', f'lstsq_{src}', f'ransac_{src}', 'default', 'bilinear']
    argv = [args.eval, '--out', os.path.join(args.out, 'eval'), '--methods', ','.join(methods),
            '--starrygazer', weights, '--starrygazer-relative', src, '--no-recon',
            '--relative-space', args.relative_space,
            '--prompt-size', f'{args.prompt_size[0]}x{args.prompt_size[1]}']
    if src == 'disk':
        argv += ['--relative-dir', args.relative_dir]
    if src == 'promptda_noprompt':
        argv += ['--checkpoint', args.relative_checkpoint]
    if args.eval_max_frames:
        argv += ['--max-frames', str(args.eval_max_frames)]
    if args.topics:
        argv += ['--topics', ','.join(f'{k[:-len("_topic")]}={v}'
                                      for k, v in args.topics.items())]
    return evaluate(eval_parser().parse_args(argv), progress=not args.quiet)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``promptda-adapt``; returns the exit status."""
    args = build_parser().parse_args(argv)

    def work():
        from promptda_ros.train.loop import RunFolder
        _check_args(args)
        RunFolder(args.out, KIND, resume=args.resume)  # a new or resumable run folder ...
        writable_folder(args.out, '--out')              # ... that takes files, before any work
        frames = open_unlabelled(args)
        t0 = time.perf_counter()
        summary = train(args, frames)
        print(f"trained {summary['steps'] - summary['start_step']} steps on "
              f"{summary['frames']} frames in {summary['train_s']:.0f} s (+ "
              f"{summary['prepare_s']:.0f} s preparing pairs); weights: {summary['weights']}")
        if args.eval:
            report = evaluate_adapted(args, summary['weights'])
            print('| method | L1 (m) | RMSE (m) | AbsRel | δ0.5 |')
            print('|---|---|---|---|---|')
            for name, m in report['methods'].items():
                a = m['aggregate']
                print(f"| {name} | {a['l1']:.4f} | {a['rmse']:.4f} | {a['absrel']:.4f} | "
                      f"{a['delta_0.5']:.3f} |")
            print(f"report: {os.path.join(args.out, 'eval', 'report.md')}")
        print(f'total {time.perf_counter() - t0:.0f} s')
    return run_cli(work, f'continue the run in {args.out} with --resume (from its last '
                   'checkpoint)', stop_within_s=STOP_WITHIN_S)


if __name__ == '__main__':
    sys.exit(main())
