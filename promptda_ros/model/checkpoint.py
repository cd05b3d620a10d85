# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""PromptDA checkpoints: reading, writing and converting between the three formats.

Formats:

* ``official``: the Lightning ``model.ckpt`` of DepthAnything/PromptDA, a torch pickle holding
  ``{'state_dict': {'pipeline.<key>': tensor}}``. Read with ``torch.load(weights_only=True)``:
  a pickle that carries code is refused without being executed.
* ``hf``: a transformers ``-hf`` directory (``config.json`` + ``model.safetensors``).
* ``safetensors``: the project's single file, official key names without the ``pipeline.``
  prefix, with metadata ``format=promptda_ros``, ``format_version`` and ``encoder``; a network of
  an explicit size (not vits / vitb / vitl) also stores its spec as JSON under ``spec``.

Keys are translated by the named converters :func:`official_to_hf` and :func:`hf_to_official`
(no prefix slicing): every key must be mapped and every network tensor filled with the right
shape, else a :class:`CheckpointError` lists the differing keys. There is no random-weight
fallback.

Over 500 lines because all checkpoint formats (official, transformers, safetensors) and their
named key converters are one role: loading weights strictly.
"""

from dataclasses import dataclass, field
import json
import os
import pickle
import re
import zipfile

import torch

from promptda_ros.core.errors import CheckpointError
from promptda_ros.model.config import (
    encoder_from_embed_dim,
    encoder_spec,
    ENCODERS,
    EncoderSpec,
    IMAGENET_MEAN,
    IMAGENET_STD,
    shape_mismatch,
)

FORMATS = ('official', 'hf', 'safetensors')
OFFICIAL_PREFIX = 'pipeline.'
PROJECT_FORMAT = 'promptda_ros'
PROJECT_FORMAT_VERSION = '1'
HF_WEIGHTS = 'model.safetensors'
HF_CONFIG = 'config.json'
# Buffers of the official model that the transformers port folds into pre-processing.
NORMALISATION_KEYS = {'_mean': IMAGENET_MEAN, '_std': IMAGENET_STD}

_BLOCK = r'pretrained\.blocks\.(\d+)\.'
_REFINE = r'depth_head\.scratch\.refinenet([1-4])\.'
_HF_LAYER = r'backbone\.encoder\.layer\.(\d+)\.'
_HF_FUSION = r'neck\.fusion_stage\.layers\.([0-3])\.'


def _fusion(i: str) -> str:
    # Official refinenet4 is the first (deepest) fusion block; transformers counts from 0.
    return str(4 - int(i))


# (official regex, transformers template); templates use the regex groups {0}, {1}, ...
_OFFICIAL_TO_HF = [
    (r'pretrained\.cls_token', 'backbone.embeddings.cls_token'),
    (r'pretrained\.mask_token', 'backbone.embeddings.mask_token'),
    (r'pretrained\.pos_embed', 'backbone.embeddings.position_embeddings'),
    (r'pretrained\.patch_embed\.proj\.(weight|bias)',
     'backbone.embeddings.patch_embeddings.projection.{0}'),
    (r'pretrained\.norm\.(weight|bias)', 'backbone.layernorm.{0}'),
    (_BLOCK + r'norm([12])\.(weight|bias)', 'backbone.encoder.layer.{0}.norm{1}.{2}'),
    (_BLOCK + r'ls([12])\.gamma', 'backbone.encoder.layer.{0}.layer_scale{1}.lambda1'),
    (_BLOCK + r'mlp\.fc([12])\.(weight|bias)', 'backbone.encoder.layer.{0}.mlp.fc{1}.{2}'),
    (_BLOCK + r'attn\.proj\.(weight|bias)', 'backbone.encoder.layer.{0}.attention.o_proj.{1}'),
    # attn.qkv is split into three tensors, see _QKV.
    (r'depth_head\.projects\.([0-3])\.(weight|bias)',
     'neck.reassemble_stage.layers.{0}.projection.{1}'),
    (r'depth_head\.resize_layers\.([0-3])\.(weight|bias)',
     'neck.reassemble_stage.layers.{0}.resize.{1}'),
    (r'depth_head\.scratch\.layer([1-4])_rn\.weight', 'neck.convs.{0-1}.weight'),
    (_REFINE + r'out_conv\.(weight|bias)', 'neck.fusion_stage.layers.{F}.projection.{1}'),
    (_REFINE + r'resConfUnit([12])\.conv([12])\.(weight|bias)',
     'neck.fusion_stage.layers.{F}.residual_layer{1}.convolution{2}.{3}'),
    (_REFINE + r'resConfUnit_depth\.([024])\.(weight|bias)',
     'neck.fusion_stage.layers.{F}.prompt_depth_layer.convolution{1/2+1}.{2}'),
    (r'depth_head\.scratch\.output_conv1\.(weight|bias)', 'head.conv1.{0}'),
    (r'depth_head\.scratch\.output_conv2\.0\.(weight|bias)', 'head.conv2.{0}'),
    (r'depth_head\.scratch\.output_conv2\.2\.(weight|bias)', 'head.conv3.{0}'),
]
_QKV = re.compile(_BLOCK + r'attn\.qkv\.(weight|bias)')
# transformers >= 5 names the projections q/k/v/o_proj; -hf directories written by transformers 4
# use attention.attention.{query,key,value} and attention.output.dense. Both are read.
_HF_QKV = re.compile(_HF_LAYER + r'attention\.(?:attention\.)?'
                     r'(query|key|value|q_proj|k_proj|v_proj)\.(weight|bias)')
_QKV_PARTS = ('q_proj', 'k_proj', 'v_proj')
_LEGACY_QKV = {'query': 'q_proj', 'key': 'k_proj', 'value': 'v_proj'}

# Inverse table, transformers regex -> official template.
_HF_TO_OFFICIAL = [
    (r'backbone\.embeddings\.cls_token', 'pretrained.cls_token'),
    (r'backbone\.embeddings\.mask_token', 'pretrained.mask_token'),
    (r'backbone\.embeddings\.position_embeddings', 'pretrained.pos_embed'),
    (r'backbone\.embeddings\.patch_embeddings\.projection\.(weight|bias)',
     'pretrained.patch_embed.proj.{0}'),
    (r'backbone\.layernorm\.(weight|bias)', 'pretrained.norm.{0}'),
    (_HF_LAYER + r'norm([12])\.(weight|bias)', 'pretrained.blocks.{0}.norm{1}.{2}'),
    (_HF_LAYER + r'layer_scale([12])\.lambda1', 'pretrained.blocks.{0}.ls{1}.gamma'),
    (_HF_LAYER + r'mlp\.fc([12])\.(weight|bias)', 'pretrained.blocks.{0}.mlp.fc{1}.{2}'),
    (_HF_LAYER + r'attention\.(?:output\.dense|o_proj)\.(weight|bias)',
     'pretrained.blocks.{0}.attn.proj.{1}'),
    (r'neck\.reassemble_stage\.layers\.([0-3])\.projection\.(weight|bias)',
     'depth_head.projects.{0}.{1}'),
    (r'neck\.reassemble_stage\.layers\.([0-3])\.resize\.(weight|bias)',
     'depth_head.resize_layers.{0}.{1}'),
    (r'neck\.convs\.([0-3])\.weight', 'depth_head.scratch.layer{0+1}_rn.weight'),
    (_HF_FUSION + r'projection\.(weight|bias)', 'depth_head.scratch.refinenet{F}.out_conv.{1}'),
    (_HF_FUSION + r'residual_layer([12])\.convolution([12])\.(weight|bias)',
     'depth_head.scratch.refinenet{F}.resConfUnit{1}.conv{2}.{3}'),
    (_HF_FUSION + r'prompt_depth_layer\.convolution([123])\.(weight|bias)',
     'depth_head.scratch.refinenet{F}.resConfUnit_depth.{1*2-2}.{2}'),
    (r'head\.conv1\.(weight|bias)', 'depth_head.scratch.output_conv1.{0}'),
    (r'head\.conv2\.(weight|bias)', 'depth_head.scratch.output_conv2.0.{0}'),
    (r'head\.conv3\.(weight|bias)', 'depth_head.scratch.output_conv2.2.{0}'),
]
_OFFICIAL_TO_HF_RE = [(re.compile(p + '$'), t) for p, t in _OFFICIAL_TO_HF]
_HF_TO_OFFICIAL_RE = [(re.compile(p + '$'), t) for p, t in _HF_TO_OFFICIAL]


def _fill(template: str, groups: tuple) -> str:
    """Fill a key template; supports {i}, {F} (fusion index flip) and small index arithmetic."""
    def sub(match):
        expr = match.group(1)
        if expr == 'F':
            return _fusion(groups[0])
        if expr.isdigit():
            return groups[int(expr)]
        if expr == '0-1':
            return str(int(groups[0]) - 1)
        if expr == '0+1':
            return str(int(groups[0]) + 1)
        if expr == '1/2+1':
            return str(int(groups[1]) // 2 + 1)
        if expr == '1*2-2':
            return str(int(groups[1]) * 2 - 2)
        raise AssertionError('bad key template ' + template)
    return re.sub(r'\{([^}]+)\}', sub, template)


def _map_key(key: str, table) -> str | None:
    for pattern, template in table:
        match = pattern.match(key)
        if match:
            return _fill(template, match.groups())
    return None


def official_key_to_hf(key: str) -> list:
    """Return the transformers key(s) an official key (no ``pipeline.`` prefix) maps to."""
    match = _QKV.match(key)
    if match:
        block, kind = match.groups()
        return ['backbone.encoder.layer.%s.attention.%s.%s' % (block, part, kind)
                for part in _QKV_PARTS]
    mapped = _map_key(key, _OFFICIAL_TO_HF_RE)
    return [mapped] if mapped else []


def hf_key_to_official(key: str) -> str | None:
    """Return the official key (no prefix) holding a transformers key; qkv parts share one."""
    match = _HF_QKV.match(key)
    if match:
        block, _, kind = match.groups()
        return 'pretrained.blocks.%s.attn.qkv.%s' % (block, kind)
    return _map_key(key, _HF_TO_OFFICIAL_RE)


def strip_official_prefix(state_dict: dict, source: str = 'checkpoint') -> dict:
    """Remove the ``pipeline.`` prefix every key of an official state dict carries.

    Raises:
        CheckpointError: some keys lack the prefix (they are listed).
    """
    bad = sorted(k for k in state_dict if not k.startswith(OFFICIAL_PREFIX))
    if bad:
        raise CheckpointError('%s: %d keys lack the official %r prefix: %s'
                              % (source, len(bad), OFFICIAL_PREFIX, describe_keys(bad)))
    return {k[len(OFFICIAL_PREFIX):]: v for k, v in state_dict.items()}


def add_official_prefix(state_dict: dict) -> dict:
    """Return ``state_dict`` with every key prefixed ``pipeline.`` as in official checkpoints."""
    return {OFFICIAL_PREFIX + k: v for k, v in state_dict.items()}


def describe_keys(keys, limit: int = 12) -> str:
    """Format a list of keys for an error message."""
    keys = sorted(keys)
    more = ' (+%d more)' % (len(keys) - limit) if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def infer_encoder(official: dict, source: str = 'checkpoint') -> EncoderSpec:
    """Infer the encoder size from an official (unprefixed) state dict's ViT width and depth."""
    token = official.get('pretrained.cls_token')
    if token is None:
        token = official.get('pretrained.patch_embed.proj.bias')
    if token is None:
        raise CheckpointError('%s has no pretrained.cls_token / patch_embed tensor: not a '
                              'PromptDA checkpoint (first keys: %s)'
                              % (source, describe_keys(official, 6)))
    spec = encoder_from_embed_dim(int(token.shape[-1]))
    blocks = {int(m.group(1)) for m in (_QKV.match(k) for k in official) if m}
    if blocks and max(blocks) + 1 != spec.depth:
        raise CheckpointError('%s: ViT width %d means %s with %d blocks, but the checkpoint has %d'
                              % (source, spec.embed_dim, spec.name, spec.depth, max(blocks) + 1))
    return spec


