# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Load a trained ``act_depth`` checkpoint and predict action chunks from numpy inputs (no ROS).

A checkpoint directory is what lerobot saves as ``pretrained_model/``: ``config.json``,
``model.safetensors`` and the processor files (``policy_preprocessor.json`` with the dataset
normalisation statistics, ``policy_postprocessor.json``).
"""

import os

import cv2
import numpy as np
import torch

from promptda_ros.core.errors import CheckpointError, InputError

from . import POLICY_TYPE, STATE_FEATURE
from .configuration_act_depth import ACTDepthConfig
from .lerobot_adapter import make_pre_post_processors, PreTrainedConfig
from .modeling_act_depth import ACTDepthPolicy

REQUIRED_FILES = ('config.json', 'model.safetensors')


def load_policy(path: str, device: str = 'cpu') -> tuple:
    """Load (policy, preprocessor, postprocessor) from a local checkpoint directory.

    Weights are matched strictly; nothing is downloaded.

    Raises:
        CheckpointError: when the directory or a file is missing, the policy type is not
            ``act_depth`` or the weights do not match the config.
    """
    if not os.path.isdir(path):
        raise CheckpointError('policy checkpoint directory %s does not exist' % path)
    for name in REQUIRED_FILES:
        if not os.path.isfile(os.path.join(path, name)):
            raise CheckpointError('policy checkpoint %s lacks %s' % (path, name))
    # lerobot, draccus and safetensors report a junk file with many exception types (ValueError,
    # DecodingError, SafetensorError, ...): each becomes one CheckpointError naming the folder.
    try:
        config = PreTrainedConfig.from_pretrained(path)
    except Exception as exc:
        raise CheckpointError('cannot read policy config in %s: %s' % (path, _first_line(exc)))
    if not isinstance(config, ACTDepthConfig):
        raise CheckpointError('%s holds a %r policy, expected %r'
                              % (path, getattr(config, 'type', '?'), POLICY_TYPE))
    config.device = device
    try:
        policy = ACTDepthPolicy.from_pretrained(path, config=config, strict=True)
        pre, post = make_pre_post_processors(
            config, pretrained_path=path,
            preprocessor_overrides={'device_processor': {'device': device}})
    except Exception as exc:
        raise CheckpointError('cannot load policy from %s: %s' % (path, _first_line(exc)))
    policy.eval()
    return policy, pre, post


def _first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message, or its type name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class DepthPolicy:
    """Predict action chunks with a loaded ``act_depth`` policy.

    Args:
        path: checkpoint directory (``pretrained_model``).
        device: torch device string.
        resize: resize depth of another size to the trained size (nearest neighbour) instead
            of raising.
        num_threads: torch CPU threads (None = leave torch's default).
    """

    def __init__(self, path: str, device: str = 'cpu', resize: bool = True,
                 num_threads: int | None = None):
        if num_threads:
            torch.set_num_threads(int(num_threads))
        self.policy, self.pre, self.post = load_policy(path, device)
        cfg = self.policy.config
        self.config = cfg
        self.depth_key = cfg.depth_key
        self.depth_shape = tuple(cfg.image_features[self.depth_key].shape[1:])  # (H, W)
        self.num_joints = int(cfg.robot_state_feature.shape[0])
        self.chunk_size = int(cfg.chunk_size)
        self.fps = float(cfg.action_fps)
        self.resize = resize
        self.scale = 1000.0 if cfg.depth_unit == 'mm' else 1.0

    def warmup(self) -> None:
        """Run one prediction on a constant 1 m depth so the first real call is not slow."""
        self.predict_chunk(np.ones(self.depth_shape, np.float32),
                           np.zeros(self.num_joints, np.float32))

    def _prepare_depth(self, depth_m: np.ndarray) -> torch.Tensor:
        d = np.asarray(depth_m, dtype=np.float32)
        if d.ndim == 3 and d.shape[2] == 1:
            d = d[:, :, 0]
        if d.ndim != 2:
            raise InputError('depth must be (H, W) metres, got shape %s' % (d.shape,))
        if d.shape != self.depth_shape:
            if not self.resize:
                raise InputError('depth is %dx%d, the policy was trained on %dx%d'
                                 % (d.shape + self.depth_shape))
            d = cv2.resize(d, (self.depth_shape[1], self.depth_shape[0]),
                           interpolation=cv2.INTER_NEAREST)
        d = np.where(np.isfinite(d) & (d > 0), d, 0.0).astype(np.float32) * self.scale
        return torch.from_numpy(d)[None]  # (1, H, W) in config.depth_unit

    @torch.no_grad()
    def predict_chunk(self, depth_m: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Predict one action chunk.

        Args:
            depth_m: (H, W) float32 metres, NaN / 0 = invalid (stored as 0 like the dataset).
            state: (J,) rad joint positions in the profile's joint order.

        Returns:
            (chunk_size, J) float64 rad joint position targets.
        """
        s = np.asarray(state, dtype=np.float32).reshape(-1)
        if s.size != self.num_joints:
            raise InputError('state has %d values, the policy expects %d joints'
                             % (s.size, self.num_joints))
        if not np.all(np.isfinite(s)):
            raise InputError('non-finite joint state')
        batch = {self.depth_key: self._prepare_depth(depth_m), STATE_FEATURE: torch.from_numpy(s)}
        batch = self.pre(batch)
        chunk = self.policy.predict_action_chunk(batch)   # (1, T, J), normalised
        chunk = self.post(chunk)                          # (1, T, J), rad
        return chunk[0].detach().cpu().numpy().astype(np.float64)
