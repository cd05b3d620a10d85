# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The model-independent parts of a training run (used by ``promptda-train`` and others).

* :func:`setup_distributed` / :func:`teardown_distributed` - one process, or one per device under
  ``torchrun`` (PyTorch DistributedDataParallel: NCCL on GPUs, Gloo on the CPU).
* :class:`RunFolder` - the output folder: ``run.json`` (what made it), ``state.pt`` (optimiser,
  scheduler and step, for ``--resume``), ``metrics.jsonl`` (one JSON object per logged step or
  validation) and ``curves.png``. Model weights are written by the caller (its own format).
  Every file is written to a temporary name and renamed, so a crash or Ctrl-C never leaves a
  half-written one; ``--resume`` refuses a corrupt file in one line naming it.
* :func:`step_batches` - an endless, resumable stream of batches: epoch ``e`` visits the samples
  in the order of a ``DistributedSampler`` seeded with ``seed`` and set to epoch ``e``, so the
  batch of a given step is the same whatever the number of processes that share it, and a resumed
  run continues with the batch it would have seen.
* :func:`freeze_unused` - parameters a forward pass never touches get ``requires_grad=False``
  (DistributedDataParallel needs every trainable parameter to receive a gradient).
* :func:`warmup_schedule` - linear warm-up, then constant or cosine decay.
* :func:`run_loop` - the step loop: forward (bf16 autocast on CUDA only), backward, gradient
  clipping, optimiser and scheduler step, logging, periodic validation, checkpoints, progress bar.
  A non-finite loss or weight stops it (:class:`NonFiniteError`) before the next checkpoint, so
  the last one saved stays the last good one.

Every rank runs the same steps; rank 0 alone validates and writes files, the others wait.
"""

from dataclasses import dataclass
import json
import math
import os
import sys
import time
from typing import Callable, Iterator

import torch
from torch import distributed as dist

from promptda_ros.core.errors import InputError, NonFiniteError, PromptDAError

RUN_FILE = 'run.json'
STATE_FILE = 'state.pt'
METRICS_FILE = 'metrics.jsonl'
CURVES_FILE = 'curves.png'
RUN_FORMAT_VERSION = 1


class RunError(PromptDAError):
    """A run folder that cannot be created or resumed."""


@dataclass(frozen=True)
class DistContext:
    """Where this process runs: rank, world size and device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None  # 'nccl' / 'gloo', None for a single process

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the one that validates and writes files)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every rank (no-op in a single process)."""
        if self.distributed:
            dist.barrier()

    def mean(self, value: float) -> float:
        """Return the mean of ``value`` over all ranks."""
        if not self.distributed:
            return float(value)
        t = torch.tensor([float(value)], dtype=torch.float64,
                         device=self.device if self.backend == 'nccl' else 'cpu')
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def broadcast_object(self, obj):
        """Return rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def setup_distributed(device: str = 'auto') -> DistContext:
    """Join the process group that ``torchrun`` describes, or run alone.

    Args:
        device: 'auto' (CUDA when available, else CPU), 'cpu' or 'cuda'. Under torchrun each
            rank takes GPU ``LOCAL_RANK``.

    Returns:
        :class:`DistContext`; call :func:`teardown_distributed` at the end.

    Raises:
        InputError: an unknown device, CUDA requested but unavailable, or malformed torchrun
            environment variables.
    """
    try:
        world = int(os.environ.get('WORLD_SIZE', '1'))
        rank = int(os.environ.get('RANK', '0'))
        local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    except ValueError:
        raise InputError('WORLD_SIZE / RANK / LOCAL_RANK must be integers (set by torchrun)'
                         ) from None
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device not in ('cpu', 'cuda'):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == 'cuda' and not torch.cuda.is_available():
        raise InputError('device cuda requested but CUDA is not available (torch '
                         f'{torch.__version__}); use --device cpu')
    if device == 'cuda':
        if local_rank >= torch.cuda.device_count():
            raise InputError(f'LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} '
                             'GPU(s) are visible')
        torch.cuda.set_device(local_rank)
        dev = torch.device('cuda', local_rank)
    else:
        dev = torch.device('cpu')
    backend = None
    if world > 1:
        backend = 'nccl' if dev.type == 'cuda' else 'gloo'
        if not dist.is_initialized():
            dist.init_process_group(backend=backend)
    return DistContext(rank, world, local_rank, dev, backend)


