# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Untrained ``act_depth`` checkpoints for benchmarks, tests and wiring checks (no ROS).

:func:`save_untrained_policy` writes a complete checkpoint directory (config, weights,
processors with given depth/joint statistics) that loads exactly like a trained one. Its
actions are meaningless; never command a robot with it.
"""

import numpy as np
import torch

from promptda_ros.core.errors import InputError

from . import ACTION_FEATURE, DEPTH_FEATURE, STATE_FEATURE
from .configuration_act_depth import ACTDepthConfig
from .lerobot_adapter import FeatureType, PolicyFeature
from .modeling_act_depth import ACTDepthPolicy
from .processor_act_depth import make_act_depth_pre_post_processors


def make_stats(num_joints: int, depth_mean: float = 1.5, depth_std: float = 0.5,
               depth_min: float = 0.0, depth_max: float = 4.0,
               joint_mean: np.ndarray | None = None,
               joint_std: np.ndarray | None = None) -> dict:
    """Return lerobot-style statistics: depth (1, 1, 1) metres, state/action (J,) rad."""
    jm = np.zeros(num_joints) if joint_mean is None else np.asarray(joint_mean, np.float64)
    js = np.full(num_joints, 0.5) if joint_std is None else np.asarray(joint_std, np.float64)

    def vec(mean, std, lo, hi, shape):
        return {'mean': torch.tensor(np.broadcast_to(mean, shape), dtype=torch.float32),
                'std': torch.tensor(np.broadcast_to(std, shape), dtype=torch.float32),
                'min': torch.tensor(np.broadcast_to(lo, shape), dtype=torch.float32),
                'max': torch.tensor(np.broadcast_to(hi, shape), dtype=torch.float32)}

    joints = vec(jm, js, jm - 3 * js, jm + 3 * js, (num_joints,))
    return {DEPTH_FEATURE: vec(depth_mean, depth_std, depth_min, depth_max, (1, 1, 1)),
            STATE_FEATURE: joints, ACTION_FEATURE: {k: v.clone() for k, v in joints.items()}}


def make_config(height: int, width: int, num_joints: int, **overrides) -> ACTDepthConfig:
    """Return an ACTDepthConfig with features for (1, H, W) depth and J joints."""
    if num_joints < 1:
        raise InputError('num_joints must be >= 1, got %d' % num_joints)
    cfg = ACTDepthConfig(**overrides)
    cfg.input_features = {
        DEPTH_FEATURE: PolicyFeature(type=FeatureType.VISUAL, shape=(1, int(height), int(width))),
        STATE_FEATURE: PolicyFeature(type=FeatureType.STATE, shape=(int(num_joints),)),
    }
    cfg.output_features = {
        ACTION_FEATURE: PolicyFeature(type=FeatureType.ACTION, shape=(int(num_joints),))}
    return cfg


def save_untrained_policy(path: str, height: int, width: int, num_joints: int,
                          stats: dict | None = None, seed: int = 0, **overrides) -> str:
    """Write an untrained checkpoint directory loadable by ``inference.load_policy``.

    Args:
        path: output directory.
        height, width: depth input size (pixels).
        num_joints: J.
        stats: statistics as from :func:`make_stats` (default: make_stats(J)).
        seed: torch seed for the random weights.
        **overrides: ACTDepthConfig fields (e.g. dim_model=64, chunk_size=10).
    """
    torch.manual_seed(seed)
    cfg = make_config(height, width, num_joints, **overrides)
    stats = make_stats(num_joints) if stats is None else stats
    policy = ACTDepthPolicy(cfg)
    pre, post = make_act_depth_pre_post_processors(cfg, stats)
    policy.save_pretrained(path)
    pre.save_pretrained(path)
    post.save_pretrained(path)
    return path