def _check_normalisation(official: dict, source: str) -> None:
    for key, want in NORMALISATION_KEYS.items():
        value = official.get(key)
        if value is None:
            continue
        flat = value.detach().float().reshape(-1).cpu()
        if flat.numel() != 3 or not torch.allclose(flat, torch.tensor(want), atol=1e-6):
            raise CheckpointError('%s: %s is %s, expected the ImageNet values %s'
                                  % (source, key, flat.tolist(), list(want)))


def official_to_hf(official: dict, spec: EncoderSpec,
                   source: str = 'checkpoint') -> dict:
    """Convert an official state dict (keys without ``pipeline.``) to transformers keys.

    The qkv projection of each ViT block is split into query / key / value; the ImageNet
    ``_mean`` / ``_std`` buffers are checked and dropped (pre-processing applies them).

    Raises:
        CheckpointError: unmapped keys, or a qkv tensor whose first dim is not 3 * width.
    """
    _check_normalisation(official, source)
    out, unmapped = {}, []
    for key, value in official.items():
        if key in NORMALISATION_KEYS:
            continue
        targets = official_key_to_hf(key)
        if not targets:
            unmapped.append(key)
        elif len(targets) == 3:
            if value.shape[0] != 3 * spec.embed_dim:
                raise CheckpointError('%s: %s has shape %s, expected first dim %d (3 x %d)'
                                      % (source, key, tuple(value.shape), 3 * spec.embed_dim,
                                         spec.embed_dim))
            for target, part in zip(targets, value.chunk(3, dim=0)):
                out[target] = part.clone()
        else:
            out[targets[0]] = value
    if unmapped:
        raise CheckpointError('%s: %d keys are not part of a PromptDA network: %s'
                              % (source, len(unmapped), describe_keys(unmapped)))
    return out


