# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-train`` (fine-tune PromptDA on your own frames) and ``promptda-simulate-lidar``.

``promptda-train`` follows the PromptDA paper's recipe: start from PromptDA or Depth Anything V2
weights (prompt-fusion convolutions zero-initialised), prompts from real LiDAR or simulated
patterns, AdamW with 5e-6 for the ViT and 5e-5 for the decoder and fusion branches, warm-up,
gradient clipping, the network's own prompt min / max normalisation, bf16 autocast on CUDA.
``--init random --encoder NAME`` starts from random weights instead (no download; e.g. the tiny
network trained on ``promptda-sim-frames`` folders, whose reference is the simulator's exact
depth).
One process on a CPU or GPU, or one process per GPU under ``torchrun`` (DistributedDataParallel,
DistributedSampler; NCCL on GPUs, Gloo on CPUs)::

    torchrun --nproc_per_node 4 -m promptda_ros.train.cli --data BAG --init model.ckpt --out RUN

Outputs in ``--out``: ``last.safetensors`` / ``best.safetensors`` (the project's format, with
the network spec inside: they load in the node's ``promptda`` backend and in ``promptda-eval
--methods promptda --checkpoint``), ``state.pt`` (for ``--resume``), ``metrics.jsonl``,
``curves.png``, ``run.json`` and the frame cache ``frames/``.
"""

import argparse
import math
import os
import sys
import time
from typing import List, Optional
import warnings

import numpy as np

from promptda_ros.cli_args import (
    CliParser,
    fraction,
    hw_arg,
    nonnegative_float,
    nonnegative_int,
    number,
    positive_float,
    positive_int,
    run_cli,
    seed_int,
    STOP_WITHIN_S,
    topics_arg,
    writable_file,
    writable_folder,
)
from promptda_ros.core.errors import PromptDAError
from promptda_ros.train.lidar_sim import (
    LidarSimConfig,
    MAX_AZIMUTH_STEP_DEG,
    MAX_RANGE_NOISE_M,
    MIN_AZIMUTH_STEP_DEG,
    PATTERNS,
)

KIND = 'promptda-train'
# argparse types of the bounded options (the one validation layer, promptda_ros.cli_args)
BEAMS = number(int, 1, 1024)
AZIMUTH_STEP = number(float, MIN_AZIMUTH_STEP_DEG, MAX_AZIMUTH_STEP_DEG)
RANGE_NOISE = number(float, 0.0, MAX_RANGE_NOISE_M)
SHARE = number(float, 0.0, 1.0, high_open=True)
ANCHOR_STRIDE = number(int, 1, 256)
RANDOM_POINTS = number(int, 1, 10 ** 7)
SCALE_JITTER = number(float, 1.0, 4.0)
LR_VIT = 5e-6
LR_DECODER = 5e-5
RANDOM_INIT = 'random'


def _xyz(text: str) -> tuple:
    try:
        values = tuple(float(v) for v in text.split(','))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected X,Y,Z metres, got '{text}'")
    return values


def _pair(text: str) -> tuple:
    try:
        values = tuple(float(v) for v in text.split(','))
    except ValueError:
        values = ()
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got '{text}'")
    return values


def add_sim_arguments(p: argparse.ArgumentParser) -> None:
    """Add the LiDAR-simulation options (shared by both commands)."""
    d = LidarSimConfig()
    g = p.add_argument_group('simulated prompts')
    g.add_argument('--prompt-hw', type=hw_arg, default=(192, 256), metavar='HxW',
                   help="prompt grid (default: 192x256, the paper's)")
    g.add_argument('--beams', type=BEAMS, default=d.n_beams, help='LiDAR beams (%(default)s)')
    g.add_argument('--vfov', type=_pair, default=d.vfov_deg, metavar='LOW,HIGH',
                   help='beam elevations, degrees (default: -15,15)')
    g.add_argument('--azimuth-step', type=AZIMUTH_STEP, default=d.azimuth_step_deg,
                   help=f'degrees between firings, in [{MIN_AZIMUTH_STEP_DEG}, '
                        f'{MAX_AZIMUTH_STEP_DEG:g}] (%(default)s)')
    g.add_argument('--lidar-offset', type=_xyz, default=d.offset_m, metavar='X,Y,Z',
                   help='LiDAR origin in the camera optical frame, m (default: 0,-0.08,-0.03)')
    g.add_argument('--range-noise', type=RANGE_NOISE, default=d.range_noise_m,
                   help='range noise sigma, m (%(default)s)')
    g.add_argument('--dropout', type=SHARE, default=d.dropout,
                   help='fraction of returns lost (%(default)s)')
    g.add_argument('--outliers', type=SHARE, default=d.outlier_frac,
                   help='fraction of returns with a random range (%(default)s)')
    g.add_argument('--anchor-stride', type=ANCHOR_STRIDE, default=d.stride,
                   help='sparse anchor interpolation stride, cells (%(default)s)')
    g.add_argument('--random-points', type=RANDOM_POINTS, default=d.n_random,
                   help="points of the 'random' pattern (%(default)s)")


def sim_config(args) -> LidarSimConfig:
    """Build the :class:`LidarSimConfig` of the parsed options."""
    return LidarSimConfig(n_beams=args.beams, offset_m=tuple(args.lidar_offset),
                          vfov_deg=tuple(args.vfov), azimuth_step_deg=args.azimuth_step,
                          range_noise_m=args.range_noise, dropout=args.dropout,
                          outlier_frac=args.outliers, stride=args.anchor_stride,
                          n_random=args.random_points)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``promptda-train``."""
    p = CliParser(
        prog='promptda-train',
        description='Fine-tune PromptDA on your own frames (bags or frame folders with reference '
                    'depth). Under torchrun, each process trains on its share of every batch.')
    p.add_argument('--data', nargs='+', metavar='BAG_OR_DIR',
                   help='training inputs (ROS 2 bags or frame folders with reference depth)')
    p.add_argument('--val', nargs='+', default=None, metavar='BAG_OR_DIR',
                   help='held-out validation inputs (default: the last --val-fraction of each '
                        'training input)')
    p.add_argument('--val-fraction', type=SHARE, default=0.2,
                   help='share of frames held out when --val is not given (%(default)s)')
    p.add_argument('--init', metavar='CKPT',
                   help='starting weights: official PromptDA model.ckpt, promptda_ros '
                        '.safetensors, PromptDA -hf folder, or Depth Anything V2 (official '
                        ".pth or -hf folder; prompt fusion zero-initialised); '%s' with "
                        '--encoder starts from random weights (seeded by --seed; e.g. the '
                        'tiny network on simulator frames)' % RANDOM_INIT)
    p.add_argument('--encoder', default=None,
                   help='insist on this architecture (vits / vitb / vitl / tiny)')
    p.add_argument('--out', required=True, metavar='DIR', help='run folder (new, or --resume)')
    p.add_argument('--resume', action='store_true',
                   help='continue the run in --out (its run.json gives the settings; --steps '
                        'may extend it)')
    p.add_argument('--pattern', choices=PATTERNS, default='beams',
                   help='training prompts: real LiDAR, a simulated pattern, or a seeded mix '
                        '(default: %(default)s)')
    p.add_argument('--val-pattern', choices=PATTERNS, default=None,
                   help='validation prompts (default: --pattern; mix draws per frame)')
    p.add_argument('--fill', choices=('pyramid', 'morph', 'knn'), default='pyramid',
                   help='prompt hole filling, as the frame pipeline (%(default)s)')
    p.add_argument('--loss', choices=('l1', 'l1_grad', 'edge'), default='l1_grad',
                   help='l1; l1_grad = L1 + 0.5 gradient (dense / synthetic reference); edge = '
                        "L1 + 0.5 gradient to the starting network's prediction (sparse or "
                        'noisy reference) (default: %(default)s)')
    p.add_argument('--input-size', type=hw_arg, default=(378, 504), metavar='HxW',
                   help='network input, multiples of 14 (default: 378x504)')
    p.add_argument('--scale-jitter', type=SCALE_JITTER, default=1.25,
                   help='random zoom before cropping, 1 = none (%(default)s)')
    p.add_argument('--colour-jitter', type=fraction, default=0.2,
                   help='brightness / contrast / saturation amplitude (%(default)s)')
    p.add_argument('--no-flip', action='store_true', help='no horizontal flips')
    p.add_argument('--steps', type=positive_int, default=1000,
                   help='optimiser steps (%(default)s)')
    p.add_argument('--batch-size', type=positive_int, default=2,
                   help='samples per process and step (%(default)s)')
    p.add_argument('--lr-vit', type=fraction, default=LR_VIT, help='ViT learning rate (5e-6)')
    p.add_argument('--lr-decoder', type=fraction, default=LR_DECODER,
                   help='decoder and fusion learning rate (5e-5)')
    p.add_argument('--weight-decay', type=fraction, default=0.01, help='AdamW (%(default)s)')
    p.add_argument('--warmup', type=nonnegative_int, default=None,
                   help='warm-up steps (default: 5 %% of --steps)')
    p.add_argument('--schedule', choices=('cosine', 'constant'), default='cosine',
                   help='after warm-up (%(default)s, cosine ends at 0.1x)')
    p.add_argument('--clip-norm', type=nonnegative_float, default=1.0,
                   help='gradient clipping, global L2 norm; 0 = off (%(default)s)')
    p.add_argument('--val-every', type=nonnegative_int, default=100,
                   help='steps between validations, 0 = at the end only (%(default)s)')
    p.add_argument('--save-every', type=positive_int, default=100,
                   help='steps between checkpoints (%(default)s)')
    p.add_argument('--log-every', type=positive_int, default=10, help='steps between log lines')
    p.add_argument('--max-depth', type=positive_float, default=10.0,
                   help='validation depth range upper bound, m (%(default)s)')
    p.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto')
    p.add_argument('--precision', choices=('auto', 'fp32', 'bf16'), default='auto',
                   help='bf16 autocast (CUDA only); auto = bf16 on CUDA, fp32 on CPU')
    p.add_argument('--workers', type=nonnegative_int, default=0,
                   help='DataLoader workers (%(default)s)')
    p.add_argument('--seed', type=seed_int, default=0, help='seed of everything random')
    p.add_argument('--stride', type=positive_int, default=1, help='keep every N-th input frame')
    p.add_argument('--max-frames', type=positive_int, default=None,
                   help='frames per input at most')
    p.add_argument('--topics', type=topics_arg, default={}, metavar='KEY=TOPIC,...',
                   help='bag topic overrides, e.g. gt=/depth/gt,image=/cam/image')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    add_sim_arguments(p)
    return p