def teardown_distributed() -> None:
    """Leave the process group, if any."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class RunFolder:
    """The output folder of a training run (layout in the module docstring)."""

    def __init__(self, path: str, kind: str, resume: bool = False):
        """Check that ``path`` can hold a new run of ``kind``, or holds one to resume.

        Raises:
            RunError: a new run into a non-empty folder; ``resume`` from a folder that is
                missing, has no ``run.json`` / ``state.pt``, or was written by another program.
        """
        self.path = os.fspath(path)
        self.kind = kind
        self.resume = bool(resume)
        if resume:
            if not os.path.isdir(self.path):
                raise RunError(f'--resume: {self.path} does not exist')
            info = self._read_info()
            if info.get('kind') != kind:
                raise RunError(f'--resume: {self.path} holds a {info.get("kind")!r} run, not '
                               f'{kind!r}')
            if not os.path.isfile(self.file(STATE_FILE)):
                raise RunError(f'--resume: {self.path} has no {STATE_FILE} (no checkpoint was '
                               'saved yet)')
            self.records()  # a corrupt metrics.jsonl is refused now, not after the work
        elif os.path.isdir(self.path) and os.listdir(self.path):
            raise RunError(f'{self.path} exists and is not empty; pass --resume to continue '
                           'that run, or choose a new --out')
        elif os.path.exists(self.path) and not os.path.isdir(self.path):
            raise RunError(f'{self.path} exists and is not a folder')

    def file(self, name: str) -> str:
        """Return the path of ``name`` inside the folder."""
        return os.path.join(self.path, name)

    def _read_info(self) -> dict:
        path = self.file(RUN_FILE)
        try:
            with open(path, encoding='utf-8') as f:
                info = json.load(f)
        except FileNotFoundError:
            raise RunError(f'--resume: {self.path} is not a training run folder (no '
                           f'{RUN_FILE})') from None
        except (OSError, ValueError) as exc:
            raise RunError(f'--resume: cannot read {path}: {exc}') from None
        if not isinstance(info, dict) or info.get('format_version') != RUN_FORMAT_VERSION:
            raise RunError(f'--resume: {path} is not a run description of this version')
        return info

    def create(self, config: dict) -> None:
        """Write ``run.json`` (a new run; call on the main rank)."""
        os.makedirs(self.path, exist_ok=True)
        info = {'kind': self.kind, 'format_version': RUN_FORMAT_VERSION, 'config': config,
                'created': time.strftime('%Y-%m-%dT%H:%M:%S')}
        _write_atomic(self.file(RUN_FILE), json.dumps(info, indent=2, sort_keys=True).encode())

    def config(self) -> dict:
        """Return the ``config`` stored in ``run.json``."""
        return dict(self._read_info().get('config') or {})

    def log(self, record: dict) -> None:
        """Append one JSON object to ``metrics.jsonl`` (the file is replaced atomically)."""
        path = self.file(METRICS_FILE)
        try:
            with open(path, 'rb') as f:
                old = f.read()
        except FileNotFoundError:
            old = b''
        line = json.dumps(record, sort_keys=True, allow_nan=True) + '\n'
        _write_atomic(path, old + line.encode())

    def records(self) -> list:
        """Return every object of ``metrics.jsonl`` (empty when there is none).

        Raises:
            RunError: a line that is not a JSON object, naming the file and the line.
        """
        path = self.file(METRICS_FILE)
        try:
            with open(path, encoding='utf-8') as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise RunError(f'cannot read {path}: {exc}') from None
        out = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                raise RunError(f'{path} is corrupt at line {number} (not a JSON object); '
                               'remove that line to resume')
            out.append(record)
        return out

    def truncate_log(self, step: int) -> None:
        """Drop records after ``step`` (a resumed run repeats the steps after its checkpoint)."""
        kept = [r for r in self.records() if int(r.get('step', 0)) <= step]
        _write_atomic(self.file(METRICS_FILE),
                      ''.join(json.dumps(r, sort_keys=True) + '\n' for r in kept).encode())

    def save_state(self, step: int, optimizer, scheduler, extra: dict | None = None) -> None:
        """Write ``state.pt``: step, optimiser and scheduler state and ``extra`` (atomically)."""
        state = {'step': int(step), 'optimizer': optimizer.state_dict(),
                 'scheduler': scheduler.state_dict() if scheduler is not None else None,
                 'extra': extra or {}}
        tmp = self.file(STATE_FILE + '.tmp')
        torch.save(state, tmp)
        os.replace(tmp, self.file(STATE_FILE))

    def load_state(self) -> dict:
        """Read ``state.pt`` (tensors and plain containers only)."""
        try:
            return torch.load(self.file(STATE_FILE), map_location='cpu', weights_only=True)
        except Exception as exc:  # corrupt archives fail inside torch in many ways
            raise RunError(f'cannot read {self.file(STATE_FILE)}: {type(exc).__name__}: '
                           f'{exc}') from None


def _write_atomic(path: str, data: bytes) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


class _StepSampler(torch.utils.data.Sampler):
    """Indices of one epoch of a DistributedSampler from a given position, tagged with the epoch.

    Yields ``epoch * n + index`` so that the dataset can seed its augmentation per epoch.
    """

    def __init__(self, n: int, ctx: DistContext, seed: int, epoch: int, skip: int):
        self.n, self.epoch, self.skip = n, epoch, skip
        self.inner = torch.utils.data.DistributedSampler(
            range(n), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed,
            drop_last=False)
        self.inner.set_epoch(epoch)

    def __iter__(self):
        for i, index in enumerate(self.inner):
            if i >= self.skip:
                yield self.epoch * self.n + int(index)

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.skip)


def split_code(code: int, n: int) -> tuple:
    """Return (index, epoch) of a sample code yielded by :func:`step_batches`' sampler."""
    return int(code) % n, int(code) // n


