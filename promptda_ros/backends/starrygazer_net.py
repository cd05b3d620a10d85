# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The StarryGazer refinement network: a small U-Net predicting a residual on the LiDAR-only depth.

Inputs (built by :func:`make_input`, 10 channels at the network resolution ``(h, w)``, both
multiples of ``2 ** (levels - 1)``)::

    0-2  RGB, (x / 255 - 0.5) / 0.25
    3    relative map normalised to [0, 1] in nearness (1 = nearest, see normalise_relative)
    4    sparse depth / s, 0 where there is no measurement        s = median of valid sparse (m)
    5    sparse mask (1 = measured)
    6    lidar / s: the LiDAR-only completion of the sparse depth (the ``default`` backend
         through the frame pipeline,
         :class:`promptda_ros.backends.starrygazer_refiner.LidarOnly`), metres / s
    7    log(sparse / init) at measured pixels, 0 elsewhere; ``init`` is the relative map aligned
         to the sparse depth by least squares (one scale and shift, in inverse depth)
    8    hint: channel 7 spread edge-aware (:func:`spread`: the domain-transform normalised
         convolution of the ``default`` backend, guided by RGB and 3 x channel 3)
    9    cue: log(init * exp(hint) / lidar), clipped to +-1: where the hint-corrected relative
         map disagrees with the LiDAR-only completion

Everything metric is divided by ``s``, so the network sees the same numbers for a room at 2 m
and a hall at 20 m.  The head has two channels: a residual ``r`` and a per-pixel **gate**
``g`` on the cue (channel 9, the locally aligned relative map against the LiDAR-only
completion).  The log-depth correction on top of the LiDAR-only completion is::

    c = clamp(g, 0, 1) * cue + max_log_correction * tanh(r)
    depth = lidar * exp(c)                                       (metres)

so trusting the relative map where it is right is one decision per pixel (``g`` = 1), and
ignoring it is another (``g`` = 0), whatever the map's errors look like.  By default
``max_log_correction`` is 0: no residual, and every output pixel lies between the LiDAR-only
completion and the locally aligned relative map.  The head starts at
zero, so an untrained network returns the LiDAR-only completion exactly; the relative map can
only enter the output through what training taught the network to take from it (the gate and
channels 3, 7-9), never by construction.

