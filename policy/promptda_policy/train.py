# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Offline training and held-out evaluation of the depth ACT policy (CLIs, no hub, no wandb).

``promptda-policy-train`` builds a lerobot ``TrainPipelineConfig`` for policy type
``act_depth`` and runs lerobot's own training loop (``lerobot.scripts.lerobot_train.train``)
on a local dataset: hub access off, wandb off, dataset statistics for depth (never ImageNet),
depth read in metres. The trained policy is in ``OUTPUT/checkpoints/last/pretrained_model``.
``--init CHECKPOINT`` starts from a saved policy instead of a new network (fine-tuning on new
demonstrations, or continuing a run): its architecture and action rate are kept, the dataset
must match its inputs, and normalisation statistics come from the new dataset.

``promptda-policy-eval`` reports the action L1 (rad) of a checkpoint on held-out episodes.
"""

import argparse
import json
import logging
import os
import sys

import numpy as np

from promptda_ros.cli_args import (
    CliParser,
    device_arg,
    new_folder_possible,
    nonnegative_int,
    number,
    positive_int,
    run_cli,
    seed_int,
    STOP_WITHIN_S,
)
from promptda_ros.core.errors import InputError, PromptDAError

from . import BACKBONE_NORMS
from .control.arm_fit import check_fits, dataset_signature, policy_signature

OFFLINE_ENV = {'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'WANDB_MODE': 'disabled',
               'HF_HUB_DISABLE_TELEMETRY': '1'}


def _offline() -> None:
    """Force offline mode before huggingface_hub / lerobot are imported."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value


def parse_episodes(text: str | None) -> list[int] | None:
    """Parse '0,1,5-7' into [0, 1, 5, 6, 7] (None for empty)."""
    if not text:
        return None
    out: list[int] = []
    for part in text.split(','):
        part = part.strip()
        try:
            if '-' in part:
                lo, hi = (int(x) for x in part.split('-', 1))
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise PromptDAError('bad episode list %r (use e.g. 0,1,5-7)' % text)
    if any(e < 0 for e in out) or len(set(out)) != len(out):
        raise PromptDAError('episode list %r has negative or repeated indices' % text)
    return out


def episodes_arg(text: str) -> list[int] | None:
    """Argparse ``type=`` of :func:`parse_episodes`."""
    try:
        return parse_episodes(text)
    except PromptDAError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def check_episodes(episodes: list[int] | None, root: str) -> None:
    """Refuse episode indices the dataset at ``root`` does not have (InputError, one line)."""
    if not episodes:
        return
    try:
        with open(os.path.join(root, 'meta', 'info.json'), encoding='utf-8') as f:
            total = int(json.load(f)['total_episodes'])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError('cannot read total_episodes from %s/meta/info.json: %s' % (root, exc))
    missing = [e for e in episodes if e >= total]
    if missing:
        raise InputError('--episodes: the dataset %s has episodes 0-%d, not %s'
                         % (root, total - 1, ', '.join(str(e) for e in missing[:5])))


def check_weights_file(path: str, flag: str) -> None:
    """Refuse a missing, junk or half-written ``model.safetensors`` (one line naming it)."""
    from safetensors import safe_open

    try:
        with safe_open(path, 'pt') as f:
            f.keys()
    except Exception as exc:  # noqa: B902 - safetensors raises its own error types
        text = str(exc).strip().splitlines()
        raise InputError('%s: %s is not a readable safetensors file (%s)'
                         % (flag, path, text[0] if text else type(exc).__name__)) from None


