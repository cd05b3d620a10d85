# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Pre- and post-processing of PromptDA on tensors (no PIL round trips).

* RGB: uint8 (H, W, 3) named 'rgb8' or 'bgr8' (also 'rgba8' / 'bgra8', alpha dropped) -> resized
  to a multiple of 14 on the device (bilinear, antialiased when shrinking) -> [0, 1] -> ImageNet
  mean / std. The official model applies exactly this normalisation inside its forward.
* Prompt: (h, w) float32 metres with 0 = no measurement, at any resolution (the network resizes it
  per fusion block) -> holes filled (KNN k=4 by default) -> validated (PromptError) -> tensor.
  A *constant* prompt (every valid cell at the same depth: a flat wall) is valid. The network
  min/max-normalises the prompt, ``(p - min) / (max - min)``, which the official code evaluates
  to NaN when ``max == min``; as transformers' PromptDepthAnythingImageProcessor does,
  :func:`guard_constant_prompt` then raises the first row by ``CONSTANT_PROMPT_EPS_M`` (1e-6 m),
  so the network sees a tiny but non-zero range and returns about that constant depth. A prompt
  with any non-zero range is left as it is.
* Output: (h', w') metres -> bilinear to the output size (camera resolution by default),
  clamped to [min_depth, max_depth]; non-finite values -> NaN.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.core.prompt import FILL_METHODS, fill_prompt, validate_prompt
from promptda_ros.model.config import IMAGENET_MEAN, IMAGENET_STD, PATCH_SIZE

RGB_ENCODINGS = {'rgb8': (3, False), 'bgr8': (3, True), 'rgba8': (4, False), 'bgra8': (4, True)}
DEFAULT_LONG_SIDE = 504
RESAMPLING = ('bilinear', 'bicubic')


@dataclass(frozen=True)
class ProcessingConfig:
    """Processing settings.

    Attributes:
        input_size: network input (h, w), multiples of 14; 'native' = the image's own size (must
            be multiples of 14); None = scale the long side to ``long_side`` keeping aspect.
        long_side: long side in pixels when ``input_size`` is None (504 -> 378x504 for 480x640).
        output_size: (H, W) of the output depth; None = the input image's resolution.
        min_depth: output clamp, metres.
        max_depth: output clamp, metres.
        fill: prompt hole filling, 'pyramid', 'knn', 'morph' or 'none' (then the prompt must be
            dense).
        min_valid_fraction: minimum fraction of valid prompt cells.
        min_valid: minimum number of valid prompt cells.
        resample: image resizing, 'bilinear' (default, fast) or 'bicubic' (as the transformers
            image processor / PIL); both antialiased when shrinking.
    """

    input_size: tuple[int, int] | str | None = None
    long_side: int = DEFAULT_LONG_SIDE
    output_size: tuple[int, int] | None = None
    min_depth: float = 0.0
    max_depth: float = 100.0
    fill: str = 'knn'
    min_valid_fraction: float = 0.001
    min_valid: int = 16
    resample: str = 'bilinear'

    def __post_init__(self):
        if self.input_size is not None and self.input_size != 'native':
            object.__setattr__(self, 'input_size', check_input_size(self.input_size))
        if self.output_size is not None:
            object.__setattr__(self, 'output_size', _check_hw(self.output_size, 'output_size'))
        if int(self.long_side) < PATCH_SIZE:
            raise InputError('long_side must be >= %d px, got %r' % (PATCH_SIZE, self.long_side))
        if not (0.0 <= float(self.min_depth) < float(self.max_depth) < np.inf):
            raise InputError('need 0 <= min_depth < max_depth < inf (metres), got %r, %r'
                             % (self.min_depth, self.max_depth))
        if self.resample not in RESAMPLING:
            raise InputError('resample must be one of %s, got %r' % (RESAMPLING, self.resample))
        if self.fill not in FILL_METHODS:
            raise InputError('fill must be one of %s, got %r' % (list(FILL_METHODS), self.fill))


def _check_hw(size, name: str) -> tuple:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError('%s must be (height, width), got %r' % (name, size)) from None
    if h <= 0 or w <= 0:
        raise InputError('%s must be positive, got %r' % (name, size))
    return h, w


def check_input_size(size) -> tuple:
    """Validate a network input size (h, w): positive multiples of 14."""
    h, w = _check_hw(size, 'input_size')
    if h % PATCH_SIZE or w % PATCH_SIZE:
        raise InputError('input_size %dx%d must be multiples of %d (e.g. %dx%d)'
                         % (h, w, PATCH_SIZE, _round14(h), _round14(w)))
    return h, w


