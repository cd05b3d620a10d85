# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""StarryGazer inference: relative depth + sparse metric depth -> dense metric depth.

One preparation path (:func:`prepare`) serves training and inference: the relative map and the
RGB are resized to the network resolution, the relative map is normalised
(:func:`promptda_ros.adapt.relative.normalise_relative`), one least-squares scale and shift in
inverse depth aligns it to the sparse depth (``init``), and :func:`network.make_input` stacks
the channels.  At inference the log-depth correction (hint + network output) is upsampled
bilinearly and applied to the *full-resolution* aligned map, so the output keeps the relative
map's detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promptda_ros.adapt.network import HINT, load_refiner, make_input, RefineConfig
from promptda_ros.adapt.relative import normalise_relative
from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.eval.alignment import align_relative_depth

MIN_SPARSE = 16  # valid sparse samples needed for the affine fit


def resize(arr: np.ndarray, hw: tuple, nearest: bool = False) -> np.ndarray:
    """Resize a (H, W) or (H, W, C) array to ``hw`` = (h, w) (area when shrinking)."""
    import cv2

    arr = np.asarray(arr)
    if arr.shape[:2] == tuple(hw):
        return arr
    if nearest:
        interp = cv2.INTER_NEAREST
    elif hw[0] < arr.shape[0]:
        interp = cv2.INTER_AREA
    else:
        interp = cv2.INTER_LINEAR
    src = arr.astype(np.float32) if arr.dtype == np.float64 else arr
    return cv2.resize(src, (int(hw[1]), int(hw[0])), interpolation=interp)