def step_batches(dataset, batch_size: int, ctx: DistContext, seed: int = 0,
                 start_step: int = 0, num_workers: int = 0,
                 collate: Callable | None = None) -> Iterator:
    """Yield batches forever, starting at the batch of step ``start_step``.

    Args:
        dataset: map-style dataset of length n; it receives codes ``epoch * n + index``
            (decode with :func:`split_code`).
        batch_size: samples per batch on this rank (global batch = batch_size * world size).
        ctx: distributed context (the sampler splits each epoch over the ranks).
        seed: shuffling seed.
        start_step: first step to produce (resume).
        num_workers: DataLoader worker processes.
        collate: DataLoader collate function (default: torch's).

    Raises:
        InputError: fewer samples than one global batch.
    """
    n = len(dataset)
    per_rank = math.ceil(n / ctx.world_size)
    steps_per_epoch = per_rank // int(batch_size)
    if steps_per_epoch < 1:
        raise InputError(f'{n} training samples are fewer than one batch of {batch_size} x '
                         f'{ctx.world_size} process(es)')
    epoch, skip = divmod(int(start_step), steps_per_epoch)
    while True:
        sampler = _StepSampler(n, ctx, seed, epoch, skip * int(batch_size))
        loader = torch.utils.data.DataLoader(dataset, batch_size=int(batch_size), sampler=sampler,
                                             num_workers=int(num_workers), drop_last=True,
                                             collate_fn=collate,
                                             persistent_workers=False)
        yield from loader
        epoch, skip = epoch + 1, 0


def freeze_unused(model: torch.nn.Module, probe: Callable[[], torch.Tensor]) -> list:
    """Give ``requires_grad=False`` to parameters a forward pass never reaches.

    Args:
        model: the network (not yet wrapped in DistributedDataParallel).
        probe: runs one forward pass of ``model`` and returns a scalar to backpropagate.

    Returns:
        the names of the frozen parameters.
    """
    model.zero_grad(set_to_none=True)
    probe().backward()
    frozen = []
    for name, param in model.named_parameters():
        if param.requires_grad and param.grad is None:
            param.requires_grad_(False)
            frozen.append(name)
    model.zero_grad(set_to_none=True)
    return frozen