Architecture (``w`` = ``base_width``, ``levels`` = 4 by default; shapes for a (B, 10, h, w)
input; every ``block`` is two 3x3 conv + GroupNorm + ReLU)::

    x (B,10,h,w) -> block -> e0 (B,w,h,w) ---------------------------- cat -> block -> d0
                   maxpool -> block -> e1 (B,2w,h/2,w/2) ---------- cat -> block -> d1 -> up ^
                              maxpool -> block -> e2 (B,4w,h/4,w/4) cat -> block -> d2 -> up ^
                                         maxpool -> block -> e3 (B,8w,h/8,w/8) -> up ^
    d0 (B,w,h,w) -> 1x1 conv -> (r, g) (B,2,h,w) -> c (B,1,h,w)   (with x's cue channel)

The default (``base_width`` 16, input long side 128 px: 96 x 128 for a 4:3 image) has
0.49 M parameters and trains on a CPU; ``base_width`` 32 gives 1.9 M, 48 gives 4.4 M.  Weights
are safetensors files whose metadata hold the :class:`RefineConfig` (JSON); :func:`load_refiner`
refuses a file without it, a file of another config than the one asked for, or tensors that do
not fit the config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
import json
import os

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from promptda_ros.core.errors import CheckpointError, InputError

FORMAT = 'promptda_ros.starrygazer.refine'
FORMAT_VERSION = '3'  # 3: gated cue + residual on the LiDAR-only completion, 10 inputs
FORMAT_HISTORY = {'1': 'a correction of the aligned relative map',
                  '2': 'a residual on the LiDAR-only completion, no gate'}
IN_CHANNELS = 10
LIDAR = 6  # index of the LiDAR-only channel
HINT = 8  # index of the hint channel
CUE = 9  # index of the relative-vs-LiDAR cue channel
CUE_BOUND = 1.0  # |cue| clip, log units
RESIDUAL, GATE = 0, 1  # channels of the head


@dataclass(frozen=True)
class RefineConfig:
    """Architecture and input settings of the refinement network.

    Attributes:
        base_width: channels of the first level (doubled at every level).
        levels: resolution levels of the U-Net (>= 2).
        groups: GroupNorm groups (must divide ``base_width``).
        max_log_correction: bound of the free residual ``r`` (tanh-limited, log units; 1.0
            allows a factor e^-1 .. e^1 on top of the gated cue).  0 (the default) = no
            residual, the gate alone: the output then lies, pixel by pixel, between the
            LiDAR-only completion and the locally aligned relative map (in log depth).
            Measured: a free residual learns the pseudo-truth's segment jumps and made the
            output worse on every relative-map family of ``bench/starrygazer_families.py``.
        net_long_side: long side of the network input, pixels (rounded to a multiple of
            ``2 ** (levels - 1)``); the short side keeps the image aspect.
    """

    base_width: int = 16
    levels: int = 4
    groups: int = 8
    max_log_correction: float = 0.0
    net_long_side: int = 128

    def __post_init__(self) -> None:
        if int(self.base_width) < 1 or int(self.levels) < 2 or int(self.groups) < 1:
            raise InputError('base_width >= 1, levels >= 2 and groups >= 1 are required, got '
                             f'{self.base_width}, {self.levels}, {self.groups}')
        if int(self.base_width) % int(self.groups):
            raise InputError(f'groups ({self.groups}) must divide base_width '
                             f'({self.base_width})')
        if not float(self.max_log_correction) >= 0:
            raise InputError('max_log_correction must be >= 0')
        if int(self.net_long_side) < 2 ** int(self.levels):
            raise InputError(f'net_long_side must be >= {2 ** int(self.levels)}, got '
                             f'{self.net_long_side}')

    @property
    def multiple(self) -> int:
        """Sides of the network input must be multiples of this."""
        return 2 ** (int(self.levels) - 1)

    def net_hw(self, image_hw: tuple) -> tuple:
        """Return the network input (h, w) for an image of (H, W) pixels."""
        H, W = int(image_hw[0]), int(image_hw[1])
        scale = float(self.net_long_side) / max(H, W)
        m = self.multiple
        return (max(m, int(round(H * scale / m)) * m), max(m, int(round(W * scale / m)) * m))

    def to_json(self) -> str:
        """Return the config as a JSON string (the weights' metadata)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> 'RefineConfig':
        """Parse :meth:`to_json` output (unknown keys are an error)."""
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        bad = sorted(set(data) - known)
        if bad:
            raise InputError(f'unknown refinement config keys: {", ".join(bad)}')
        return cls(**data)


def _block(cin: int, cout: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.GroupNorm(groups, cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.GroupNorm(groups, cout),
        nn.ReLU(inplace=True))


class RefineNet(nn.Module):
    """U-Net predicting a bounded log-depth correction (see the module docstring)."""

    def __init__(self, config: RefineConfig | None = None) -> None:
        super().__init__()
        self.config = config or RefineConfig()
        w, g, n = int(self.config.base_width), int(self.config.groups), int(self.config.levels)
        widths = [w * 2 ** i for i in range(n)]
        self.down = nn.ModuleList([_block(IN_CHANNELS, widths[0], g)] + [
            _block(widths[i - 1], widths[i], g) for i in range(1, n)])
        self.up = nn.ModuleList([_block(widths[i] + widths[i + 1], widths[i], g)
                                 for i in range(n - 1)])
        self.head = nn.Conv2d(widths[0], 2, 1)  # RESIDUAL, GATE
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, 10, h, w) inputs to the (B, 1, h, w) log-depth correction (bounded).

        The correction is ``clamp(g, 0, 1) * x[:, CUE] + max_log_correction * tanh(r)``
        (log units; |c| <= CUE_BOUND + max_log_correction).
        """
        m = self.config.multiple
        if x.ndim != 4 or x.shape[1] != IN_CHANNELS or x.shape[2] % m or x.shape[3] % m:
            raise InputError(f'refinement input must be (B, {IN_CHANNELS}, h, w) with h, w '
                             f'multiples of {m}, got {tuple(x.shape)}')
        cue = x[:, CUE:CUE + 1]
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for i in range(len(self.up) - 1, -1, -1):
            x = F.interpolate(x, size=skips[i].shape[-2:], mode='bilinear', align_corners=False)
            x = self.up[i](torch.cat([skips[i], x], dim=1))
        out = self.head(x)
        gate = torch.clamp(out[:, GATE:GATE + 1], 0.0, 1.0)
        bound = float(self.config.max_log_correction)
        residual = bound * torch.tanh(out[:, RESIDUAL:RESIDUAL + 1])
        return gate * cue + residual


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_refiner(model: RefineNet, path: str, extra: dict | None = None) -> str:
    """Write the network's weights as safetensors with its config in the metadata.

    The file is written under a temporary name and renamed, so an interrupted save never
    leaves a half-written ``path``.

    Args:
        model: the network.
        path: destination ``.safetensors`` file.
        extra: more string metadata (e.g. the relative source it was trained with).

    Returns:
        ``path``.
    """
    from safetensors.torch import save_file

    meta = {'format': FORMAT, 'format_version': FORMAT_VERSION,
            'config': model.config.to_json()}
    for k, v in (extra or {}).items():
        meta[str(k)] = str(v)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path + '.tmp'
    save_file(state, tmp, metadata=meta)
    os.replace(tmp, path)
    return path


def read_refiner_metadata(path: str) -> dict:
    """Return the metadata of a refinement weights file.

    Raises:
        CheckpointError: missing / unreadable file or not StarryGazer refinement weights.
    """
    from safetensors import safe_open

    try:
        with safe_open(path, framework='pt') as f:
            meta = dict(f.metadata() or {})
    except FileNotFoundError:
        raise CheckpointError(f'refinement weights {path} not found') from None
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f'cannot read refinement weights {path}: '
                              f'{str(exc).splitlines()[0]}') from None
    except Exception as exc:  # safetensors raises its own SafetensorError (no public base)
        raise CheckpointError(f'cannot read refinement weights {path}: '
                              f'{str(exc).splitlines()[0]}') from None
    if meta.get('format') != FORMAT:
        raise CheckpointError(f'{path} is not StarryGazer refinement weights (no '
                              f"'{FORMAT}' metadata; write them with promptda-adapt)")
    if meta.get('format_version') != FORMAT_VERSION:
        old = FORMAT_HISTORY.get(str(meta.get('format_version')), 'unknown')
        raise CheckpointError(f"{path} holds refinement weights of format version "
                              f"{meta.get('format_version')!r} ({old}); this release reads "
                              f'version {FORMAT_VERSION} (a gated cue and a residual on the '
                              'LiDAR-only completion): adapt again with promptda-adapt')
    return meta


