# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth backend 'default': weights-free, RGB-guided completion of the prompt.

Algorithm:

1. The prompt grid (h, w) metres, 0 = no measurement, is hole-filled at its own resolution with
   the nearest valid cell (no averaging across depth edges) and resized to the image with the
   pixel-centre convention.
2. The result is refined with a guided filter (He et al., TPAMI 2013) whose guide is the
   image's luminance, so depth discontinuities follow the image edges instead of the blurred
   grid edges. Measured cells keep their values as anchors.

It runs without weights or torch and accepts any prompt grid size, sparse (the unfilled LiDAR
projection, ``needs_sparse_prompt = True``) or already hole-filled.
"""

import cv2
import numpy as np

from promptda_ros.backends._common import check_inputs, check_options, mask_range
from promptda_ros.backends.bilinear import resize_depth
from promptda_ros.core.errors import InputError
from promptda_ros.core.prompt import fill_knn

NAME = 'default'
_OPTIONS = ('radius', 'eps', 'min_depth', 'max_depth')


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True,
                         borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guide guided filter.

    Args:
        guide: (H, W) float32 guide in [0, 1].
        src: (H, W) float32 signal (metres).
        radius: window radius in pixels.
        eps: regularisation (guide units squared).

    Returns:
        (H, W) float32 filtered signal.
    """
    mean_i = _box(guide, radius)
    mean_p = _box(src, radius)
    cov_ip = _box(guide * src, radius) - mean_i * mean_p
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box(a, radius) * guide + _box(b, radius)


class DefaultBackend:
    """RGB-guided prompt completion: ``predict(rgb, prompt_m, camera=None) -> (H, W) metres``."""

    name = NAME
    needs_sparse_prompt = True

    def __init__(self, radius: int = 4, eps: float = 1e-3, min_depth: float = 0.0,
                 max_depth: float = float('inf')):
        if int(radius) < 1:
            raise InputError(f'default: radius must be >= 1 pixel, got {radius}')
        if not float(eps) > 0:
            raise InputError(f'default: eps must be > 0, got {eps}')
        self.radius = int(radius)
        self.eps = float(eps)
        self.min_depth, self.max_depth = check_options(NAME, min_depth, max_depth)

    def predict(self, rgb: np.ndarray, prompt_m: np.ndarray, camera=None) -> np.ndarray:
        """Predict depth.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            prompt_m: (h, w) float32 metres, 0 = no measurement (any grid size).
            camera: PinholeCamera of ``rgb`` or None.

        Returns:
            (H, W) float32 metres, NaN outside (min_depth, max_depth].
        """
        image, prompt = check_inputs(NAME, rgb, prompt_m, camera)
        H, W = image.shape[:2]
        dense = fill_knn(prompt, k=1)
        up = resize_depth(dense, H, W)
        guide = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        out = guided_filter(guide, up, self.radius, self.eps)
        return mask_range(out, self.min_depth, self.max_depth)


def make_default_backend(**options) -> DefaultBackend:
    """Build the 'default' backend; options ``radius``, ``eps``, ``min_depth``, ``max_depth``.

    Raises:
        InputError: unknown option or invalid value.
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise InputError(f'default: unknown option(s) {", ".join(unknown)}')
    return DefaultBackend(**options)