def warmup_schedule(optimizer, warmup_steps: int, total_steps: int, decay: str = 'cosine',
                    floor: float = 0.1):
    """Return a LambdaLR: linear warm-up over ``warmup_steps``, then constant or cosine decay.

    The factor on each group's learning rate is ``(s + 1) / warmup_steps`` during warm-up, then 1
    ('constant') or ``floor + (1 - floor) * (1 + cos(pi * p)) / 2`` with ``p`` the fraction of
    the remaining steps done ('cosine').
    """
    if decay not in ('constant', 'cosine'):
        raise InputError(f"schedule must be 'constant' or 'cosine', got {decay!r}")
    warmup_steps = max(0, int(warmup_steps))
    total_steps = max(1, int(total_steps))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if decay == 'constant':
            return 1.0
        p = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * p))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass(frozen=True)
class LoopConfig:
    """Step-loop settings.

    Attributes:
        steps: total optimiser steps of the run.
        log_every: steps between two training records in ``metrics.jsonl``.
        val_every: steps between validations (0 = only at the end).
        save_every: steps between checkpoints (the last step always saves).
        clip_norm: gradient clipping on the global L2 norm (0 = off).
        bf16: autocast the forward pass to bfloat16 (honoured on CUDA only).
        progress: show a tqdm progress bar (rank 0).
        select: validation metric that picks the best checkpoint (lower is better).
        show: validation metrics printed after each validation.
    """

    steps: int
    log_every: int = 10
    val_every: int = 0
    save_every: int = 0
    clip_norm: float = 1.0
    bf16: bool = False
    progress: bool = True
    select: str = 'l1'
    show: tuple = ('l1', 'rmse', 'absrel', 'delta_1')


def run_loop(model: torch.nn.Module, optimizer, scheduler, batches: Iterator,
             loss_fn: Callable, run: RunFolder, ctx: DistContext, config: LoopConfig,
             start_step: int = 0, validate: Callable | None = None,
             save: Callable | None = None, best: float = math.inf) -> dict:
    """Train from ``start_step`` to ``config.steps``.

    Args:
        model: the network, possibly wrapped in DistributedDataParallel.
        optimizer: its optimiser.
        scheduler: learning-rate scheduler stepped once per step (or None).
        batches: iterator of batches (e.g. :func:`step_batches`).
        loss_fn: ``loss_fn(model, batch) -> (loss tensor, {name: float})``.
        run: the run folder (logs, state).
        ctx: distributed context.
        config: loop settings.
        start_step: steps already done (resume).
        validate: ``validate(step) -> {metric: float}``, called on rank 0 only; None = no
            validation. Pass the same (None or not) on every rank: they share the barriers.
        save: ``save(tag)`` writes the weights ('last' / 'best') on rank 0, or None.
        best: best validation ``config.select`` so far (resume).

    Returns:
        the last validation metrics (empty without validation).
    """
    from tqdm import tqdm
    bar = tqdm(total=config.steps, initial=start_step, unit='step', desc=run.kind,
               disable=not (config.progress and ctx.is_main), file=sys.stderr, dynamic_ncols=True)
    autocast = config.bf16 and ctx.device.type == 'cuda'
    last_val: dict = {}
    params = [p for p in model.parameters() if p.requires_grad]
    t0 = time.perf_counter()
    for step in range(start_step, config.steps):
        model.train()
        batch = next(batches)
        with torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=autocast):
            loss, logs = loss_fn(model, batch)
        if not torch.isfinite(loss):
            raise NonFiniteError(f'step {step + 1}: the loss is {loss.item()} (not finite); '
                                 f'stopped, {run.path} keeps its last checkpoint; lower the '
                                 'learning rate or check the data')
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.clip_norm)) \
            if config.clip_norm > 0 else math.nan
        optimizer.step()
        check_finite(params, step + 1, run.path)
        if scheduler is not None:
            scheduler.step()
        done = step + 1
        final = done == config.steps
        if done % max(1, config.log_every) == 0 or final:
            mean_loss = ctx.mean(loss.item())
            record = {'step': done, 'split': 'train', 'loss': mean_loss,
                      'lr': [g['lr'] for g in optimizer.param_groups], 'grad_norm': grad_norm,
                      'elapsed_s': time.perf_counter() - t0}
            record.update({k: ctx.mean(v) for k, v in logs.items()})
            if ctx.is_main:
                run.log(record)
            bar.set_postfix(loss='%.4f' % mean_loss)
        if validate is not None and ((config.val_every and done % config.val_every == 0)
                                     or final):
            if ctx.is_main:
                last_val = dict(validate(done))
                run.log({'step': done, 'split': 'val', **last_val})
                value = last_val.get(config.select, math.nan)
                if save is not None and math.isfinite(value) and value < best:
                    best = value
                    save('best')
                bar.write(f'step {done}: validation ' + ', '.join(
                    f'{k} {last_val[k]:.4f}' for k in config.show if k in last_val))
            ctx.barrier()
        if (config.save_every and done % config.save_every == 0) or final:
            if ctx.is_main:
                if save is not None:
                    save('last')
                run.save_state(done, optimizer, scheduler, {'best': best})
            ctx.barrier()
        bar.update(1)
    bar.close()
    return last_val