def load_refiner(path: str, expected: RefineConfig | None = None,
                 device: str = 'cpu') -> tuple:
    """Load refinement weights.

    Args:
        path: ``.safetensors`` written by :func:`save_refiner`.
        expected: the config the caller needs; None = take the file's.
        device: torch device.

    Returns:
        (RefineNet in eval mode, metadata dict).

    Raises:
        CheckpointError: not refinement weights, another config than ``expected`` (the
            differing fields are named), or tensors that do not match the config.
    """
    from safetensors.torch import load_file

    meta = read_refiner_metadata(path)
    try:
        config = RefineConfig.from_json(meta['config'])
    except (KeyError, ValueError, TypeError, InputError) as exc:
        raise CheckpointError(f'{path}: bad refinement config in the metadata ({exc})') from None
    if expected is not None and config != expected:
        diff = [f'{f.name}={getattr(config, f.name)!r} (wanted {getattr(expected, f.name)!r})'
                for f in fields(RefineConfig) if getattr(config, f.name) !=
                getattr(expected, f.name)]
        raise CheckpointError(f'{path} holds refinement weights of another config: '
                              + ', '.join(diff))
    model = RefineNet(config)
    state = load_file(path, device='cpu')
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        raise CheckpointError(f'{path}: tensors do not match the refinement config {config} '
                              f'({"; ".join(s.strip() for s in first[:3])})') from None
    return model.to(device).eval(), meta