def sparse_to_grid(sparse_m: np.ndarray, hw: tuple) -> np.ndarray:
    """Move sparse measurements onto another grid without interpolating them.

    Args:
        sparse_m: (h0, w0) float metres, 0 / NaN = no measurement.
        hw: target (h, w).

    Returns:
        (h, w) float32 metres, 0 = none; each valid cell lands in the target cell holding its
        centre (the nearest one wins when several land in the same cell).
    """
    s = np.nan_to_num(np.asarray(sparse_m, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    h, w = int(hw[0]), int(hw[1])
    if s.shape == (h, w):
        return s.copy()
    rows, cols = np.nonzero(s > 0)
    z = s[rows, cols]
    r = np.minimum(((rows + 0.5) * h / s.shape[0]).astype(np.int64), h - 1)
    c = np.minimum(((cols + 0.5) * w / s.shape[1]).astype(np.int64), w - 1)
    order = np.argsort(-z)  # far first, so the nearest return is written last
    out = np.zeros((h, w), np.float32)
    out[r[order], c[order]] = z[order]
    return out


def _clip_bounds(sparse_m: np.ndarray) -> tuple:
    valid = sparse_m[np.isfinite(sparse_m) & (sparse_m > 0)]
    return 0.5 * float(valid.min()), 2.0 * float(valid.max())


def apply_fit(rel: np.ndarray, fit, space: str, bounds: tuple) -> np.ndarray:
    """Apply an affine fit (``target = scale * rel + shift``) and return depth in metres.

    Args:
        rel: (H, W) float relative map.
        fit: :class:`promptda_ros.eval.alignment.AlignmentResult`.
        space: 'inverse' (target = 1 / depth) or 'depth'.
        bounds: (lo, hi) metres; the depth is clipped to it and invalid values become ``hi``.

    Returns:
        (H, W) float32 metres, finite.
    """
    with np.errstate(invalid='ignore', divide='ignore', over='ignore'):
        val = fit.scale * np.asarray(rel, np.float64) + fit.shift
        depth = np.where(val > 0, 1.0 / val, np.inf) if space == 'inverse' else val
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, bounds[1])
    return np.clip(depth, *bounds).astype(np.float32)


@dataclass
class Prepared:
    """One sample ready for the network.

    Attributes:
        x: (9, h, w) float32 network input.
        s: metric scale in metres (median valid sparse depth).
        init_m: (h, w) float32 metres, affine-aligned relative depth at the network resolution.
        fit: the affine fit (AlignmentResult).
        bounds: (lo, hi) metres the aligned depth is clipped to.
    """

    x: np.ndarray
    s: float
    init_m: np.ndarray
    fit: object
    bounds: tuple


def prepare(rgb: np.ndarray, rel: np.ndarray, space: str, sparse_m: np.ndarray,
            net_hw: tuple, image_hw: tuple | None = None) -> Prepared:
    """Build the network input of one frame.

    The sparse depth first loses the cells a LiDAR offset from the camera sees past foreground
    edges (the ``default`` backend's occlusion filter, window scaled to ``image_hw``), then moves
    onto the network grid.

    Args:
        rgb: (H, W, 3) uint8 RGB.
        rel: (H', W') float relative map of the same view (any resolution of the same aspect).
        space: 'inverse' or 'depth'.
        sparse_m: (h0, w0) float metres, 0 / NaN = none (any resolution).
        net_hw: network input (h, w).
        image_hw: (H, W) of the camera image the sparse grid belongs to; None = ``rgb``'s.

    Raises:
        PromptError: fewer than 16 valid sparse samples.
    """
    from promptda_ros.backends.default import occlusion_cells, OCCLUSION_MARGIN, remove_occluded

    sparse0 = np.nan_to_num(np.asarray(sparse_m, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    sparse0[sparse0 < 0] = 0.0
    image_hw = tuple(image_hw) if image_hw is not None else np.shape(rgb)[:2]
    sparse0 = remove_occluded(sparse0, occlusion_cells(image_hw, sparse0.shape),
                              OCCLUSION_MARGIN)
    sparse = sparse_to_grid(sparse0, net_hw)
    if int(np.count_nonzero(sparse > 0)) < MIN_SPARSE:
        raise PromptError(f'only {int(np.count_nonzero(sparse > 0))} valid sparse samples '
                          f'(need {MIN_SPARSE})')
    rel_net = resize(np.asarray(rel, np.float32), net_hw).astype(np.float64)
    _, fit = align_relative_depth(rel_net, sparse, method='lstsq', space=space,
                                  min_samples=MIN_SPARSE)
    bounds = _clip_bounds(sparse)
    init = apply_fit(rel_net, fit, space, bounds)
    x, s = make_input(resize(rgb, net_hw), normalise_relative(rel_net, space), sparse, init)
    return Prepared(x, s, init, fit, bounds)


class StarryGazer:
    """Refinement network + preparation: ``predict_with_relative(rgb, prompt, rel, space)``."""

    def __init__(self, weights: str, device: str = 'cpu',
                 expected: RefineConfig | None = None) -> None:
        """Load refinement weights (CheckpointError on a file of another config)."""
        import torch

        self.model, self.metadata = load_refiner(weights, expected=expected, device=device)
        self.config = self.model.config
        self.device = device
        self._torch = torch

    def predict_with_relative(self, rgb: np.ndarray, prompt_m: np.ndarray, rel: np.ndarray,
                              space: str) -> np.ndarray:
        """Refine a relative map with sparse metric depth.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            prompt_m: (h, w) float metres, 0 / NaN = no measurement (e.g. a projected LiDAR
                sweep), any resolution.
            rel: (H, W) float relative map of the image (see
                :func:`promptda_ros.adapt.relative.relative_for`).
            space: 'inverse' or 'depth'.

        Returns:
            (H, W) float32 metres (finite, > 0).

        Raises:
            InputError: shapes that do not fit; PromptError: too few valid prompt cells.
        """
        image = np.asarray(rgb)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f'rgb must be (H, W, 3) uint8, got {image.shape} {image.dtype}')
        H, W = image.shape[:2]
        if np.shape(rel) != (H, W):
            raise InputError(f'relative map is {np.shape(rel)}, the image is {(H, W)}')
        net_hw = self.config.net_hw((H, W))
        prep = prepare(image, rel, space, prompt_m, net_hw)
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(prep.x[None]).to(self.device)
            corr = self.model(x)[0, 0].float().cpu().numpy()
        full = apply_fit(np.asarray(rel, np.float64), prep.fit, space, prep.bounds)
        up = resize(corr + prep.x[HINT], (H, W))
        return (full * np.exp(up)).astype(np.float32)
