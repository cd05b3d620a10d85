# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth backend 'bilinear': the hole-filled prompt resized to the image.

This is the "ARKit depth" baseline row of the PromptDA paper: the low-resolution prompt grid
has its holes filled (mean of the k nearest valid cells, :func:`promptda_ros.core.prompt.fill_knn`)
and is resized bilinearly to the image size with the pixel-centre convention (grid cell ``i``
covers image pixels ``[i * s, (i + 1) * s)``, which is also what
:meth:`PinholeCamera.scaled` assumes). The image content is not used.
"""

import cv2
import numpy as np

from promptda_ros.backends._common import check_inputs, check_options, mask_range
from promptda_ros.core.errors import InputError
from promptda_ros.core.prompt import fill_knn

NAME = 'bilinear'


def resize_depth(depth_m: np.ndarray, height: int, width: int,
                 interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize a dense depth map with the pixel-centre convention.

    Args:
        depth_m: (h, w) float32 metres, dense (no holes).
        height, width: output size in pixels.
        interpolation: cv2 interpolation flag.

    Returns:
        (height, width) float32 metres.
    """
    src = np.ascontiguousarray(depth_m, dtype=np.float32)
    if src.shape == (height, width):
        return src.copy()
    return cv2.resize(src, (int(width), int(height)), interpolation=interpolation)


class BilinearBackend:
    """Hole-filled prompt, bilinearly resized: ``predict(rgb, prompt_m) -> (H, W) metres``."""

    name = NAME
    needs_sparse_prompt = False

    def __init__(self, k: int = 4, min_depth: float = 0.0, max_depth: float = float('inf')):
        if int(k) < 1:
            raise InputError(f'bilinear: k must be >= 1, got {k}')
        self.k = int(k)
        self.min_depth, self.max_depth = check_options(NAME, min_depth, max_depth)

    def predict(self, rgb: np.ndarray, prompt_m: np.ndarray, camera=None) -> np.ndarray:
        """Predict depth.

        Args:
            rgb: (H, W, 3) uint8 RGB (only its size is used).
            prompt_m: (h, w) float32 metres, 0 = no measurement (any grid size).
            camera: PinholeCamera of ``rgb`` or None (size checked only).

        Returns:
            (H, W) float32 metres, NaN outside (min_depth, max_depth].

        Raises:
            InputError: bad shapes. PromptError: no valid prompt cell / negative depths.
        """
        image, prompt = check_inputs(NAME, rgb, prompt_m, camera)
        dense = fill_knn(prompt, k=self.k)
        out = resize_depth(dense, image.shape[0], image.shape[1])
        return mask_range(out, self.min_depth, self.max_depth)


def make_bilinear_backend(**options) -> BilinearBackend:
    """Build the 'bilinear' backend; options ``k``, ``min_depth``, ``max_depth`` (metres).

    Raises:
        InputError: unknown option or invalid value.
    """
    unknown = sorted(set(options) - {'k', 'min_depth', 'max_depth'})
    if unknown:
        raise InputError(f'bilinear: unknown option(s) {", ".join(unknown)}')
    return BilinearBackend(**options)