def hf_to_official(hf: dict, source: str = 'checkpoint') -> dict:
    """Convert a transformers state dict to official keys (no prefix), merging q / k / v.

    The ImageNet ``_mean`` / ``_std`` buffers of the official model are added.

    Raises:
        CheckpointError: unmapped keys or an incomplete q / k / v triple.
    """
    out, unmapped = {}, []
    qkv: dict = {}
    for key, value in hf.items():
        target = hf_key_to_official(key)
        if target is None:
            unmapped.append(key)
            continue
        match = _HF_QKV.match(key)
        if match:
            part = _LEGACY_QKV.get(match.group(2), match.group(2))
            qkv.setdefault(target, {})[part] = value
        else:
            out[target] = value
    if unmapped:
        raise CheckpointError('%s: %d keys are not part of a PromptDA network: %s'
                              % (source, len(unmapped), describe_keys(unmapped)))
    for target, parts in qkv.items():
        if set(parts) != set(_QKV_PARTS):
            raise CheckpointError('%s: %s needs q, k and v projections, found only %s'
                                  % (source, target, sorted(parts)))
        out[target] = torch.cat([parts[p] for p in _QKV_PARTS], dim=0)
    for key, values in NORMALISATION_KEYS.items():
        out[key] = torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1)
    return out