def _train_parser() -> argparse.ArgumentParser:
    p = CliParser(
        prog='promptda-policy-train',
        description='Train the depth ACT policy (lerobot type act_depth) offline on a local '
                    'LeRobotDataset recorded with promptda-policy-record.')
    p.add_argument('--dataset', required=True, help='local dataset directory (LeRobotDataset)')
    p.add_argument('--repo-id', default='local/promptda_demos',
                   help='dataset name in its metadata (nothing is downloaded; '
                        'default %(default)s)')
    p.add_argument('--output-dir', required=True, help='new directory for checkpoints and logs')
    p.add_argument('--episodes', type=episodes_arg, default=None,
                   help='training episodes, e.g. 0-39 (default: all; keep some for eval)')
    p.add_argument('--init', default=None, metavar='CHECKPOINT',
                   help='start from this saved policy (a pretrained_model folder) instead of a '
                        'new network; its architecture is kept (the architecture options '
                        'below are ignored), the dataset must have its depth size, joints '
                        'and fps')
    p.add_argument('--steps', type=positive_int, default=100000,
                   help='optimizer steps (%(default)s)')
    p.add_argument('--batch-size', type=positive_int, default=8, help='batch size (%(default)s)')
    p.add_argument('--lr', type=number(float, 0.0, 1.0), default=1e-5,
                   help='learning rate, in [0, 1]; 0 leaves the weights as they are '
                        '(%(default)s)')
    p.add_argument('--chunk-size', type=positive_int, default=100,
                   help='actions predicted per inference (%(default)s, at dataset fps)')
    p.add_argument('--dim-model', type=positive_int, default=512,
                   help='transformer width, a multiple of --n-heads (%(default)s)')
    p.add_argument('--n-heads', type=positive_int, default=8, help='attention heads (%(default)s)')
    p.add_argument('--dim-feedforward', type=positive_int, default=3200,
                   help='transformer feed-forward width (%(default)s)')
    p.add_argument('--n-encoder-layers', type=positive_int, default=4, help='(%(default)s)')
    p.add_argument('--n-decoder-layers', type=positive_int, default=1, help='(%(default)s)')
    p.add_argument('--latent-dim', type=positive_int, default=32,
                   help='VAE latent size (%(default)s)')
    p.add_argument('--no-vae', action='store_true', help='train without the VAE objective')
    p.add_argument('--normalization', choices=('MEAN_STD', 'MIN_MAX'), default='MEAN_STD',
                   help='depth normalisation from the dataset statistics (%(default)s)')
    p.add_argument('--no-imagenet-backbone', action='store_true',
                   help='start the ResNet18 at random even when ImageNet weights are cached')
    p.add_argument('--backbone-norm', choices=BACKBONE_NORMS, default='group_norm',
                   help="the ResNet18's normalisation layers: group_norm learns its scale, which "
                        "a random start needs; frozen_batch_norm is lerobot's, for ImageNet "
                        'weights (%(default)s)')
    p.add_argument('--device', type=device_arg, default='cpu',
                   help='torch device: cpu, cuda, cuda:N (%(default)s)')
    p.add_argument('--num-workers', type=nonnegative_int, default=2,
                   help='dataloader workers (%(default)s)')
    p.add_argument('--save-freq', type=positive_int, default=20000,
                   help='checkpoint every N steps')
    p.add_argument('--log-freq', type=positive_int, default=200, help='log every N steps')
    p.add_argument('--seed', type=seed_int, default=1000, help='random seed (%(default)s)')
    return p


