# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Architecture description of the PromptDA network for the three encoder sizes.

The numbers are those of the official PromptDA code (DINOv2 ViT encoder, patch 14, DPT decoder
with a prompt-fusion branch in each of its four fusion blocks)::

    rgb (B,3,H,W) --DINOv2 ViT-{S,B,L}/14--> 4 intermediate token maps (B, H/14*W/14, C)
        --reassemble (1x1 conv + resize x4, x2, x1, x0.5)--> 4 maps, channels = out_channels
        --3x3 conv to `features`--> fusion blocks 4..1, each:  x + RCU1(skip) -> RCU2
            -> + prompt branch(bilinear(prompt_norm)) -> upsample x2 -> 1x1 conv
        --head: conv3x3 F->F/2, upsample to (H, W), conv3x3 F/2->32, ReLU, conv1x1 32->1, sigmoid
    depth = sigmoid * (prompt_max - prompt_min) + prompt_min      (per sample, metres)

Besides the three published sizes, an explicit :class:`EncoderSpec` (see :func:`custom_spec`,
e.g. :data:`TINY`: width 32, 4 blocks, 16 decoder features) builds the same architecture at any
size, for tests and small experiments. Such a network is saved in the ``safetensors`` or ``hf``
format with its spec inside (the official format only knows vits / vitb / vitl).
"""

from dataclasses import asdict, dataclass, field
import json

from promptda_ros.core.errors import CheckpointError

PATCH_SIZE = 14
# Size DINOv2 was trained at: 518 / 14 = 37 patches a side, 37 * 37 + 1 = 1370 position tokens.
PRETRAIN_IMAGE_SIZE = 518
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class EncoderSpec:
    """One encoder size of PromptDA (vits / vitb / vitl, or an explicit one).

    Two specs are equal when they describe the same architecture; the name is a label only.
    """

    name: str = field(compare=False)
    embed_dim: int
    depth: int
    num_heads: int
    features: int
    out_channels: tuple
    intermediate_layers: tuple  # 0-based block indices whose outputs feed the decoder
    mlp_ratio: int = 4
    patch_size: int = PATCH_SIZE

    def __post_init__(self):
        object.__setattr__(self, 'out_channels', tuple(int(c) for c in self.out_channels))
        object.__setattr__(self, 'intermediate_layers',
                           tuple(int(i) for i in self.intermediate_layers))
        if len(self.out_channels) != 4 or len(self.intermediate_layers) != 4:
            raise CheckpointError('encoder %r: need 4 out_channels and 4 intermediate layers'
                                  % self.name)
        if min(self.embed_dim, self.depth, self.num_heads, self.features, self.mlp_ratio,
               min(self.out_channels)) < 1:
            raise CheckpointError('encoder %r: sizes must be >= 1' % self.name)
        if self.embed_dim % self.num_heads:
            raise CheckpointError('encoder %r: embed_dim %d not divisible by %d heads'
                                  % (self.name, self.embed_dim, self.num_heads))
        layers = self.intermediate_layers
        if list(layers) != sorted(set(layers)) or layers[0] < 0 or layers[-1] >= self.depth:
            raise CheckpointError('encoder %r: intermediate layers %s must be increasing block '
                                  'indices in 0..%d' % (self.name, list(layers), self.depth - 1))

    @property
    def is_published(self) -> bool:
        """True for the vits / vitb / vitl sizes of the published PromptDA checkpoints."""
        return ENCODERS.get(self.name) == self

    def to_json(self) -> str:
        """Return the spec as a JSON object string (stored in checkpoint metadata)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = 'checkpoint') -> 'EncoderSpec':
        """Rebuild a spec from :meth:`to_json` output; CheckpointError if malformed."""
        try:
            data = json.loads(text)
            return cls(**data)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError('%s: malformed encoder spec %r (%s)'
                                  % (source, text, exc)) from None


ENCODERS = {
    'vits': EncoderSpec('vits', 384, 12, 6, 64, (48, 96, 192, 384), (2, 5, 8, 11)),
    'vitb': EncoderSpec('vitb', 768, 12, 12, 128, (96, 192, 384, 768), (2, 5, 8, 11)),
    'vitl': EncoderSpec('vitl', 1024, 24, 16, 256, (256, 512, 1024, 1024), (4, 11, 17, 23)),
}