@dataclass
class Checkpoint:
    """Weights read from disk: encoder, transformers-keyed tensors, source format and path."""

    spec: EncoderSpec
    hf_state_dict: dict
    format: str
    path: str
    head: dict = field(default_factory=dict)  # Depth Anything V2: head type and max depth


def detect_format(path: str) -> str:
    """Return 'hf' for a directory, 'safetensors' for ``*.safetensors``, else 'official'."""
    if os.path.isdir(path):
        return 'hf'
    if path.endswith('.safetensors'):
        return 'safetensors'
    return 'official'


def _torch_load(path: str) -> object:
    with open(path, 'rb') as f:
        head = f.read(2)
    # torch.save writes a zip archive (torch >= 1.6) or a legacy pickle (protocol 2+: 0x80).
    if not (zipfile.is_zipfile(path) or head[:1] == b'\x80'):
        raise CheckpointError('%s is not a PyTorch checkpoint (not a torch.save zip or pickle, '
                              'or truncated); expected an official model.ckpt, a transformers -hf '
                              'directory or a .safetensors file' % path)
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError('refusing to load %s: it is a pickle carrying Python objects other '
                              'than tensors, which could run code (torch.load weights_only=True '
                              'said: %s)' % (path, first)) from None
    except Exception as exc:  # truncated / corrupt archives fail inside torch in many ways
        raise CheckpointError('cannot read %s as a torch checkpoint (corrupt or truncated?): '
                              '%s: %s' % (path, type(exc).__name__, exc)) from None


def _read_official(path: str) -> dict:
    data = _torch_load(path)
    if isinstance(data, dict) and 'state_dict' in data:
        data = data['state_dict']
    if not isinstance(data, dict) or not all(torch.is_tensor(v) for v in data.values()):
        raise CheckpointError('%s holds no {key: tensor} state_dict (got %s)'
                              % (path, type(data).__name__))
    if any(k.startswith(OFFICIAL_PREFIX) for k in data):
        return strip_official_prefix(data, path)
    return data