def make_input(rgb: np.ndarray, rel_n: np.ndarray, sparse_m: np.ndarray,
               init_m: np.ndarray, lidar_m: np.ndarray) -> tuple:
    """Stack one sample's network input (all arrays already at the network resolution).

    Args:
        rgb: (h, w, 3) uint8 RGB.
        rel_n: (h, w) float relative map normalised to [0, 1] nearness.
        sparse_m: (h, w) float metres, 0 / NaN = no measurement.
        init_m: (h, w) float metres, the affine-aligned relative depth (finite, > 0).
        lidar_m: (h, w) float metres, the LiDAR-only completion (finite, > 0).

    Returns:
        ((10, h, w) float32 input, s: the metric scale in metres = median of valid sparse).

    Raises:
        PromptError: no valid sparse measurement.
    """
    from promptda_ros.core.errors import PromptError

    sparse = np.nan_to_num(np.asarray(sparse_m, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    mask = sparse > 0
    if not np.any(mask):
        raise PromptError('sparse depth has no valid measurement')
    s = float(np.median(sparse[mask]))
    x = np.empty((IN_CHANNELS,) + sparse.shape, np.float32)
    x[0:3] = (np.moveaxis(np.asarray(rgb, np.float32), -1, 0) / 255.0 - 0.5) / 0.25
    x[3] = rel_n
    x[4] = np.where(mask, sparse / s, 0.0)
    x[5] = mask
    init = np.asarray(init_m, np.float32)
    lidar = np.asarray(lidar_m, np.float32)
    x[LIDAR] = lidar / s
    ratio = np.where(mask, np.log(np.maximum(sparse, 1e-6) / init), 0.0).astype(np.float32)
    x[7] = ratio
    guide = np.concatenate([np.asarray(rgb, np.float32) / 255.0,
                            RELATIVE_GUIDE_WEIGHT * np.asarray(rel_n, np.float32)[..., None]],
                           axis=-1)
    x[HINT] = spread(ratio, mask.astype(np.float32), guide)
    x[CUE] = np.clip(np.log(init) + x[HINT] - np.log(lidar), -CUE_BOUND, CUE_BOUND)
    return x, s


RELATIVE_GUIDE_WEIGHT = 3.0  # weight of the relative map against RGB in the hint's guide
HINT_SIGMA_PX_AT_128 = 2.0   # spatial sigma of the hint, pixels per 128 px of network width
HINT_SIGMA_R = 0.15          # range sigma of the hint, guide units


def spread(values: np.ndarray, mask: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Spread sparse values edge-aware (the hint channel).

    The domain-transform normalised convolution of the ``default`` backend
    (:func:`promptda_ros.backends.default.domain_transform_nc`; sigma_s 2 px per 128 px of
    width, sigma_r 0.15, 3 iterations), with a wide normalised Gaussian (sigma 8 px per 128 px)
    as a weak prior where edges cut a region off from every sample.

    Args:
        values: (h, w) float32, meaningful where ``mask`` is 1.
        mask: (h, w) float32 1 = measured, 0 = not.
        guide: (h, w, C) float32 guide image (colour in [0, 1] and weighted relative depth).

    Returns:
        (h, w) float32; 0 where no measurement lies within reach.
    """
    import cv2

    from promptda_ros.backends.default import domain_transform_nc

    scale = values.shape[1] / 128.0
    sig = 4.0 * HINT_SIGMA_PX_AT_128 * scale
    num = cv2.GaussianBlur(values * mask, (0, 0), sig)
    den = cv2.GaussianBlur(mask, (0, 0), sig)
    prior = np.where(den > 1e-3, num / np.maximum(den, 1e-6), 0.0)
    f = domain_transform_nc(guide, np.stack([values * mask, mask], axis=-1),
                            HINT_SIGMA_PX_AT_128 * scale, HINT_SIGMA_R, 3)
    lam = 1e-3
    return ((f[..., 0] + lam * prior) / (f[..., 1] + lam)).astype(np.float32)


def compose(lidar: torch.Tensor, correction: torch.Tensor) -> torch.Tensor:
    """Return the prediction ``lidar * exp(correction)``.

    Args:
        lidar: (B, h, w) LiDAR-only completion (any unit, e.g. metres / s).
        correction: (B, 1, h, w) network output (log-depth residual).

    Returns:
        (B, h, w) depth in the unit of ``lidar``.
    """
    return lidar * torch.exp(correction[:, 0])