# Settings that define a run; on --resume they come from run.json.
_RUN_KEYS = ('data', 'val', 'val_fraction', 'init', 'encoder', 'pattern', 'val_pattern', 'fill',
             'loss', 'input_size', 'scale_jitter', 'colour_jitter', 'no_flip', 'batch_size',
             'lr_vit', 'lr_decoder', 'weight_decay', 'warmup', 'schedule', 'clip_norm',
             'val_every', 'save_every', 'log_every', 'max_depth', 'seed', 'stride',
             'max_frames', 'topics', 'prompt_hw', 'beams', 'vfov', 'azimuth_step',
             'lidar_offset', 'range_noise', 'dropout', 'outliers', 'anchor_stride',
             'random_points', 'steps')


def _check_args(args) -> None:
    from promptda_ros.core.errors import InputError
    from promptda_ros.model.processing import check_input_size
    if not args.resume:
        if not args.data:
            raise InputError('--data is required (training bags or frame folders)')
        if not args.init:
            raise InputError('--init is required (starting weights)')
    check_input_size(args.input_size)
    for name in ('steps', 'batch_size'):
        if getattr(args, name) < 1:
            raise InputError(f'--{name.replace("_", "-")} must be >= 1')
    if not 0.0 <= args.val_fraction < 1.0:
        raise InputError('--val-fraction must be in [0, 1)')
    if args.scale_jitter < 1.0:
        raise InputError('--scale-jitter must be >= 1')
    if min(args.lr_vit, args.lr_decoder) < 0 or args.clip_norm < 0:
        raise InputError('learning rates and --clip-norm must be >= 0')
    if min(args.prompt_hw) < 2:
        raise InputError('--prompt-hw must be at least 2x2')
    sim_config(args)