def _read_safetensors(path: str) -> tuple:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open
    try:
        with safe_open(path, framework='pt') as f:
            metadata = f.metadata() or {}
        return load_file(path, device='cpu'), metadata
    except (SafetensorError, OSError) as exc:
        raise CheckpointError('cannot read %s as safetensors: %s' % (path, exc)) from None


def _require(path: str) -> None:
    if not os.path.exists(path):
        raise CheckpointError('checkpoint not found: %s' % path)


def read_checkpoint(path: str, encoder: str | None = None) -> Checkpoint:
    """Read any supported checkpoint into transformers keys, checking every key and shape.

    Args:
        path: official ``model.ckpt``, a transformers directory, or a ``.safetensors`` file.
        encoder: 'vits' / 'vitb' / 'vitl' to insist on; None = infer from the weights.

    Raises:
        CheckpointError: missing file, unsafe pickle, unknown layout, wrong encoder, or keys /
            shapes that differ from the network (the differing keys are listed).
    """
    path = os.fspath(path)
    _require(path)
    fmt = detect_format(path)
    if fmt == 'hf':
        from promptda_ros.model.hf_adapter import hf_config_from_json, spec_from_hf_config
        config_path = os.path.join(path, HF_CONFIG)
        weights_path = os.path.join(path, HF_WEIGHTS)
        for needed in (config_path, weights_path):
            if not os.path.isfile(needed):
                raise CheckpointError('checkpoint not found: %s (a checkpoint directory must be '
                                      'a transformers -hf folder: %s + %s)'
                                      % (needed, HF_CONFIG, HF_WEIGHTS))
        spec = spec_from_hf_config(hf_config_from_json(config_path))
        hf, _ = _read_safetensors(weights_path)
        official = hf_to_official(hf, weights_path)
    elif fmt == 'safetensors':
        official, metadata = _read_safetensors(path)
        custom = metadata.get('spec')
        if metadata.get('format') not in (None, 'pt', PROJECT_FORMAT):
            raise CheckpointError('%s: unknown safetensors format %r'
                                  % (path, metadata.get('format')))
        if metadata.get('format') == PROJECT_FORMAT and \
                metadata.get('format_version') != PROJECT_FORMAT_VERSION:
            raise CheckpointError('%s: format_version %r not supported (expected %r)'
                                  % (path, metadata.get('format_version'),
                                     PROJECT_FORMAT_VERSION))
        if any(k.startswith('backbone.') for k in official):
            official = hf_to_official(official, path)
        elif any(k.startswith(OFFICIAL_PREFIX) for k in official):
            official = strip_official_prefix(official, path)
        spec = EncoderSpec.from_json(custom, path) if custom else infer_encoder(official, path)
        if metadata.get('encoder') not in (None, spec.name):
            raise CheckpointError('%s: metadata says encoder %r but the weights are %s'
                                  % (path, metadata['encoder'], spec.name))
    else:
        return _official_checkpoint(_read_official(path), path, encoder)
    return _checked(official, spec, fmt, path, encoder)


def _official_checkpoint(official: dict, path: str, encoder=None) -> Checkpoint:
    return _checked(official, infer_encoder(official, path), 'official', path, encoder)


def _checked(official: dict, spec: EncoderSpec, fmt: str, path: str, encoder) -> Checkpoint:
    if encoder is not None and encoder_spec(encoder) != spec:
        raise CheckpointError('%s holds a %s network (ViT width %d), not the requested %s'
                              % (path, spec.name, spec.embed_dim,
                                 getattr(encoder, 'name', encoder)))
    check_official_keys(official, spec, path)
    return Checkpoint(spec, official_to_hf(official, spec, path), fmt, path)


def expected_official_shapes(spec: EncoderSpec) -> dict:
    """Return ``{official key (no prefix): shape}`` of every tensor of the ``spec`` network."""
    if spec not in _SHAPE_CACHE:
        _SHAPE_CACHE[spec] = _official_shapes(spec)
    return dict(_SHAPE_CACHE[spec])


_SHAPE_CACHE: dict = {}


def _official_shapes(spec: EncoderSpec) -> dict:
    from promptda_ros.model.hf_adapter import PromptDANetwork
    with torch.device('meta'):
        shapes = PromptDANetwork(spec).expected_shapes()
    out = {}
    for key, shape in shapes.items():
        target = hf_key_to_official(key)
        if target is None:
            raise CheckpointError('network tensor %s has no official name' % key)
        if _HF_QKV.match(key):
            shape = (3 * shape[0],) + tuple(shape[1:])
        out[target] = tuple(shape)
    for key in NORMALISATION_KEYS:
        out[key] = (1, 3, 1, 1)
    return out


