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

Reduced precision (the caller's ``torch.autocast``, fp16 / bf16) applies to the ViT blocks only:
the patch embedding, the prompt min / max normalisation, the DPT decoder (neck, prompt fusion,
head and its output activation) and the de-normalisation always run in float32. On the
conformance vectors with bf16 this keeps the output within 5 mm of float32 where autocast over
the whole network is 2-3 cm off (``docs/network.md``, Precision).
"""

import json
import math
import os
import types

import torch
from torch import nn
from transformers import (
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    Dinov2Config,
    PromptDepthAnythingConfig,
    PromptDepthAnythingForDepthEstimation,
)
from transformers.models.prompt_depth_anything.modeling_prompt_depth_anything import (
    PromptDepthAnythingLayer,
)

from promptda_ros.core.errors import CheckpointError
from promptda_ros.model.config import (
    encoder_from_embed_dim,
    ENCODERS,
    EncoderSpec,
    PATCH_SIZE,
    PRETRAIN_IMAGE_SIZE,
    shape_mismatch,
)

HF_MODEL_TYPE = 'prompt_depth_anything'
DA_MODEL_TYPE = 'depth_anything'


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


def _custom_spec_from_hf_config(config) -> EncoderSpec:
    """Read an explicit (non-published) encoder spec off a transformers config."""
    backbone = config.backbone_config
    try:
        return EncoderSpec(
            name=getattr(config, 'promptda_ros_encoder', None) or 'custom',
            embed_dim=int(backbone.hidden_size), depth=int(backbone.num_hidden_layers),
            num_heads=int(backbone.num_attention_heads), features=int(config.fusion_hidden_size),
            out_channels=tuple(config.neck_hidden_sizes),
            intermediate_layers=tuple(int(i) - 1 for i in backbone.out_indices),
            mlp_ratio=int(backbone.mlp_ratio))
    except (TypeError, ValueError) as exc:  # CheckpointError is a ValueError too
        raise CheckpointError('config is not a PromptDA network: %s' % exc) from None


def spec_from_hf_config(config) -> EncoderSpec:
    """Return the :class:`EncoderSpec` a transformers config describes; CheckpointError if none.

    A config whose ViT width is a published size's must match that size exactly; any other
    width is read as an explicit spec (its name from ``promptda_ros_encoder``, else 'custom').
    """
    backbone = config.backbone_config
    if any(s.embed_dim == backbone.hidden_size for s in ENCODERS.values()):
        spec = encoder_from_embed_dim(backbone.hidden_size)
    else:
        spec = _custom_spec_from_hf_config(config)
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


def _config_from_json(cls, path: str, model_type: str, what: str):
    """Read a local ``config.json`` of ``model_type`` into transformers' config class ``cls``.

    Raises:
        CheckpointError: the file is missing, not JSON, not a JSON object, of another model
            type, or holds values the config class rejects.
    """
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CheckpointError('config file not found: %s' % path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError('config file %s is not valid JSON: %s' % (path, exc)) from None
    if not isinstance(data, dict):
        raise CheckpointError('config file %s must hold a JSON object, got %s'
                              % (path, type(data).__name__))
    if data.get('model_type') != model_type:
        raise CheckpointError('%s: model_type is %r, expected %r (%s)'
                              % (path, data.get('model_type'), model_type, what))
    data = {k: v for k, v in data.items() if k not in ('transformers_version', 'architectures')}
    try:
        return cls(**data)
    except Exception as exc:  # transformers / huggingface_hub validation errors of any type
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ''
        raise CheckpointError('config file %s has invalid values for %s (%s%s)'
                              % (path, what, type(exc).__name__,
                                 ': ' + detail if detail else '')) from None


def hf_config_from_json(path: str) -> PromptDepthAnythingConfig:
    """Read a transformers ``config.json`` (local file, no hub) into a config object."""
    return _config_from_json(PromptDepthAnythingConfig, path, HF_MODEL_TYPE, 'PromptDA')


def write_hf_config(spec: EncoderSpec, directory: str) -> str:
    """Write ``config.json`` for ``spec`` into ``directory``; return its path."""
    config = build_hf_config(spec)
    config.architectures = ['PromptDepthAnythingForDepthEstimation']
    if not spec.is_published:
        config.promptda_ros_encoder = spec.name
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


def _keep_float32(module: nn.Module) -> None:
    """Make ``module`` (one tensor in, one out) run in float32 inside an autocast region too.

    Its input is cast to the dtype of its parameters; its output keeps that dtype.
    """
    forward = module.forward

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return forward(x.to(next(module.parameters()).dtype))
    module.forward = run


class PromptDANetwork(nn.Module):
    """PromptDA: (normalised RGB, metric prompt) -> metric depth; see the module docstring."""

    def __init__(self, spec: EncoderSpec):
        super().__init__()
        self.spec = spec
        self.hf = PromptDepthAnythingForDepthEstimation(build_hf_config(spec))
        embeddings = self.hf.backbone.embeddings
        embeddings.interpolate_pos_encoding = types.MethodType(
            _official_interpolate_pos_encoding, embeddings)
        _keep_float32(embeddings.patch_embeddings)
        self.hf.eval()

    def expected_shapes(self) -> dict:
        """Return ``{transformers key: shape tuple}`` of every tensor the network holds."""
        return {k: tuple(v.shape) for k, v in self.hf.state_dict().items()}

    def load_hf_state_dict(self, state_dict: dict, source: str = 'checkpoint',
                           assign: bool = False) -> None:
        """Load a transformers-keyed state dict, strictly (keys and shapes must match).

        ``assign=True`` takes the tensors over (for a network built on the meta device).
        """
        problem = shape_mismatch(state_dict, self.expected_shapes())
        if problem:
            raise CheckpointError('%s does not match the PromptDA %s network: %s'
                                  % (source, self.spec.name, problem))
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
        features = self._encode(pixel_values)
        with torch.autocast(pixel_values.device.type, enabled=False):
            hidden = self.hf.neck(features, patch_h, patch_w, prompt_depth=None)
            return self.hf.head(hidden, patch_h, patch_w)

    def _encode(self, pixel_values: torch.Tensor) -> list:
        """Run the ViT (under the caller's autocast, if any).

        Returns the 4 intermediate token maps, float32 (B, 1 + N, C): class token first, N =
        (H / 14) * (W / 14) patches, C = embed_dim.
        """
        features = self.hf.backbone(pixel_values).feature_maps
        return [f.float() for f in features]

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
        features = self._encode(pixel_values)
        with torch.autocast(pixel_values.device.type, enabled=False):
            prompt_m = prompt_m.float()
            flat = prompt_m.reshape(batch, -1)
            lo = flat.min(dim=1).values.view(batch, 1, 1, 1)
            hi = flat.max(dim=1).values.view(batch, 1, 1, 1)
            span = hi - lo
            safe_span = torch.where(span > 0, span, torch.ones_like(span))
            prompt_n = (prompt_m - lo) / safe_span
            hidden = self.hf.neck(features, patch_h, patch_w, prompt_depth=prompt_n)
            relative = self.hf.head(hidden, patch_h, patch_w)  # (B, H, W) in (0, 1)
            return relative * span.view(batch, 1, 1) + lo.view(batch, 1, 1)


# ---------------------------------------------------------------- Depth Anything V2
# PromptDA is Depth Anything V2 plus one prompt-fusion branch per decoder fusion block; the
# transformers ports of both name every shared tensor the same way.


def build_depth_anything_config(spec: EncoderSpec, depth_estimation_type: str = 'relative',
                                max_depth: float | None = None) -> DepthAnythingConfig:
    """Return the transformers config of Depth Anything V2 with encoder ``spec``.

    ``depth_estimation_type`` 'relative' (ReLU head, disparity-like output) or 'metric' (sigmoid
    times ``max_depth`` metres).
    """
    prompt = build_hf_config(spec)
    return DepthAnythingConfig(
        backbone_config=prompt.backbone_config,
        patch_size=spec.patch_size,
        reassemble_hidden_size=spec.embed_dim,
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=list(spec.out_channels),
        fusion_hidden_size=spec.features,
        head_hidden_size=32,
        depth_estimation_type=depth_estimation_type,
        max_depth=1 if max_depth is None else max_depth,
    )


def depth_anything_config_from_json(path: str) -> DepthAnythingConfig:
    """Read a Depth Anything ``config.json`` (local file, no hub); CheckpointError if not one."""
    return _config_from_json(DepthAnythingConfig, path, DA_MODEL_TYPE, 'Depth Anything V2')


def spec_from_depth_anything_config(config) -> EncoderSpec:
    """Return the encoder spec of a Depth Anything config (published size when it is one)."""
    if config.depth_estimation_type not in ('relative', 'metric'):
        raise CheckpointError('unknown Depth Anything head type %r'
                              % (config.depth_estimation_type,))
    as_prompt = PromptDepthAnythingConfig(
        backbone_config=config.backbone_config, patch_size=config.patch_size,
        reassemble_hidden_size=config.reassemble_hidden_size,
        reassemble_factors=list(config.reassemble_factors),
        neck_hidden_sizes=list(config.neck_hidden_sizes),
        fusion_hidden_size=config.fusion_hidden_size, head_hidden_size=config.head_hidden_size,
        depth_estimation_type='metric', max_depth=None)
    bad = []
    if list(config.reassemble_factors) != [4, 2, 1, 0.5]:
        bad.append('reassemble_factors=%r' % (list(config.reassemble_factors),))
    if config.head_hidden_size != 32:
        bad.append('head_hidden_size=%r' % (config.head_hidden_size,))
    if config.reassemble_hidden_size != config.backbone_config.hidden_size:
        bad.append('reassemble_hidden_size=%r' % (config.reassemble_hidden_size,))
    if bad:
        raise CheckpointError('config is not a Depth Anything V2 network: %s' % '; '.join(bad))
    return spec_from_hf_config(as_prompt)


def depth_anything_model(spec: EncoderSpec, state_dict: dict, device: str = 'cpu',
                         depth_estimation_type: str = 'relative', max_depth: float | None = None,
                         source: str = 'checkpoint') -> DepthAnythingForDepthEstimation:
    """Build transformers' Depth Anything V2 holding exactly ``state_dict`` (strict), in eval mode.

    The ViT position embeddings are resized as the official DINOv2 does (see
    :data:`POS_EMBED_OFFSET`), like :class:`PromptDANetwork`.

    Args:
        spec: encoder size.
        state_dict: transformers-keyed tensors of ``DepthAnythingForDepthEstimation``.
        device: 'cpu' or 'cuda[:N]'.
        depth_estimation_type: 'relative' or 'metric' head.
        max_depth: metres, for a metric head.
        source: name used in error messages.

    Raises:
        CheckpointError: keys or shapes differ from the network (listed).
    """
    config = build_depth_anything_config(spec, depth_estimation_type, max_depth)
    with torch.device('meta'):
        model = DepthAnythingForDepthEstimation(config)
    problem = shape_mismatch(state_dict, {k: tuple(v.shape)
                                          for k, v in model.state_dict().items()})
    if problem:
        raise CheckpointError('%s does not match the Depth Anything V2 %s network: %s'
                              % (source, spec.name, problem))
    state = {k: v.to(device=device, dtype=torch.float32) for k, v in state_dict.items()}
    model.load_state_dict(state, strict=True, assign=True)
    embeddings = model.backbone.embeddings
    embeddings.interpolate_pos_encoding = types.MethodType(
        _official_interpolate_pos_encoding, embeddings)
    return model.eval()


def depth_anything_shapes(spec: EncoderSpec) -> dict:
    """Return ``{transformers key: shape}`` of Depth Anything V2 with encoder ``spec``."""
    with torch.device('meta'):
        model = DepthAnythingForDepthEstimation(build_depth_anything_config(spec))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def fusion_branch_init(spec: EncoderSpec, seed: int = 0) -> dict:
    """Return initial weights of the 4 prompt-fusion branches, transformers keys.

    The first two convolutions of each branch get PyTorch's default initialisation from a
    generator seeded with ``seed``; the last one is all zeros, so a network made of Depth Anything
    V2 weights plus these branches predicts exactly what Depth Anything V2 predicts (before the
    output activation): the paper's starting point.
    """
    config = build_hf_config(spec)
    out = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for i in range(4):
            branch = PromptDepthAnythingLayer(config)
            for key, value in branch.state_dict().items():
                if key.startswith('convolution3.'):
                    value = torch.zeros_like(value)
                out['neck.fusion_stage.layers.%d.prompt_depth_layer.%s' % (i, key)] = \
                    value.detach().clone()
    return out