def check_finite(params: list, step: int, where: str) -> None:
    """Raise NonFiniteError when a parameter holds NaN or Inf after optimiser step ``step``.

    Args:
        params: the trained tensors.
        step: the step just taken (1-based), for the message.
        where: the run folder, for the message.
    """
    with torch.no_grad():
        finite = torch.stack([torch.isfinite(p).all() for p in params]).all() if params \
            else torch.tensor(True)
    if not bool(finite):
        raise NonFiniteError(f'step {step}: weights are not finite after the optimiser step; '
                             f'stopped, {where} keeps its last checkpoint; lower the learning '
                             'rate')


def replica_divergence(model: torch.nn.Module, ctx: DistContext) -> float:
    """Return the largest |difference| between any rank's tensors and rank 0's (0 alone).

    Data-parallel replicas must stay identical; this checks it at the end of a run.
    """
    if not ctx.distributed:
        return 0.0
    worst = 0.0
    for value in model.state_dict().values():
        if not torch.is_floating_point(value):
            continue
        ref = value.detach().clone()
        dist.broadcast(ref, src=0)
        worst = max(worst, float((value.detach() - ref).abs().max()))
    t = torch.tensor([worst], dtype=torch.float64,
                     device=ctx.device if ctx.backend == 'nccl' else 'cpu')
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def plot_curves(records: list, path: str, train_key: str = 'loss',
                val_keys: tuple = ('l1', 'absrel')) -> str:
    """Write a PNG of the training loss and validation metrics over the steps.

    Args:
        records: ``metrics.jsonl`` objects (``split`` 'train' or 'val').
        path: PNG to write.
        train_key: training record to plot (left panel).
        val_keys: validation metrics to plot (right panel, one line each).

    Returns:
        ``path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    train = [r for r in records if r.get('split') == 'train' and train_key in r]
    val = [r for r in records if r.get('split') == 'val']
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot([r['step'] for r in train], [r[train_key] for r in train], lw=1)
    axes[0].set_title(f'training {train_key}')
    axes[0].set_xlabel('step')
    for key in val_keys:
        pts = [(r['step'], r[key]) for r in val if isinstance(r.get(key), (int, float))]
        if pts:
            axes[1].plot(*zip(*pts), marker='o', label=key)
    axes[1].set_title('validation')
    axes[1].set_xlabel('step')
    if axes[1].lines:
        axes[1].legend()
    fig.tight_layout()
    fig.savefig(path + '.tmp', dpi=100, format='png')
    plt.close(fig)
    os.replace(path + '.tmp', path)
    return path