def check_official_keys(official: dict, spec: EncoderSpec, source: str = 'checkpoint') -> None:
    """Check an official (unprefixed) state dict holds exactly the ``spec`` network's tensors.

    The ``_mean`` / ``_std`` buffers are optional. Raises CheckpointError naming the missing,
    unexpected and wrongly shaped keys.
    """
    problem = shape_mismatch(official, expected_official_shapes(spec), NORMALISATION_KEYS)
    if problem:
        raise CheckpointError('%s is not a PromptDA %s checkpoint: %s'
                              % (source, spec.name, problem))


def load_network(path: str, encoder: str | None = None, device: str = 'cpu'):
    """Read a checkpoint and return a :class:`PromptDANetwork` in eval mode on ``device``."""
    ckpt = read_checkpoint(path, encoder)
    return network_from_state_dict(ckpt.spec, ckpt.hf_state_dict, device, source=ckpt.path)


def network_from_state_dict(spec: EncoderSpec, hf_state_dict: dict, device: str = 'cpu',
                            source: str = 'state_dict'):
    """Build a :class:`PromptDANetwork` holding exactly ``hf_state_dict`` (no random init)."""
    from promptda_ros.model.hf_adapter import PromptDANetwork
    with torch.device('meta'):
        network = PromptDANetwork(spec)
    state = {k: v.to(device=device, dtype=torch.float32) for k, v in hf_state_dict.items()}
    network.load_hf_state_dict(state, source=source, assign=True)
    return network.eval()


# ---------------------------------------------------------------- Depth Anything V2
# Official Depth Anything V2 ``.pth`` files are plain state dicts under the same official key
# names as PromptDA (``pretrained.*``, ``depth_head.*``) minus the prompt-fusion branches
# ``depth_head.scratch.refinenet<i>.resConfUnit_depth.*`` and the ``_mean`` / ``_std`` buffers.
_FUSION_BRANCH = re.compile(r'depth_head\.scratch\.refinenet[1-4]\.resConfUnit_depth\.')
DA_FORMATS = ('da2-official', 'da2-hf')


def expected_depth_anything_shapes(spec: EncoderSpec) -> dict:
    """Return ``{official key: shape}`` of every tensor of Depth Anything V2 with ``spec``."""
    return {k: v for k, v in expected_official_shapes(spec).items()
            if not _FUSION_BRANCH.match(k) and k not in NORMALISATION_KEYS}


def _is_depth_anything_dir(path: str) -> bool:
    try:
        with open(os.path.join(path, HF_CONFIG), encoding='utf-8') as f:
            return json.load(f).get('model_type') == 'depth_anything'
    except (OSError, ValueError, AttributeError):
        return False


def _depth_anything_from_official(official: dict, path: str, fmt: str,
                                  encoder=None, head: dict | None = None) -> Checkpoint:
    if any(_FUSION_BRANCH.match(k) for k in official):
        raise CheckpointError('%s holds a PromptDA network (it has prompt-fusion branches), not '
                              'Depth Anything V2' % path)
    spec = encoder_spec(encoder) if encoder is not None else infer_encoder(official, path)
    present = {k: v for k, v in official.items() if k not in NORMALISATION_KEYS}
    problem = shape_mismatch(present, expected_depth_anything_shapes(spec))
    if problem:
        raise CheckpointError('%s is not a Depth Anything V2 %s checkpoint: %s'
                              % (path, spec.name, problem))
    return Checkpoint(spec, official_to_hf(official, spec, path), fmt, path, dict(head or {}))


