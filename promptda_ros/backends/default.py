# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth backend 'default': weights-free, RGB-guided completion of the prompt.

Algorithm (edge-aware normalized convolution with the domain transform, after Gastal & Oliveira,
"Domain Transform for Edge-Aware Image and Video Processing", SIGGRAPH 2011):

1. Work at ``work_width`` pixels wide (default 320, or the image width if smaller). Every
   valid prompt cell (h, w grid, 0 = no measurement) is splatted at the working-image pixel
   under its centre (pixel-centre convention), giving a sparse depth map ``S`` and a
   sample-count map ``M``.
2. The domain transform of the RGB image is computed per axis:
   ``ct' = 1 + sigma_s / sigma_r * sum_channels |dI|`` (I in [0, 1]); colour edges make the
   transformed distance large, so information does not flow across them.
3. ``S`` and ``M`` are filtered together with the recursive (first-order IIR) edge-aware filter,
   ``iterations`` alternating horizontal / vertical passes with the decreasing sigmas of the
   paper. Depth = ``(S_f + lam * B) / (M_f + lam)`` where ``B`` is the hole-filled bilinear
   prompt (a weak prior, ``lam`` small) so that regions cut off from every sample by strong
   texture still get a sensible value.
4. The working-resolution result is resized bilinearly to the image size and values outside
   (min_depth, max_depth] become NaN.

