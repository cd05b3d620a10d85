# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The one module that imports ``transformers``: the PromptDA network definition.

The network is transformers' ``PromptDepthAnythingForDepthEstimation`` (a maintained port of the
official PromptDA code), always built offline from a config made here or read from a local
``config.json``; nothing is downloaded. :class:`PromptDANetwork` wraps it and owns the part of
the official ``forward`` that concerns the prompt::

    pixel_values (B,3,H,W) ImageNet-normalised RGB, H and W multiples of 14
    prompt_m     (B,1,h,w) metres, dense
    lo, hi = per-sample min / max of prompt_m            (official: torch.quantile(., 0 / 1))
    prompt_n = (prompt_m - lo) / (hi - lo)              -> neck fusion blocks
    depth_m  = head(...) * (hi - lo) + lo                (B,H,W) metres

The official code divides by ``hi - lo`` with no epsilon, so a constant prompt gives NaN there.
Here a sample whose span is 0 is fed a zero prompt and its output is ``0 * head + lo = lo``:
a constant prompt yields that constant depth (no NaN). Any non-zero span is unchanged.
"""

import json
import math
import os
import types

import torch
from torch import nn
from transformers import Dinov2Config, PromptDepthAnythingConfig
from transformers import PromptDepthAnythingForDepthEstimation

from promptda_ros.core.errors import CheckpointError
from promptda_ros.model.config import (describe_mismatch, EncoderSpec, encoder_from_embed_dim,
                                       PATCH_SIZE, PRETRAIN_IMAGE_SIZE)

HF_MODEL_TYPE = 'prompt_depth_anything'


def build_hf_config(spec: EncoderSpec) -> PromptDepthAnythingConfig:
    """Return the transformers config of the PromptDA network with encoder ``spec``."""
    backbone = Dinov2Config(
        hidden_size=spec.embed_dim,
        num_hidden_layers=spec.depth,
        num_attention_heads=spec.num_heads,
        mlp_ratio=spec.mlp_ratio,
        patch_size=spec.patch_size,
        image_size=PRETRAIN_IMAGE_SIZE,
        layer_norm_eps=1e-6,
        layerscale_value=1.0,
        hidden_act='gelu',
        qkv_bias=True,
        use_swiglu_ffn=False,
        # HF stage 0 is the embedding output, so official block i is stage i + 1.
        out_indices=[i + 1 for i in spec.intermediate_layers],
        apply_layernorm=True,
        reshape_hidden_states=False,
    )
    return PromptDepthAnythingConfig(
        backbone_config=backbone,
        patch_size=spec.patch_size,
        reassemble_hidden_size=spec.embed_dim,
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=list(spec.out_channels),
        fusion_hidden_size=spec.features,
        head_hidden_size=32,
        depth_estimation_type='metric',
        max_depth=None,
    )


def spec_from_hf_config(config) -> EncoderSpec:
    """Return the :class:`EncoderSpec` a transformers config describes; CheckpointError if none."""
    backbone = config.backbone_config
    spec = encoder_from_embed_dim(backbone.hidden_size)
    expected = build_hf_config(spec)
    checks = {
        'backbone.num_hidden_layers': (backbone.num_hidden_layers,
                                       expected.backbone_config.num_hidden_layers),
        'backbone.num_attention_heads': (backbone.num_attention_heads,
                                         expected.backbone_config.num_attention_heads),
        'backbone.out_indices': (list(backbone.out_indices),
                                 list(expected.backbone_config.out_indices)),
        'neck_hidden_sizes': (list(config.neck_hidden_sizes), list(expected.neck_hidden_sizes)),
        'fusion_hidden_size': (config.fusion_hidden_size, expected.fusion_hidden_size),
        'patch_size': (config.patch_size, PATCH_SIZE),
        'depth_estimation_type': (config.depth_estimation_type, 'metric'),
    }
    bad = ['%s=%r (PromptDA %s has %r)' % (k, got, spec.name, want)
           for k, (got, want) in checks.items() if got != want]
    if bad:
        raise CheckpointError('config is not a PromptDA %s network: %s'
                              % (spec.name, '; '.join(bad)))
    return spec


def hf_config_from_json(path: str) -> PromptDepthAnythingConfig:
    """Read a transformers ``config.json`` (local file, no hub) into a config object."""
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CheckpointError('config file not found: %s' % path) from None
    except json.JSONDecodeError as exc:
        raise CheckpointError('config file %s is not valid JSON: %s' % (path, exc)) from None
    if data.get('model_type') != HF_MODEL_TYPE:
        raise CheckpointError('%s: model_type is %r, expected %r'
                              % (path, data.get('model_type'), HF_MODEL_TYPE))
    data = {k: v for k, v in data.items() if k not in ('transformers_version', 'architectures')}
    return PromptDepthAnythingConfig(**data)


def write_hf_config(spec: EncoderSpec, directory: str) -> str:
    """Write ``config.json`` for ``spec`` into ``directory``; return its path."""
    config = build_hf_config(spec)
    config.architectures = ['PromptDepthAnythingForDepthEstimation']
    path = os.path.join(directory, 'config.json')
    config.to_json_file(path)
    return path


# The official DINOv2 (as vendored by PromptDA) resizes the 37 x 37 position embeddings with
# bicubic interpolation at scale factor (n + 0.1) / 37, n = patches along that axis; transformers
# 5 resizes to size (n, n) instead, which samples the grid at slightly different places.
# The offset matters: with the official rule outputs match the reference to < 1e-4 m, without it
# they differ by centimetres.
POS_EMBED_OFFSET = 0.1


def _official_interpolate_pos_encoding(self, embeddings: torch.Tensor, height: int,
                                       width: int) -> torch.Tensor:
    """Position embeddings for an (height, width) image, resized as the official DINOv2 does.

    Returns (1, 1 + (height/14)*(width/14), C) float, class token first.
    """
    num_patches = embeddings.shape[1] - 1
    pos = self.position_embeddings
    num_positions = pos.shape[1] - 1
    if not torch.jit.is_tracing() and num_patches == num_positions and height == width:
        return pos
    dim = embeddings.shape[-1]
    side = int(math.sqrt(num_positions))
    patch_h, patch_w = self.patch_embeddings.patch_size
    grid = pos[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2).to(torch.float32)
    # Plain Python floats (also while tracing for export: the graph is built for one size).
    scale = ((int(height) // patch_h + POS_EMBED_OFFSET) / math.sqrt(num_positions),
             (int(width) // patch_w + POS_EMBED_OFFSET) / math.sqrt(num_positions))
    grid = nn.functional.interpolate(grid, scale_factor=scale, mode='bicubic',
                                     align_corners=False, antialias=False)
    grid = grid.to(pos.dtype).permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((pos[:, :1], grid), dim=1)


class PromptDANetwork(nn.Module):
    """PromptDA: (normalised RGB, metric prompt) -> metric depth; see the module docstring."""

    def __init__(self, spec: EncoderSpec):
        super().__init__()
        self.spec = spec
        self.hf = PromptDepthAnythingForDepthEstimation(build_hf_config(spec))
        embeddings = self.hf.backbone.embeddings
        embeddings.interpolate_pos_encoding = types.MethodType(
            _official_interpolate_pos_encoding, embeddings)
        self.hf.eval()

    def expected_shapes(self) -> dict:
        """Return ``{transformers key: shape tuple}`` of every tensor the network holds."""
        return {k: tuple(v.shape) for k, v in self.hf.state_dict().items()}

    def load_hf_state_dict(self, state_dict: dict, source: str = 'checkpoint',
                           assign: bool = False) -> None:
        """Load a transformers-keyed state dict, strictly (keys and shapes must match).

        ``assign=True`` takes the tensors over (for a network built on the meta device).
        """
        expected = self.expected_shapes()
        missing = sorted(set(expected) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(expected))
        wrong = sorted('%s: %s vs model %s' % (k, tuple(state_dict[k].shape), expected[k])
                       for k in set(expected) & set(state_dict)
                       if tuple(state_dict[k].shape) != expected[k])
        if missing or unexpected or wrong:
            raise CheckpointError(
                '%s does not match the PromptDA %s network: %s'
                % (source, self.spec.name, describe_mismatch(missing, unexpected, wrong)))
        self.hf.load_state_dict(state_dict, strict=True, assign=assign)

    def hf_state_dict(self) -> dict:
        """Return the network's tensors under transformers keys (detached, on their device)."""
        return {k: v.detach() for k, v in self.hf.state_dict().items()}

    def fusion_output_convs(self) -> list:
        """Return the 4 zero-initialised last convs of the prompt-fusion branches."""
        layers = self.hf.neck.fusion_stage.layers
        return [layer.prompt_depth_layer.convolution3 for layer in layers]

    def fusion_branches(self) -> list:
        """Return the 4 prompt-fusion branches (conv-ReLU-conv-ReLU-conv) of the decoder."""
        return [layer.prompt_depth_layer for layer in self.hf.neck.fusion_stage.layers]

    def set_attention(self, implementation: str) -> None:
        """Choose the ViT attention kernel: 'sdpa' (default, fast) or 'eager' (plain matmuls).

        'eager' lets ``torch.utils.flop_counter`` see the attention FLOPs, which it does not
        count inside the fused CPU SDPA kernel.
        """
        if implementation not in ('sdpa', 'eager'):
            raise ValueError("attention must be 'sdpa' or 'eager', got %r" % (implementation,))
        self.hf.backbone.config._attn_implementation = implementation

    def forward_without_prompt(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Run the network with the prompt-fusion branches skipped (Depth Anything path).

        Args:
            pixel_values: (B, 3, H, W) float, ImageNet-normalised RGB.

        Returns:
            (B, H, W) relative output in (0, 1) (no metric scale without a prompt).
        """
        _, _, height, width = pixel_values.shape
        patch_h, patch_w = height // self.spec.patch_size, width // self.spec.patch_size
        features = self.hf.backbone(pixel_values).feature_maps
        hidden = self.hf.neck(list(features), patch_h, patch_w, prompt_depth=None)
        return self.hf.head(hidden, patch_h, patch_w)

    def forward(self, pixel_values: torch.Tensor, prompt_m: torch.Tensor) -> torch.Tensor:
        """Predict metric depth.

        Args:
            pixel_values: (B, 3, H, W) float, RGB in [0, 1] minus ImageNet mean over std;
                H and W multiples of 14.
            prompt_m: (B, 1, h, w) float metres, dense (no holes).

        Returns:
            (B, H, W) float metres.
        """
        batch, _, height, width = pixel_values.shape
        patch_h, patch_w = height // self.spec.patch_size, width // self.spec.patch_size
        features = self.hf.backbone(pixel_values).feature_maps
        flat = prompt_m.reshape(batch, -1)
        lo = flat.min(dim=1).values.view(batch, 1, 1, 1)
        hi = flat.max(dim=1).values.view(batch, 1, 1, 1)
        span = hi - lo
        safe_span = torch.where(span > 0, span, torch.ones_like(span))
        prompt_n = (prompt_m - lo) / safe_span
        hidden = self.hf.neck(list(features), patch_h, patch_w, prompt_depth=prompt_n)
        relative = self.hf.head(hidden, patch_h, patch_w)  # (B, H, W) in (0, 1)
        return relative * span.view(batch, 1, 1) + lo.view(batch, 1, 1)