def read_depth_anything_v2(path: str, encoder=None) -> Checkpoint:
    """Read Depth Anything V2 weights into the transformers keys of its port.

    Args:
        path: an official ``depth_anything_v2_<enc>.pth`` state dict, or a transformers ``-hf``
            directory (``config.json`` with model_type 'depth_anything' + model.safetensors).
        encoder: 'vits' / 'vitb' / 'vitl', 'tiny' or an :class:`EncoderSpec`; needed for a
            ``.pth`` of a size that is not published, else inferred (the -hf config says it).

    Returns:
        :class:`Checkpoint` with format 'da2-official' or 'da2-hf'; ``head`` holds the config's
        ``depth_estimation_type`` / ``max_depth`` (relative, for a ``.pth``).

    Raises:
        CheckpointError: missing file, a PromptDA checkpoint, keys or shapes of another network.
    """
    path = os.fspath(path)
    _require(path)
    if os.path.isdir(path):
        from promptda_ros.model.hf_adapter import (
            depth_anything_config_from_json,
            spec_from_depth_anything_config,
        )
        config_path = os.path.join(path, HF_CONFIG)
        weights_path = os.path.join(path, HF_WEIGHTS)
        for needed in (config_path, weights_path):
            if not os.path.isfile(needed):
                raise CheckpointError('checkpoint not found: %s (a Depth Anything V2 directory '
                                      'needs %s + %s)' % (needed, HF_CONFIG, HF_WEIGHTS))
        config = depth_anything_config_from_json(config_path)
        spec = spec_from_depth_anything_config(config)
        if encoder is not None and encoder_spec(encoder) != spec:
            raise CheckpointError('%s holds a %s network, not the requested %s'
                                  % (path, spec.name, getattr(encoder, 'name', encoder)))
        hf, _ = _read_safetensors(weights_path)
        head = {'depth_estimation_type': config.depth_estimation_type,
                'max_depth': config.max_depth}
        return _depth_anything_from_official(hf_to_official(hf, weights_path), path, 'da2-hf',
                                             spec, head)
    if path.endswith('.safetensors'):
        raise CheckpointError('%s: Depth Anything V2 weights are an official .pth or a -hf '
                              'directory' % path)
    return _depth_anything_from_official(_read_official(path), path, 'da2-official', encoder,
                                         {'depth_estimation_type': 'relative', 'max_depth': None})


def load_depth_anything_v2(path: str, device: str = 'cpu', encoder=None):
    """Load Depth Anything V2 as transformers' ``DepthAnythingForDepthEstimation`` (eval mode).

    The weights are checked key by key and loaded strictly; nothing is downloaded. A ``.pth`` is
    taken as the relative (disparity) model; a ``-hf`` directory's config chooses the head.
    The model maps ImageNet-normalised RGB (B, 3, H, W), H and W multiples of 14, to
    ``predicted_depth`` (B, H, W): relative disparity (larger = nearer) for the relative head.

    Raises:
        CheckpointError: see :func:`read_depth_anything_v2`.
    """
    from promptda_ros.model.hf_adapter import depth_anything_model
    ckpt = read_depth_anything_v2(path, encoder)
    return depth_anything_model(ckpt.spec, ckpt.hf_state_dict, device,
                                ckpt.head.get('depth_estimation_type', 'relative'),
                                ckpt.head.get('max_depth'), source=ckpt.path)


def read_start_checkpoint(path: str, encoder=None, seed: int = 0) -> Checkpoint:
    """Read the starting weights of a training run: PromptDA, or Depth Anything V2 + fusion.

    PromptDA checkpoints in any format are read by :func:`read_checkpoint`. Depth Anything V2
    weights (official ``.pth`` or ``-hf`` directory) get the four prompt-fusion branches of
    :func:`~promptda_ros.model.hf_adapter.fusion_branch_init` (last convolution zero), the
    PromptDA paper's initialisation.

    Raises:
        CheckpointError: unreadable or wrong-architecture weights.
    """
    path = os.fspath(path)
    _require(path)
    if os.path.isdir(path) and _is_depth_anything_dir(path):
        ckpt = read_depth_anything_v2(path, encoder)
    elif os.path.isdir(path) or path.endswith('.safetensors'):
        return read_checkpoint(path, encoder)
    else:
        official = _read_official(path)
        if any(_FUSION_BRANCH.match(k) for k in official):
            return _official_checkpoint(official, path, encoder)
        ckpt = _depth_anything_from_official(official, path, 'da2-official', encoder)
    from promptda_ros.model.hf_adapter import fusion_branch_init
    state = dict(ckpt.hf_state_dict)
    state.update(fusion_branch_init(ckpt.spec, seed))
    return Checkpoint(ckpt.spec, state, ckpt.format, ckpt.path)


