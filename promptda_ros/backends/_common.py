# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Input checks and output masking shared by the weights-free backends."""

import math

import numpy as np

from promptda_ros.core.errors import InputError, PromptError


def check_options(name: str, min_depth: float, max_depth: float) -> tuple:
    """Validate a backend's depth range; return ``(min_depth, max_depth)`` as floats (metres)."""
    try:
        lo, hi = float(min_depth), float(max_depth)
    except (TypeError, ValueError):
        raise InputError(f'{name}: min_depth / max_depth must be numbers, got '
                         f'{min_depth!r} / {max_depth!r}') from None
    if math.isnan(lo) or math.isnan(hi) or lo < 0 or hi <= lo:
        raise InputError(f'{name}: need 0 <= min_depth < max_depth, got {lo} / {hi}')
    return lo, hi


def check_inputs(name: str, rgb, prompt_m, camera) -> tuple:
    """Validate ``rgb`` (H, W, 3) uint8 and ``prompt_m`` (h, w) metres.

    Returns:
        (rgb (H, W, 3) uint8 contiguous, prompt (h, w) float32 metres with NaN/Inf/<=0 -> 0).

    Raises:
        InputError: wrong shapes / dtypes, or a camera whose size differs from the image.
        PromptError: negative depths, or no valid prompt cell at all.
    """
    image = np.asarray(rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f'{name}: rgb must be (H, W, 3), got shape {image.shape}')
    if image.dtype != np.uint8:
        raise InputError(f'{name}: rgb must be uint8, got {image.dtype}')
    prompt = np.asarray(prompt_m)
    if prompt.ndim != 2 or prompt.shape[0] < 1 or prompt.shape[1] < 1:
        raise InputError(f'{name}: prompt_m must be a 2-D (h, w) grid, got shape {prompt.shape}')
    if not np.issubdtype(prompt.dtype, np.floating) and not np.issubdtype(prompt.dtype,
                                                                          np.integer):
        raise InputError(f'{name}: prompt_m must be numeric, got {prompt.dtype}')
    prompt = prompt.astype(np.float32, copy=True)
    finite = np.isfinite(prompt)
    if np.any(prompt[finite] < 0):
        raise PromptError(f'{name}: prompt has negative depths; depth must be >= 0 m')
    prompt[~finite] = 0.0
    if not np.any(prompt > 0):
        raise PromptError(f'{name}: prompt has no valid cell (all zero / NaN)')
    if camera is not None:
        if (int(camera.height), int(camera.width)) != image.shape[:2]:
            raise InputError(f'{name}: camera is {camera.width}x{camera.height} but the image is '
                             f'{image.shape[1]}x{image.shape[0]}')
    return np.ascontiguousarray(image), prompt


def mask_range(depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """Return ``depth`` (H, W) float32 metres, NaN outside (min, max] or non-finite."""
    out = depth.astype(np.float32, copy=False)
    with np.errstate(invalid='ignore'):
        bad = ~np.isfinite(out) | (out <= max(min_depth, 0.0))
        bad |= out > max_depth
    out[bad] = np.nan
    return out