def _apply_run_config(args, stored: dict) -> None:
    """Take a resumed run's settings from run.json (``--steps`` given here may extend it)."""
    steps = args.steps if getattr(args, 'steps_given', False) else None
    for key in _RUN_KEYS:
        if key in stored:
            value = stored[key]
            if key in ('input_size', 'prompt_hw', 'vfov', 'lidar_offset') and value is not None:
                value = tuple(value)
            setattr(args, key, value)
    if steps is not None:
        args.steps = steps


def start_checkpoint(args):
    """Return the starting weights of a run (:class:`~promptda_ros.model.checkpoint.Checkpoint`).

    ``--init random`` builds the ``--encoder`` network from random weights seeded by ``--seed``
    (the same weights on every rank and on ``--resume``); anything else is read from disk.

    Raises:
        InputError: ``--init random`` without ``--encoder``, or with ``--loss edge`` (its
            gradient term follows the starting network's prediction: noise from random weights).
        CheckpointError: unreadable or wrong-architecture weights.
    """
    import torch

    from promptda_ros.core.errors import InputError
    from promptda_ros.model.checkpoint import Checkpoint, read_start_checkpoint
    if args.init != RANDOM_INIT:
        return read_start_checkpoint(args.init, args.encoder, seed=args.seed)
    if not args.encoder:
        raise InputError('--init random needs --encoder (vits / vitb / vitl / tiny)')
    if args.loss == 'edge':
        raise InputError("--loss edge takes its edges from the starting network's prediction, "
                         'which from random weights is noise; with a dense reference (e.g. '
                         'simulator depth) use --loss l1_grad, the same loss with the '
                         "reference's own edges")
    from promptda_ros.model.config import encoder_spec
    from promptda_ros.model.hf_adapter import PromptDANetwork
    spec = encoder_spec(args.encoder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        weights = PromptDANetwork(spec).hf_state_dict()
    return Checkpoint(spec, weights, RANDOM_INIT, '')


def param_groups(network, lr_vit: float, lr_decoder: float, weight_decay: float) -> list:
    """Return the AdamW parameter groups: the ViT (``hf.backbone``) and the rest.

    The rest is the decoder, the prompt-fusion branches and the head.
    """
    vit: list = []
    rest: list = []
    for name, param in network.named_parameters():
        if param.requires_grad:
            (vit if name.startswith('hf.backbone.') else rest).append(param)
    return [{'params': vit, 'lr': lr_vit, 'weight_decay': weight_decay, 'name': 'vit'},
            {'params': rest, 'lr': lr_decoder, 'weight_decay': weight_decay, 'name': 'decoder'}]


class Validator:
    """Scores a network on held-out frames with the evaluation's metrics."""

    def __init__(self, folder: str, pattern: str, prompt_hw: tuple, fill: str,
                 sim: LidarSimConfig, seed: int, input_size: tuple, max_depth: float = 10.0,
                 device='cpu'):
        """Prepare the frames of a cache folder and their prompts once (seeded per frame).

        Args:
            folder: frame cache (``OUT/frames/val``).
            pattern: prompt pattern of the validation prompts.
            prompt_hw: prompt grid (h, w).
            fill: prompt hole filling.
            sim: simulation parameters.
            seed: prompt seed (frame ``i`` uses ``(seed, 1000003, i)``).
            input_size: network input (h, w), multiples of 14.
            max_depth: depth range of the metrics, metres.
            device: torch device of the network.
        """
        from promptda_ros.train.data import cached_paths, frame_prompt, read_frame
        self.frames = []
        for i, path in enumerate(cached_paths(folder)):
            frame = read_frame(path)
            rng = np.random.default_rng([int(seed), 1_000_003, i])
            prompt, _ = frame_prompt(pattern, frame, rng, tuple(prompt_hw), fill, sim)
            self.frames.append((frame, prompt))
        self.input_size = tuple(input_size)
        self.max_depth = float(max_depth)
        self.device = device

    @classmethod
    def from_args(cls, folder: str, args, device) -> 'Validator':
        """Build the validator a ``promptda-train`` run describes."""
        return cls(folder, args.val_pattern or args.pattern, tuple(args.prompt_hw), args.fill,
                   sim_config(args), args.seed, tuple(args.input_size), args.max_depth, device)

    def __call__(self, network) -> dict:
        """Return the mean per-frame metrics (``promptda_ros.eval.metrics``) of ``network``."""
        import torch

        from promptda_ros.eval.metrics import aggregate_frames, depth_metrics
        from promptda_ros.model.runtime import DepthEstimator
        if not self.frames:
            return {}
        est = DepthEstimator(network, device=str(self.device), input_size=self.input_size,
                             warmup=0)
        per_frame = []
        with torch.inference_mode():
            for frame, prompt in self.frames:
                depth = est.predict(frame.rgb, prompt)
                per_frame.append(depth_metrics(depth, frame.gt, max_depth=self.max_depth))
        out = aggregate_frames(per_frame)
        return {k: float(v) for k, v in out.items()}


def _save_weights(network, spec, path: str) -> None:
    from promptda_ros.model.checkpoint import save_checkpoint
    tmp = path + '.tmp.safetensors'
    save_checkpoint(spec, network.hf_state_dict(), tmp, 'safetensors')
    os.replace(tmp, path)


def _open_run(args, ctx):
    """Open the run folder (checked writable on rank 0), take a resumed run's settings, check.

    Returns:
        the :class:`promptda_ros.train.loop.RunFolder` of ``args.out``.

    Raises:
        InputError: inconsistent arguments; RunError: bf16 asked for without CUDA.
    """
    from promptda_ros.train import loop

    run = loop.RunFolder(args.out, KIND, resume=args.resume)
    if ctx.is_main:
        writable_folder(args.out, '--out')  # before reading or caching anything
    if args.resume:
        _apply_run_config(args, run.config())
    _check_args(args)
    if args.precision == 'bf16' and ctx.device.type != 'cuda':
        raise loop.RunError('--precision bf16 (autocast) needs a CUDA device; training on the '
                            'CPU runs in fp32')
    return run


def _starting_weights(args, run) -> tuple:
    """Read the starting checkpoint and the weights to train from (the run's last ones on resume).

    Every rank reads them, so bad input fails everywhere, before any wait.

    Returns:
        (the start checkpoint, the Hugging Face state dict to load).
    """
    from promptda_ros.model.checkpoint import read_checkpoint
    from promptda_ros.train import loop

    start = start_checkpoint(args)
    if not args.resume:
        return start, start.hf_state_dict
    current = read_checkpoint(run.file('last.safetensors'))
    if current.spec != start.spec:
        raise loop.RunError(f'{run.path}: last.safetensors is a {current.spec.name} network '
                            f'but the run started from a {start.spec.name}')
    return start, current.hf_state_dict


def _cache_frames(args, ctx, run, t0: float) -> None:
    """Check the inputs on every rank; on a new run, rank 0 caches the frames for all ranks.

    Args:
        args: parsed arguments.
        ctx: distributed context.
        run: the run folder (created here on a new run).
        t0: ``time.perf_counter()`` when the run started, for the caching time printed.

    Raises:
        RunError: the input could not be cached (on every rank).
    """
    from promptda_ros.eval.dataset import open_input
    from promptda_ros.train import data as tdata
    from promptda_ros.train import loop

    open_options: dict = {'prompt_hw': tuple(args.prompt_hw)}
    if args.topics:
        open_options['topics'] = dict(args.topics)
    if not args.resume:
        # Check every input on every rank (read_bag checks the topics at once, lazily reads).
        for path in list(args.data) + list(args.val or []):
            open_input(path, **({} if os.path.isdir(os.path.join(path, 'rgb'))
                                else open_options))
    error = None
    counts = None
    if ctx.is_main and not args.resume:
        try:
            run.create({k: getattr(args, k) for k in _RUN_KEYS})
            counts = tdata.build_cache(list(args.data), args.out, args.val, args.val_fraction,
                                       open_options, args.stride, args.max_frames)
        except PromptDAError as exc:
            error = str(exc)
    error = ctx.broadcast_object(error)
    if error:
        raise loop.RunError(error)
    counts = ctx.broadcast_object(counts)
    if counts and ctx.is_main:
        print(f'{KIND}: {counts["train"]} training and {counts["val"]} validation frames '
              f'cached in {time.perf_counter() - t0:.1f} s'
              + (f' ({len(counts["skipped"])} skipped)' if counts['skipped'] else ''),
              file=sys.stderr)


def _train_frames(args):
    """Return the training dataset of the cached frames (``TrainFrames``) the arguments ask for."""
    from promptda_ros.train import data as tdata

    sample_cfg = tdata.SampleConfig(input_hw=tuple(args.input_size),
                                    prompt_hw=tuple(args.prompt_hw), pattern=args.pattern,
                                    fill=args.fill, scale_jitter=args.scale_jitter,
                                    flip=not args.no_flip, colour_jitter=args.colour_jitter,
                                    sim=sim_config(args), seed=args.seed)
    return tdata.TrainFrames(tdata.cache_dir(args.out, 'train'), sample_cfg)


def _loss_function(args, ctx, start):
    """Return ``loss_fn(model, batch) -> (loss, {})`` of ``args.loss``.

    ``edge`` builds a frozen teacher from the starting weights (its pseudo depth guides the
    loss); ``l1`` and ``l1_grad`` compare with the masked ground truth only.  Batches hold
    ``pixel`` (B, 3, h, w), ``prompt`` (B, 1, ph, pw) metres, ``gt`` (B, 1, h, w) metres and
    ``mask`` (B, 1, h, w) bool.
    """
    import torch

    from promptda_ros.model.checkpoint import network_from_state_dict
    from promptda_ros.train.losses import edge_aware_loss, l1_gradient_loss, l1_loss

    teacher = None
    if args.loss == 'edge':
        teacher = network_from_state_dict(start.spec, start.hf_state_dict).to(ctx.device).eval()
        teacher.requires_grad_(False)
    loss_name = args.loss

    def loss_fn(m, batch):
        pixel = batch['pixel'].to(ctx.device, non_blocking=True)
        prompt = batch['prompt'].to(ctx.device, non_blocking=True)
        gt = batch['gt'].to(ctx.device, non_blocking=True)
        mask = batch['mask'].to(ctx.device, non_blocking=True)
        pred = m(pixel, prompt).float()
        if loss_name == 'l1':
            return l1_loss(pred, gt, mask), {}
        if loss_name == 'l1_grad':
            return l1_gradient_loss(pred, gt, mask), {}
        with torch.no_grad():
            pseudo = teacher(pixel, prompt).float()
        return edge_aware_loss(pred, gt, pseudo, mask), {}
    return loss_fn


def _freeze_unused(network, args, ctx) -> list:
    """Put ``network`` in training mode and freeze the tensors a forward pass does not use."""
    import torch

    from promptda_ros.train import loop

    def probe():
        h, w = args.input_size
        x = torch.zeros(1, 3, h, w, device=ctx.device)
        prompt = torch.linspace(1.0, 2.0, 16, device=ctx.device).view(1, 1, 4, 4)
        return network(x, prompt).sum()
    network.train()
    return loop.freeze_unused(network, probe)


def _optimiser(args, ctx, run, network) -> tuple:
    """Build AdamW and its schedule; on resume, restore them and the step reached.

    Returns:
        (optimizer, scheduler, first step, best validation L1 so far).

    Raises:
        RunError: the resumed run already ran ``--steps`` steps.
    """
    import torch

    from promptda_ros.train import loop

    optimizer = torch.optim.AdamW(param_groups(network, args.lr_vit, args.lr_decoder,
                                               args.weight_decay))
    warmup = args.warmup if args.warmup is not None else max(1, args.steps // 20)
    scheduler = loop.warmup_schedule(optimizer, warmup, args.steps, args.schedule)
    if not args.resume:
        return optimizer, scheduler, 0, math.inf
    state = run.load_state()
    optimizer.load_state_dict(state['optimizer'])
    if state.get('scheduler') is not None:
        scheduler.load_state_dict(state['scheduler'])
    start_step = int(state['step'])
    best = float(state.get('extra', {}).get('best', math.inf))
    if ctx.is_main:
        run.truncate_log(start_step)
    if start_step >= args.steps:
        raise loop.RunError(f'--resume: {run.path} already ran {start_step} steps; pass a '
                            'larger --steps to continue')
    return optimizer, scheduler, start_step, best


def _distributed(network, ctx):
    """Return ``network`` wrapped in DistributedDataParallel when ``ctx`` is distributed."""
    import torch

    if not ctx.distributed:
        return network
    # The class token's gradient is a strided view; DDP copies it into its bucket (harmless).
    warnings.filterwarnings('ignore', message='Grad strides do not match bucket view')
    return torch.nn.parallel.DistributedDataParallel(
        network, device_ids=[ctx.local_rank] if ctx.device.type == 'cuda' else None)


def _validation(args, ctx, network):
    """Return ``validate(step) -> metrics`` when the run has a validation split, else None.

    Every rank knows whether there is a validation split (they must run the same barriers);
    rank 0 alone scores it.
    """
    from promptda_ros.train import data as tdata

    if not tdata.cached_paths(tdata.cache_dir(args.out, 'val')):
        return None
    validator = None
    if ctx.is_main:
        validator = Validator.from_args(tdata.cache_dir(args.out, 'val'), args, ctx.device)

    def validate(step):
        metrics = validator(network) if validator is not None else {}
        network.train()
        return metrics
    return validate


def _loop_config(args, ctx):
    """Return the step loop's settings (``loop.LoopConfig``); 'auto' precision = bf16 on CUDA."""
    from promptda_ros.train import loop

    precision = args.precision
    if precision == 'auto':
        precision = 'bf16' if ctx.device.type == 'cuda' else 'fp32'
    return loop.LoopConfig(steps=args.steps, log_every=args.log_every,
                           val_every=args.val_every, save_every=args.save_every,
                           clip_norm=args.clip_norm, bf16=precision == 'bf16',
                           progress=not args.quiet)


def train(args, ctx) -> dict:
    """Run ``promptda-train`` with parsed ``args`` in distributed context ``ctx``.

    Steps: open the run, read the starting weights, cache the frames, build the network, loss,
    optimiser and validation, run the step loop, then check that the replicas agree.

    Returns:
        {'last': the last validation metrics, 'replica_max_abs_diff': largest weight
        difference between processes}.
    """
    import torch

    from promptda_ros.model.checkpoint import network_from_state_dict
    from promptda_ros.train import loop

    run = _open_run(args, ctx)
    ctx.barrier()
    t0 = time.perf_counter()
    start, weights = _starting_weights(args, run)
    spec = start.spec
    _cache_frames(args, ctx, run, t0)

    torch.manual_seed(args.seed)
    network = network_from_state_dict(spec, weights, device='cpu').to(ctx.device)
    dataset = _train_frames(args)
    loss_fn = _loss_function(args, ctx, start)
    frozen = _freeze_unused(network, args, ctx)
    optimizer, scheduler, start_step, best = _optimiser(args, ctx, run, network)
    model = _distributed(network, ctx)
    batches = loop.step_batches(dataset, args.batch_size, ctx, args.seed, start_step,
                                args.workers)
    validate = _validation(args, ctx, network)

    def save(tag):
        _save_weights(network, spec, run.file(f'{tag}.safetensors'))

    config = _loop_config(args, ctx)
    if ctx.is_main:
        n_train = sum(p.numel() for p in network.parameters() if p.requires_grad)
        print(f'{KIND}: {spec.name} network ({n_train / 1e6:.2f} M trainable parameters, '
              f'{len(frozen)} unused tensors frozen) from {start.format} weights, '
              f'{ctx.world_size} process(es) on {ctx.device.type}, global batch '
              f'{args.batch_size * ctx.world_size}, steps {start_step}..{args.steps}',
              file=sys.stderr)
    last = loop.run_loop(model, optimizer, scheduler, batches, loss_fn, run, ctx, config,
                         start_step, validate, save, best)
    divergence = loop.replica_divergence(network, ctx)
    if ctx.is_main:
        run.log({'step': args.steps, 'split': 'replicas', 'world_size': ctx.world_size,
                 'max_abs_diff': divergence})
        loop.plot_curves(run.records(), run.file(loop.CURVES_FILE))
    return {'last': last, 'replica_max_abs_diff': divergence}


def train_main(argv: Optional[List[str]] = None) -> int:
    """Run ``promptda-train``; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.steps_given = any(a == '--steps' or a.startswith('--steps=')
                           for a in (argv if argv is not None else sys.argv[1:]))
    from promptda_ros.train import loop

    def work():
        ctx = loop.setup_distributed(args.device)
        try:
            result = train(args, ctx)
        finally:
            loop.teardown_distributed()
        if ctx.is_main:
            last = result['last']
            summary = ', '.join(f'{k} {last[k]:.4f}' for k in ('l1', 'absrel', 'delta_1')
                                if k in last)
            print(f'{KIND}: wrote {os.path.join(args.out, "last.safetensors")}'
                  + (f' (validation {summary})' if summary else ''))
    return run_cli(work, f'continue with --out {args.out} --resume (from its last checkpoint; '
                   'before the first one, start again in an empty --out)',
                   stop_within_s=STOP_WITHIN_S)


# ---------------------------------------------------------------- promptda-simulate-lidar


def build_sim_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``promptda-simulate-lidar``."""
    p = CliParser(
        prog='promptda-simulate-lidar',
        description='Compare simulated prompts for one frame: ground truth, naive '
                    'downsampling, sparse anchor interpolation and LiDAR beams (PNG).')
    p.add_argument('input', metavar='BAG_OR_DIR', help='bag or frame folder with reference depth')
    p.add_argument('--out', required=True, metavar='PNG', help='image to write (.png)')
    p.add_argument('--frame', type=nonnegative_int, default=0, help='frame index (%(default)s)')
    p.add_argument('--seed', type=seed_int, default=0, help='simulation seed (%(default)s)')
    add_sim_arguments(p)
    return p


def simulate_lidar(args) -> dict:
    """Make the comparison figure; return per-pattern statistics."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from promptda_ros.core.errors import InputError
    from promptda_ros.eval.dataset import open_input
    from promptda_ros.train.lidar_sim import make_prompt
    if not args.out.lower().endswith('.png'):
        raise InputError(f'--out must be a .png file, got {args.out}')
    writable_file(args.out, '--out')
    sim = sim_config(args)
    options = {} if os.path.isdir(os.path.join(args.input, 'rgb')) else \
        {'prompt_hw': tuple(args.prompt_hw)}
    frame = None
    for i, fr in enumerate(open_input(args.input, **options)):
        if i == args.frame:
            frame = fr
            break
    if frame is None:
        raise InputError(f'{args.input} has no frame {args.frame} with reference depth')
    rng = np.random.default_rng(args.seed)
    panels = [('ground truth', frame.gt_m)]
    stats = {}
    for pattern in ('naive', 'anchors', 'beams'):
        prompt = make_prompt(pattern, frame.gt_m, rng, rgb=frame.rgb, camera=frame.camera,
                             prompt_hw=tuple(args.prompt_hw), config=sim)
        panels.append((pattern, prompt))
        valid = prompt > 0
        stats[pattern] = {'valid_fraction': float(valid.mean())}
    if np.any(frame.prompt_m > 0):
        panels.append(('real prompt', frame.prompt_m))
    finite = frame.gt_m[np.isfinite(frame.gt_m)]
    vmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(3.2 * (len(panels) + 1), 3.0))
    axes[0].imshow(frame.rgb)
    axes[0].set_title('image')
    for ax, (title, depth) in zip(axes[1:], panels):
        shown = np.where(np.asarray(depth) > 0, depth, np.nan)
        im = ax.imshow(shown, cmap='turbo', vmin=0.0, vmax=vmax, interpolation='nearest')
        if title in stats:
            title = '%s (%.0f %% cells)' % (title, 100 * stats[title]['valid_fraction'])
        ax.set_title(title)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, fraction=0.015, label='depth [m]')
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    return stats


def simulate_lidar_main(argv: Optional[List[str]] = None) -> int:
    """Run ``promptda-simulate-lidar``; return the process exit code."""
    args = build_sim_parser().parse_args(argv)

    def work():
        stats = simulate_lidar(args)
        print(f'wrote {args.out}: ' + ', '.join(
            f'{k} {100 * v["valid_fraction"]:.1f} % of cells' for k, v in stats.items()))
    return run_cli(work)


if __name__ == '__main__':
    sys.exit(train_main())