def parse_train_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``promptda-policy-train`` arguments; usage errors exit 2 in one line."""
    parser = _train_parser()
    args = parser.parse_args(argv)
    if args.dim_model % args.n_heads:
        parser.error('argument --dim-model: %d is not a multiple of --n-heads %d'
                     % (args.dim_model, args.n_heads))
    return args


def build_train_config(args: argparse.Namespace):
    """Return the lerobot TrainPipelineConfig for parsed CLI arguments."""
    from pathlib import Path

    from .lerobot_adapter import DatasetConfig, TrainPipelineConfig, WandBConfig

    if not os.path.isfile(os.path.join(args.dataset, 'meta', 'info.json')):
        raise PromptDAError('%s is not a LeRobotDataset (no meta/info.json)' % args.dataset)
    signature = dataset_signature(args.dataset)  # a malformed info.json fails here, one line
    if signature.fps is None or not signature.fps > 0:
        raise PromptDAError('%s/meta/info.json has no positive fps' % args.dataset)
    fps = float(signature.fps)
    with open(os.path.join(args.dataset, 'meta', 'info.json'), encoding='utf-8') as f:
        info = json.load(f)
    episodes = parse_episodes(args.episodes) if isinstance(args.episodes, str) else args.episodes
    check_episodes(episodes, args.dataset)
    # The output folder is tried before any work (lerobot creates it itself at the start).
    new_folder_possible(args.output_dir, '--output-dir')
    if args.init:
        policy = _init_config(args, info, fps)
    else:
        policy = _new_config(args, fps)
    policy.joint_names = list(signature.joint_names)
    dataset = DatasetConfig(repo_id=args.repo_id, root=args.dataset,
                            episodes=episodes, use_imagenet_stats=False,
                            depth_output_unit=policy.depth_unit, video_backend='pyav')
    return TrainPipelineConfig(
        dataset=dataset, policy=policy, output_dir=Path(args.output_dir),
        job_name='act_depth', seed=args.seed, num_workers=args.num_workers,
        batch_size=args.batch_size, steps=args.steps, log_freq=args.log_freq,
        save_freq=min(args.save_freq, args.steps), save_checkpoint=True,
        wandb=WandBConfig(enable=False), persistent_workers=args.num_workers > 0,
        prefetch_factor=2 if args.num_workers > 0 else None)


def _new_config(args: argparse.Namespace, fps: float):
    """Return the ACTDepthConfig of a new network from the CLI options (``fps``: dataset Hz)."""
    from .configuration_act_depth import ACTDepthConfig

    return ACTDepthConfig(
        action_fps=fps, device=args.device, chunk_size=args.chunk_size,
        n_action_steps=args.chunk_size,
        dim_model=args.dim_model, n_heads=args.n_heads, dim_feedforward=args.dim_feedforward,
        n_encoder_layers=args.n_encoder_layers, n_decoder_layers=args.n_decoder_layers,
        latent_dim=args.latent_dim, use_vae=not args.no_vae, optimizer_lr=args.lr,
        optimizer_lr_backbone=args.lr, imagenet_backbone=not args.no_imagenet_backbone,
        backbone_norm=args.backbone_norm,
        normalization_mapping={'VISUAL': args.normalization, 'STATE': 'MEAN_STD',
                               'ACTION': 'MEAN_STD'},
        push_to_hub=False)


def _dataset_shapes(info: dict) -> dict[str, tuple[int, ...]]:
    """Return the policy-side shapes of a dataset's features from its meta/info.json.

    Depth is stored (H, W, 1) and consumed (1, H, W); state and action are (J,).
    """
    shapes = {}
    for key, feature in info.get('features', {}).items():
        shape = tuple(int(v) for v in feature.get('shape', ()))
        if feature.get('dtype') in ('image', 'video') and len(shape) == 3:
            shape = (shape[2], shape[0], shape[1])
        shapes[key] = shape
    return shapes


def _init_config(args: argparse.Namespace, info: dict, fps: float):
    """Return the config of the saved policy ``args.init``, set to fine-tune on this dataset.

    Raises:
        PromptDAError: not a saved act_depth policy, or its inputs, outputs or action rate do
            not match the dataset (one line naming the difference).
    """
    from pathlib import Path

    from . import POLICY_TYPE
    from .configuration_act_depth import ACTDepthConfig
    from .lerobot_adapter import PreTrainedConfig

    path = args.init
    if not all(os.path.isfile(os.path.join(path, name))
               for name in ('config.json', 'model.safetensors')):
        raise PromptDAError('--init %s is not a saved policy (a pretrained_model folder with '
                            'config.json and model.safetensors)' % path)
    try:
        cfg = PreTrainedConfig.from_pretrained(path)
    except Exception as exc:  # noqa: B902 - draccus / json raise many types: one line
        raise PromptDAError('--init %s: cannot read its config.json: %s'
                            % (path, str(exc).strip().splitlines()[0] if str(exc) else
                               type(exc).__name__)) from None
    if cfg.type != POLICY_TYPE or not isinstance(cfg, ACTDepthConfig):
        raise PromptDAError('--init %s is a %r policy, not %r' % (path, cfg.type, POLICY_TYPE))
    if abs(float(cfg.action_fps) - fps) > 1e-6:
        raise PromptDAError('--init %s acts at %g Hz, the dataset is recorded at %g Hz'
                            % (path, cfg.action_fps, fps))
    shapes = _dataset_shapes(info)
    wanted = {**cfg.input_features, **cfg.output_features}
    for key, feature in wanted.items():
        if key not in shapes:
            raise PromptDAError('--init %s needs %s, the dataset has no such feature'
                                % (path, key))
        if tuple(feature.shape) != shapes[key]:
            raise PromptDAError('--init %s takes %s of shape %s, the dataset has %s'
                                % (path, key, tuple(feature.shape), shapes[key]))
    check_weights_file(os.path.join(path, 'model.safetensors'), '--init')
    if cfg.joint_names:
        check_fits(policy_signature(path), tuple(dataset_signature(args.dataset).joint_names),
                   'the dataset %s' % args.dataset, fps)
    cfg.pretrained_path = Path(path)
    cfg.device = args.device
    cfg.optimizer_lr = args.lr
    cfg.optimizer_lr_backbone = args.lr
    cfg.push_to_hub = False
    return cfg


def train(args: argparse.Namespace) -> str:
    """Run training; return the final ``pretrained_model`` directory."""
    _offline()
    from .lerobot_adapter import lerobot_train

    cfg = build_train_config(args)
    saved_argv = sys.argv
    sys.argv = [saved_argv[0]]  # lerobot re-reads sys.argv for --policy.path; give it none
    try:
        lerobot_train(cfg)
    finally:
        sys.argv = saved_argv
    out = os.path.join(args.output_dir, 'checkpoints', 'last', 'pretrained_model')
    if not os.path.isdir(out):
        raise PromptDAError('training finished but %s was not written' % out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``promptda-policy-train`` (exit 2 usage, 1 error, 130 Ctrl-C)."""
    args = parse_train_args(argv)

    def work():
        print('policy saved to %s' % train(args))
    return run_cli(work, 'the newest complete checkpoint is %s (continue from it with --init)'
                   % os.path.join(args.output_dir, 'checkpoints', 'last', 'pretrained_model'),
                   stop_within_s=STOP_WITHIN_S)