def save_checkpoint(spec: EncoderSpec, hf_state_dict: dict, path: str, fmt: str) -> str:
    """Write weights in format ``fmt`` ('official', 'hf' or 'safetensors'); return the path."""
    path = os.fspath(path)
    tensors = {k: v.detach().to('cpu', torch.float32).contiguous()
               for k, v in hf_state_dict.items()}
    if fmt == 'official':
        if not spec.is_published:
            raise CheckpointError('the official format holds only the published vits / vitb / '
                                  'vitl networks, not %s (width %d, %d blocks); save it as '
                                  'safetensors or hf' % (spec.name, spec.embed_dim, spec.depth))
        official = hf_to_official(tensors)
        torch.save({'state_dict': add_official_prefix(official)}, path)
    elif fmt == 'hf':
        from safetensors.torch import save_file

        from promptda_ros.model.hf_adapter import write_hf_config
        os.makedirs(path, exist_ok=True)
        write_hf_config(spec, path)
        save_file(tensors, os.path.join(path, HF_WEIGHTS), metadata={'format': 'pt'})
    elif fmt == 'safetensors':
        from safetensors.torch import save_file
        official = {k: v.contiguous() for k, v in hf_to_official(tensors).items()}
        metadata = {'format': PROJECT_FORMAT, 'format_version': PROJECT_FORMAT_VERSION,
                    'encoder': spec.name}
        if not spec.is_published:
            metadata['spec'] = spec.to_json()
        save_file(official, path, metadata=metadata)
    else:
        raise CheckpointError('unknown checkpoint format %r; choose one of %s'
                              % (fmt, ', '.join(FORMATS)))
    return path


def convert_checkpoint(src: str, dst: str, fmt: str, encoder: str | None = None) -> Checkpoint:
    """Read ``src`` (any format), write it to ``dst`` in ``fmt``; return what was read."""
    if fmt not in FORMATS:
        raise CheckpointError('unknown checkpoint format %r; choose one of %s'
                              % (fmt, ', '.join(FORMATS)))
    check_destination(dst, fmt)
    ckpt = read_checkpoint(src, encoder)
    try:
        save_checkpoint(ckpt.spec, ckpt.hf_state_dict, dst, fmt)
    except Exception as exc:  # safetensors raises its own error type for I/O failures
        if isinstance(exc, (CheckpointError, KeyboardInterrupt)):
            raise
        raise CheckpointError('cannot write %s: %s' % (dst, exc)) from None
    return ckpt


def check_destination(dst: str, fmt: str) -> None:
    """Refuse a destination that :func:`read_checkpoint` would not read back as ``fmt``.

    Raises:
        CheckpointError: a ``safetensors`` file not named ``*.safetensors``, an ``official``
            file named ``*.safetensors`` or that is a directory, an ``hf`` directory that is an
            existing file, or a missing parent folder.
    """
    dst = os.fspath(dst)
    parent = os.path.dirname(os.path.abspath(dst))
    if fmt == 'hf':
        if os.path.isfile(dst):
            raise CheckpointError('%s is an existing file; the hf format is a directory '
                                  '(config.json + model.safetensors)' % dst)
        return
    if os.path.isdir(dst):
        raise CheckpointError('%s is a directory; the %s format is a single file' % (dst, fmt))
    if not os.path.isdir(parent):
        raise CheckpointError('folder %s does not exist' % parent)
    if fmt == 'safetensors' and not dst.endswith('.safetensors'):
        raise CheckpointError('a safetensors checkpoint must be named *.safetensors (that is how '
                              'loaders recognise it), got %s' % dst)
    if fmt == 'official' and dst.endswith('.safetensors'):
        raise CheckpointError('%s would be read back as safetensors; name an official '
                              'checkpoint e.g. model.ckpt' % dst)


def manifest_shapes(manifest_path: str) -> dict:
    """Read a reference manifest JSON: ``{official key with prefix: shape tuple}``."""
    with open(manifest_path, encoding='utf-8') as f:
        data = json.load(f)
    return {k: tuple(s) for k, s in data['tensors']}


__all__ = ['Checkpoint', 'ENCODERS', 'FORMATS', 'check_official_keys', 'convert_checkpoint',
           'detect_format', 'expected_depth_anything_shapes', 'expected_official_shapes',
           'hf_to_official', 'infer_encoder', 'load_depth_anything_v2', 'load_network',
           'network_from_state_dict', 'official_to_hf', 'read_checkpoint',
           'read_depth_anything_v2', 'read_start_checkpoint', 'save_checkpoint']