Measured on the bundled sample (192x256 LiDAR prompt, 640x480): about 15 % lower L1 than the
'bilinear' baseline at roughly 100-200 ms per frame on one CPU core (promptda-default-bench).
It accepts any prompt grid size, sparse (the unfilled LiDAR projection; this backend sets
``needs_sparse_prompt = True``) or already hole-filled (then it acts as edge-aware smoothing).
"""

import math

import cv2
import numpy as np

from promptda_ros.backends._common import check_inputs, check_options, mask_range
from promptda_ros.backends.bilinear import resize_depth
from promptda_ros.core.errors import InputError
from promptda_ros.core.prompt import fill_knn

NAME = 'default'
_OPTIONS = ('sigma_s', 'sigma_r', 'iterations', 'work_width', 'prior_weight', 'min_depth',
            'max_depth')


def _recursive_pass(signal: np.ndarray, weight: np.ndarray) -> None:
    """Causal + anti-causal first-order recursive filter along axis 1, in place.

    Args:
        signal: (H, W, C) float32, filtered in place.
        weight: (H, W) float32 in [0, 1], feedback coefficient between pixel n-1 and n.
    """
    width = signal.shape[1]
    for n in range(1, width):
        signal[:, n] += weight[:, n, None] * (signal[:, n - 1] - signal[:, n])
    for n in range(width - 2, -1, -1):
        signal[:, n] += weight[:, n + 1, None] * (signal[:, n + 1] - signal[:, n])


def domain_transform_filter(guide: np.ndarray, signal: np.ndarray, sigma_s: float,
                            sigma_r: float, iterations: int = 3) -> np.ndarray:
    """Edge-aware recursive filtering of ``signal`` guided by ``guide``.

    Args:
        guide: (H, W, 3) float32 image in [0, 1].
        signal: (H, W, C) float32 channels to filter (not modified).
        sigma_s: spatial standard deviation in pixels.
        sigma_r: range standard deviation in guide units.
        iterations: number of horizontal + vertical pass pairs.

    Returns:
        (H, W, C) float32 filtered signal.
    """
    H, W = guide.shape[:2]
    dx = np.zeros((H, W), np.float32)
    dy = np.zeros((H, W), np.float32)
    dx[:, 1:] = np.abs(np.diff(guide, axis=1)).sum(axis=-1)
    dy[1:, :] = np.abs(np.diff(guide, axis=0)).sum(axis=-1)
    ratio = np.float32(sigma_s / sigma_r)
    dist_x = 1.0 + ratio * dx
    dist_y_t = np.ascontiguousarray((1.0 + ratio * dy).T)
    out = np.array(signal, dtype=np.float32, copy=True)
    for i in range(iterations):
        sigma_i = sigma_s * math.sqrt(3.0) * 2.0 ** (iterations - i - 1) \
            / math.sqrt(4.0 ** iterations - 1.0)
        a = np.float32(math.exp(-math.sqrt(2.0) / sigma_i))
        _recursive_pass(out, np.power(a, dist_x))
        out_t = np.ascontiguousarray(out.transpose(1, 0, 2))
        _recursive_pass(out_t, np.power(a, dist_y_t))
        out = np.ascontiguousarray(out_t.transpose(1, 0, 2))
    return out


def splat_prompt(prompt_m: np.ndarray, height: int, width: int) -> np.ndarray:
    """Splat valid prompt cells at the image pixel under each cell centre.

    Args:
        prompt_m: (h, w) float32 metres, 0 = no measurement.
        height, width: target size in pixels.

    Returns:
        (height, width, 2) float32: [..., 0] = sum of depths (metres), [..., 1] = count.
    """
    h, w = prompt_m.shape
    r, c = np.nonzero(prompt_m > 0)
    u = np.clip(np.rint((c + 0.5) * (width / w) - 0.5).astype(np.int64), 0, width - 1)
    v = np.clip(np.rint((r + 0.5) * (height / h) - 0.5).astype(np.int64), 0, height - 1)
    flat = v * width + u
    out = np.zeros((height, width, 2), np.float32)
    out[..., 0].flat[:] = np.bincount(flat, weights=prompt_m[r, c], minlength=height * width)
    out[..., 1].flat[:] = np.bincount(flat, minlength=height * width)
    return out


class DefaultBackend:
    """RGB-guided prompt completion: ``predict(rgb, prompt_m, camera=None) -> (H, W) metres``."""

    name = NAME
    needs_sparse_prompt = True

    def __init__(self, sigma_s: float = 5.0, sigma_r: float = 0.1, iterations: int = 3,
                 work_width: int = 320, prior_weight: float = 1e-3, min_depth: float = 0.0,
                 max_depth: float = float('inf')):
        try:
            self.sigma_s, self.sigma_r = float(sigma_s), float(sigma_r)
            self.iterations = int(iterations)
            self.work_width, self.prior_weight = int(work_width), float(prior_weight)
        except (TypeError, ValueError):
            raise InputError('default: sigma_s, sigma_r, iterations, work_width and '
                             'prior_weight must be numbers') from None
        if not (self.sigma_s > 0 and self.sigma_r > 0):
            raise InputError(f'default: sigma_s and sigma_r must be > 0, got {sigma_s} / '
                             f'{sigma_r}')
        if not 1 <= self.iterations <= 10:
            raise InputError(f'default: iterations must be 1..10, got {iterations}')
        if self.work_width < 8:
            raise InputError(f'default: work_width must be >= 8 pixels, got {work_width}')
        if not self.prior_weight > 0:
            raise InputError(f'default: prior_weight must be > 0, got {prior_weight}')
        self.min_depth, self.max_depth = check_options(NAME, min_depth, max_depth)

    def predict(self, rgb: np.ndarray, prompt_m: np.ndarray, camera=None) -> np.ndarray:
        """Predict depth.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            prompt_m: (h, w) float32 metres, 0 = no measurement (any grid size).
            camera: PinholeCamera of ``rgb`` or None (size checked only).

        Returns:
            (H, W) float32 metres, NaN outside (min_depth, max_depth].

        Raises:
            InputError: bad shapes. PromptError: no valid prompt cell / negative depths.
        """
        image, prompt = check_inputs(NAME, rgb, prompt_m, camera)
        H, W = image.shape[:2]
        scale = min(1.0, self.work_width / W)
        hw = max(1, int(round(H * scale)))
        ww = max(1, int(round(W * scale)))
        small = image if (hw, ww) == (H, W) else \
            cv2.resize(image, (ww, hw), interpolation=cv2.INTER_AREA)
        guide = small.astype(np.float32) * np.float32(1.0 / 255.0)
        prior = resize_depth(fill_knn(prompt, k=4), hw, ww)
        signal = splat_prompt(prompt, hw, ww)
        lam = np.float32(self.prior_weight)
        filtered = domain_transform_filter(guide, signal, self.sigma_s,
                                           self.sigma_r, self.iterations)
        depth = (filtered[..., 0] + lam * prior) / (filtered[..., 1] + lam)
        out = resize_depth(depth, H, W)
        return mask_range(out, self.min_depth, self.max_depth)


def make_default_backend(**options) -> DefaultBackend:
    """Build the 'default' backend.

    Options: ``sigma_s`` (working-image pixels, default 5), ``sigma_r`` (colour units,
    default 0.1), ``iterations`` (3), ``work_width`` (320 px), ``prior_weight`` (1e-3),
    ``min_depth`` / ``max_depth`` (metres).

    Raises:
        InputError: unknown option or invalid value.
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise InputError(f'default: unknown option(s) {", ".join(unknown)}')
    return DefaultBackend(**options)