def parse_input_size(text: str):
    """Parse 'HxW' -> (h, w), or 'native' -> 'native' (CLI helper)."""
    text = text.strip().lower()
    if text == 'native':
        return 'native'
    parts = text.split('x')
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError("input size must be 'HxW' (e.g. 378x504) or 'native', got %r" % text)
    return check_input_size((int(parts[0]), int(parts[1])))


def _round14(v: float) -> int:
    return max(PATCH_SIZE, int(round(v / PATCH_SIZE)) * PATCH_SIZE)


def network_input_size(image_hw: tuple, input_size=None,
                       long_side: int = DEFAULT_LONG_SIDE) -> tuple:
    """Return the network input (h, w) for an image of ``image_hw`` = (H, W) pixels.

    ``input_size`` (h, w) is used as given; 'native' requires H, W multiples of 14; None scales
    the long side to ``long_side`` and rounds both sides to the nearest multiple of 14.
    """
    height, width = _check_hw(image_hw, 'image size')
    if input_size == 'native':
        if height % PATCH_SIZE or width % PATCH_SIZE:
            raise InputError("input size 'native' needs an image whose sides are multiples of %d,"
                             ' got %dx%d; pass --input-size HxW instead'
                             % (PATCH_SIZE, height, width))
        return height, width
    if input_size is not None:
        return check_input_size(input_size)
    scale = float(long_side) / max(height, width)
    return _round14(height * scale), _round14(width * scale)


def _check_rgb(rgb, encoding: str) -> np.ndarray:
    if encoding not in RGB_ENCODINGS:
        raise InputError('unsupported colour encoding %r; use one of %s'
                         % (encoding, ', '.join(RGB_ENCODINGS)))
    channels, _ = RGB_ENCODINGS[encoding]
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != channels:
        raise InputError('%s image must be (H, W, %d), got shape %s'
                         % (encoding, channels, arr.shape))
    if arr.dtype != np.uint8:
        raise InputError('%s image must be uint8, got %s' % (encoding, arr.dtype))
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise InputError('image too small: %s' % (arr.shape,))
    return arr


class ImageNormaliser:
    """Turn uint8 images into network input on a device, reusing its buffers across frames."""

    def __init__(self, device: torch.device | str = 'cpu', dtype: torch.dtype = torch.float32,
                 resample: str = 'bilinear'):
        if resample not in RESAMPLING:
            raise InputError('resample must be one of %s, got %r' % (RESAMPLING, resample))
        self.resample = resample
        self.device = torch.device(device)
        self.dtype = dtype
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device, dtype=dtype).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device, dtype=dtype).view(1, 3, 1, 1)
        self._upload: torch.Tensor | None = None  # (H, W, C) uint8 staging buffer on device

    def __call__(self, rgb: np.ndarray, size: tuple, encoding: str = 'rgb8') -> torch.Tensor:
        """Normalise an image.

        Args:
            rgb: (H, W, 3 or 4) uint8, channel order named by ``encoding``.
            size: network input (h, w), multiples of 14.
            encoding: 'rgb8', 'bgr8', 'rgba8' or 'bgra8'.

        Returns:
            (1, 3, h, w) tensor on the device: (RGB / 255 - mean) / std.
        """
        arr = _check_rgb(rgb, encoding)
        channels, reverse = RGB_ENCODINGS[encoding]
        host = torch.from_numpy(np.ascontiguousarray(arr))
        if self.device.type == 'cpu':
            image = host
        else:
            upload = self._upload
            if upload is None or upload.shape != host.shape:
                upload = self._upload = torch.empty(host.shape, dtype=torch.uint8,
                                                    device=self.device)
            upload.copy_(host, non_blocking=False)
            image = upload
        image = image[..., :3]
        if reverse:
            image = image.flip(-1)
        x = image.permute(2, 0, 1).unsqueeze(0).to(self.dtype).div_(255.0)
        h, w = size
        if (h, w) != tuple(x.shape[-2:]):
            shrink = h < x.shape[-2] or w < x.shape[-1]
            x = F.interpolate(x, size=(h, w), mode=self.resample, align_corners=False,
                              antialias=shrink)
            if self.resample == 'bicubic':
                x = x.clamp_(0.0, 1.0)  # cubic overshoot; PIL clips to the uint8 range too
        return (x - self.mean) / self.std