def evaluate(policy_dir: str, dataset_root: str, repo_id: str, episodes: list[int] | None,
             device: str = 'cpu', batch_size: int = 16, max_frames: int | None = None) -> dict:
    """Compute the action L1 (rad) of a checkpoint on held-out episodes.

    For every frame the policy predicts a chunk; it is compared with the recorded future
    actions (padding past the episode end masked out).

    Returns:
        dict with ``l1_first`` (first action, mean over joints and frames), ``l1_chunk`` (all
        valid chunk steps), ``l1_per_joint`` (first action, per joint), ``frames``, ``episodes``.
    """
    _offline()
    import torch

    from .inference import load_policy
    from .lerobot_adapter import LeRobotDataset, LeRobotDatasetMetadata

    # Same arm, same order, same rate before any weights or frames are read.
    check_fits(policy_signature(policy_dir), dataset_signature(dataset_root).joint_names,
               'the dataset %s' % dataset_root, dataset_signature(dataset_root).fps)
    check_episodes(episodes, dataset_root)
    policy, pre, post = load_policy(policy_dir, device)
    cfg = policy.config
    try:
        meta = LeRobotDatasetMetadata(repo_id, root=dataset_root)
    except (OSError, ValueError) as exc:
        raise PromptDAError('cannot open dataset %s: %s' % (dataset_root, exc))
    fps = meta.fps
    ds = LeRobotDataset(repo_id, root=dataset_root, episodes=episodes,
                        delta_timestamps={'action': [i / fps for i in range(cfg.chunk_size)]},
                        depth_output_unit=cfg.depth_unit, video_backend='pyav')
    n = len(ds) if max_frames is None else min(len(ds), max_frames)
    if n == 0:
        raise PromptDAError('no frames in the selected episodes %s' % (episodes,))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(n)),
                                         batch_size=batch_size, shuffle=False, num_workers=0)
    first, chunk_sum, chunk_count = [], 0.0, 0
    with torch.no_grad():
        for batch in loader:
            target = batch['action'].to(torch.float64)          # (B, T, J) rad
            pad = batch['action_is_pad']                          # (B, T)
            obs = {k: v for k, v in batch.items() if k.startswith('observation.')}
            pred = post(policy.predict_action_chunk(pre(obs))).to(torch.float64)  # (B, T, J)
            err = (pred.cpu() - target).abs()
            first.append(err[:, 0].numpy())
            valid = ~pad
            chunk_sum += float(err[valid].sum())
            chunk_count += int(valid.sum()) * err.shape[-1]
    first = np.concatenate(first, axis=0)
    return {'l1_first': float(first.mean()), 'l1_chunk': chunk_sum / max(chunk_count, 1),
            'l1_per_joint': first.mean(axis=0).tolist(), 'frames': int(n),
            'episodes': episodes if episodes is not None else list(range(meta.total_episodes))}


def eval_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``promptda-policy-eval`` (prints JSON)."""
    p = CliParser(
        prog='promptda-policy-eval',
        description='Action L1 (radians) of a trained depth ACT policy on held-out episodes.')
    p.add_argument('--policy', required=True, help='checkpoint dir (.../pretrained_model)')
    p.add_argument('--dataset', required=True, help='local dataset directory')
    p.add_argument('--repo-id', default='local/promptda_demos', help='dataset name (%(default)s)')
    p.add_argument('--episodes', type=episodes_arg, default=None,
                   help='held-out episodes, e.g. 40-49 (default all)')
    p.add_argument('--device', type=device_arg, default='cpu',
                   help='torch device: cpu, cuda, cuda:N (%(default)s)')
    p.add_argument('--batch-size', type=positive_int, default=16, help='(%(default)s)')
    p.add_argument('--max-frames', type=positive_int, default=None,
                   help='evaluate at most N frames')
    args = p.parse_args(argv)
    # lerobot logs device auto-selection warnings while reading a config; this CLI prints its
    # result as JSON and its own one-line errors, so only errors of the libraries get through.
    logging.getLogger().setLevel(logging.ERROR)

    def work():
        print(json.dumps(evaluate(args.policy, args.dataset, args.repo_id, args.episodes,
                                  args.device, args.batch_size, args.max_frames)))
    return run_cli(work)