def custom_spec(embed_dim: int, depth: int, num_heads: int, features: int,
                out_channels: tuple, intermediate_layers: tuple | None = None,
                name: str = 'custom') -> EncoderSpec:
    """Return an explicit encoder spec built like the published ones.

    Args:
        embed_dim: ViT width (a multiple of ``num_heads``).
        depth: number of ViT blocks.
        num_heads: attention heads.
        features: decoder (fusion) channels.
        out_channels: 4 reassemble channel counts, shallow to deep.
        intermediate_layers: 4 increasing 0-based block indices feeding the decoder; None =
            spread evenly, ending with the last block (needs ``depth >= 4``).
        name: label used in messages and metadata; may not be a published size's name.
    """
    if intermediate_layers is None:
        if int(depth) < 4:
            raise CheckpointError('a custom encoder needs >= 4 blocks to spread 4 decoder taps '
                                  'over, got %d (or pass intermediate_layers)' % depth)
        intermediate_layers = tuple(int(round((i + 1) * depth / 4.0)) - 1 for i in range(4))
    if name in ENCODERS:
        raise CheckpointError('name %r is reserved for the published encoder' % name)
    return EncoderSpec(name, int(embed_dim), int(depth), int(num_heads), int(features),
                       tuple(out_channels), tuple(intermediate_layers))


TINY = custom_spec(32, 4, 2, 16, (8, 16, 32, 32), name='tiny')
"""A tiny PromptDA (about 0.2 M parameters) for tests and CPU experiments."""


def encoder_spec(name) -> EncoderSpec:
    """Return the :class:`EncoderSpec` of ``name`` ('vits', 'vitb', 'vitl' or 'tiny').

    An :class:`EncoderSpec` is returned as it is.
    """
    if isinstance(name, EncoderSpec):
        return name
    if name == TINY.name:
        return TINY
    try:
        return ENCODERS[name]
    except KeyError:
        raise CheckpointError('unknown encoder %r; expected one of %s'
                              % (name, ', '.join(sorted(ENCODERS)))) from None


def encoder_from_embed_dim(embed_dim: int) -> EncoderSpec:
    """Return the encoder whose ViT width is ``embed_dim`` (384 / 768 / 1024)."""
    for spec in ENCODERS.values():
        if spec.embed_dim == int(embed_dim):
            return spec
    raise CheckpointError('no PromptDA encoder has embedding width %d (known: %s)'
                          % (embed_dim, ', '.join('%s=%d' % (s.name, s.embed_dim)
                                                  for s in ENCODERS.values())))


def describe_mismatch(missing, unexpected, wrong=(), limit: int = 12) -> str:
    """Format lists of differing checkpoint keys for an error message (first ``limit`` each)."""
    parts = []
    for label, keys in (('missing', missing), ('unexpected', unexpected), ('wrong shape', wrong)):
        keys = sorted(keys)
        if keys:
            more = ' (+%d more)' % (len(keys) - limit) if len(keys) > limit else ''
            parts.append('%d %s: %s%s' % (len(keys), label, ', '.join(keys[:limit]), more))
    return '; '.join(parts) if parts else 'no differences'


def shape_mismatch(found: dict, expected: dict, optional=()) -> str:
    """Compare a state dict with the shapes a network expects; '' when they match.

    Args:
        found: ``{key: tensor}`` as read from a checkpoint.
        expected: ``{key: shape tuple}`` of the network.
        optional: keys of ``expected`` that may be absent.

    Returns:
        '' when keys and shapes match, else :func:`describe_mismatch` of the missing,
        unexpected and wrongly shaped keys (``key (found) (expected (shape))``).
    """
    missing = sorted(set(expected) - set(found) - set(optional))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted('%s %s (expected %s)' % (k, tuple(found[k].shape), expected[k])
                   for k in set(expected) & set(found)
                   if tuple(found[k].shape) != tuple(expected[k]))
    return describe_mismatch(missing, unexpected, wrong) if missing or unexpected or wrong else ''