CONSTANT_PROMPT_EPS_M = 1e-6
"""Added to the first row of a constant prompt (metres), as transformers' processor does."""


def guard_constant_prompt(prompt_m: np.ndarray) -> np.ndarray:
    """Give a dense constant prompt a tiny range so that min/max normalisation stays finite.

    transformers' PromptDepthAnythingImageProcessor adds 1e-6 m to ``depth[0, 0]`` of a
    constant prompt; its maps are channel-first (1, H, W) there, so that is the whole first
    row. This does the same, so a constant prompt reaches the network exactly as it does
    through transformers.

    Args:
        prompt_m: (h, w) float32 metres, dense (filled).

    Returns:
        (h, w) float32 metres: ``prompt_m`` itself when ``max > min``, else a copy whose first
        row is raised by ``CONSTANT_PROMPT_EPS_M`` (by one float32 step where 1e-6 m is below
        float32 resolution, from 8 m up).
    """
    prompt = np.asarray(prompt_m, dtype=np.float32)
    if prompt.size == 0 or float(prompt.max()) > float(prompt.min()):
        return prompt
    out = prompt.copy()
    value = out[0, 0]
    bumped = np.float32(value + np.float32(CONSTANT_PROMPT_EPS_M))
    out[0, :] = bumped if bumped > value else np.nextafter(value, np.float32(np.inf))
    return out


def prepare_prompt(prompt_m, fill: str = 'knn', min_valid_fraction: float = 0.001,
                   min_valid: int = 16) -> tuple:
    """Validate, fill and guard a prompt for the network.

    Args:
        prompt_m: (h, w) float32 metres, 0 = no measurement.
        fill: 'pyramid', 'knn', 'morph' or 'none'.
        min_valid_fraction: minimum fraction of valid cells.
        min_valid: minimum number of valid cells.

    Returns:
        filled: (h, w) float32 metres, dense; a constant prompt gets the tiny range of
            :func:`guard_constant_prompt`.
        stats: :class:`PromptStats` of the input prompt.

    Raises:
        PromptError: NaN / Inf / negative values, too few valid cells, or holes left with
            ``fill='none'``. A constant prompt is valid (see the module docstring).
    """
    stats = validate_prompt(prompt_m, min_valid_fraction=min_valid_fraction,
                            min_valid=min_valid)
    prompt = np.asarray(prompt_m)
    if fill == 'morph':
        filled = fill_prompt(prompt, 'morph', max_depth=max(100.0, 2.0 * stats.max_m))
    else:
        filled = fill_prompt(prompt, fill)
    if fill == 'none' and not np.all(filled > 0):
        raise PromptError('prompt has %d holes (0 cells) and fill is none; the network needs a '
                          'dense prompt' % int(np.count_nonzero(~(filled > 0))))
    return guard_constant_prompt(filled), stats


def prompt_to_tensor(prompt_m: np.ndarray, device: torch.device | str = 'cpu') -> torch.Tensor:
    """(h, w) float32 metres -> (1, 1, h, w) float32 tensor on ``device``."""
    arr = np.ascontiguousarray(prompt_m, dtype=np.float32)
    if arr.ndim != 2:
        raise InputError('prompt must be (h, w), got shape %s' % (arr.shape,))
    return torch.from_numpy(arr).to(device)[None, None]


def postprocess_depth(depth: torch.Tensor, output_hw: tuple, min_depth: float = 0.0,
                      max_depth: float = 100.0) -> np.ndarray:
    """Network output -> camera-resolution depth.

    Args:
        depth: (1, h, w) or (h, w) tensor, metres.
        output_hw: (H, W) of the result.
        min_depth: clamp, metres.
        max_depth: clamp, metres.

    Returns:
        (H, W) float32 metres, NaN = invalid (non-finite network output).
    """
    d = depth.float()
    if d.ndim == 2:
        d = d[None]
    if d.ndim != 3 or d.shape[0] != 1:
        raise InputError('expected a (1, h, w) depth tensor, got %s' % (tuple(depth.shape),))
    h, w = _check_hw(output_hw, 'output size')
    if (h, w) != tuple(d.shape[-2:]):
        d = F.interpolate(d[None], size=(h, w), mode='bilinear', align_corners=False)[0]
    d = torch.where(torch.isfinite(d), d.clamp(float(min_depth), float(max_depth)),
                    torch.full_like(d, float('nan')))
    return d[0].cpu().numpy().astype(np.float32, copy=False)
