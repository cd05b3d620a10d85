# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""StarryGazer inference: LiDAR-only completion + relative depth -> refined metric depth.

The refinement starts from the **LiDAR-only completion** (:class:`LidarOnly`: the ``default``
backend, taken from the backend registry and run through the frame pipeline, so it is the
depth the node would publish with ``backend: default`` for the same sparse prompt) and predicts
a bounded log-depth correction on top of it: a per-pixel gate on the relative map locally
aligned to the prompt, plus an optional residual (off by default; see
:mod:`promptda_ros.backends.starrygazer_net`).

One preparation path (:func:`prepare`) serves training and inference: the LiDAR-only completion
is computed at the image resolution (the one the output is built on) and area-averaged to the
network resolution, the RGB, the relative map and the sparse depth move to that resolution, the
relative map is normalised (:func:`promptda_ros.backends.relative.normalise_relative`) and
aligned to the sparse depth by one least-squares scale and shift in inverse depth (``init``,
:func:`promptda_ros.core.alignment.align_relative_depth`), and
:func:`promptda_ros.backends.starrygazer_net.make_input` stacks the channels (training,
``promptda-adapt``, calls the same :func:`prepare`).  At inference the correction is upsampled
bilinearly and applied to the *full-resolution* LiDAR-only completion: the output keeps its
edges, and the relative map's fine detail (blur, copied texture, noise) is never pasted into
it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promptda_ros.backends import make_backend
from promptda_ros.backends.default import occlusion_cells, OCCLUSION_MARGIN, remove_occluded
from promptda_ros.backends.relative import normalise_relative
from promptda_ros.backends.starrygazer_net import load_refiner, make_input, RefineConfig
from promptda_ros.core.alignment import align_relative_depth
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_sparse

MIN_SPARSE = 16  # valid sparse samples needed for the affine fit
LIDAR_ONLY_BACKEND = 'default'  # the backend the refinement starts from and falls back to
_OPEN_RANGE_M = 1.0e6  # the LiDAR-only pipeline masks nothing in range: callers apply theirs


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
        fit: :class:`promptda_ros.core.alignment.AlignmentResult`.
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


class LidarOnly:
    """The LiDAR-only completion: ``lidar_only(rgb, sparse_m, camera) -> (H, W) metres``.

    The ``default`` backend made by the backend registry and run through the frame pipeline
    (:class:`promptda_ros.pipeline.DepthPipeline`, the prompt validated and, for a backend that
    wants it, filled with the pipeline's default fill), with an open depth range: for the same
    RGB, camera and sparse grid its output is the ``default`` output the node publishes, before
    the node's own depth-range mask.
    """

    def __init__(self, backend=None) -> None:
        """Wrap ``backend`` (None = ``make_backend('default')``)."""
        self.pipeline = DepthPipeline(backend if backend is not None
                                      else make_backend(LIDAR_ONLY_BACKEND))

    def __call__(self, rgb: np.ndarray, sparse_m: np.ndarray, camera=None) -> np.ndarray:
        """Complete a sparse grid.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            sparse_m: (h, w) float32 metres, 0 = no measurement, range filtered already.
            camera: PinholeCamera of ``rgb``; None = a nominal one (focal length = width).

        Returns:
            (H, W) float32 metres, NaN where the backend gives no depth.

        Raises:
            PromptError: fewer than 16 measurements.
        """
        sparse = np.nan_to_num(np.asarray(sparse_m, np.float32), nan=0.0, posinf=0.0,
                               neginf=0.0)
        config = PipelineConfig.with_prompt_hw(sparse.shape, min_depth=0.0,
                                               max_depth=_OPEN_RANGE_M, min_prompt_coverage=0.0)
        if camera is None:
            H, W = np.shape(rgb)[:2]
            camera = PinholeCamera.from_intrinsics(float(W), float(W), (W - 1) / 2.0,
                                                   (H - 1) / 2.0, W, H)
        prompt = prompt_from_sparse(sparse, config)
        return self.pipeline.predict(rgb, camera, prompt, config).depth_m


@dataclass
class Prepared:
    """One sample ready for the network.

    Attributes:
        x: (10, h, w) float32 network input.
        s: metric scale in metres (median valid sparse depth).
        init_m: (h, w) float32 metres, affine-aligned relative depth at the network resolution.
        lidar_m: (h, w) float32 metres, the LiDAR-only completion (computed at the image
            resolution) area-averaged to the network resolution.
        fit: the affine fit (AlignmentResult).
        bounds: (lo, hi) metres the aligned depth is clipped to.
    """

    x: np.ndarray
    s: float
    init_m: np.ndarray
    lidar_m: np.ndarray
    fit: object
    bounds: tuple


def prepare(rgb: np.ndarray, rel: np.ndarray, space: str, sparse_m: np.ndarray,
            net_hw: tuple, lidar_only, camera=None, image_hw: tuple | None = None,
            lidar_m: np.ndarray | None = None) -> Prepared:
    """Build the network input of one frame.

    ``lidar_only`` completes the sparse depth at the resolution of ``rgb`` (the completion the
    output is built on), and the network sees that completion area-averaged to its grid.  For
    the other channels the sparse depth first loses the cells a LiDAR offset from the camera
    sees past foreground edges (the ``default`` backend's occlusion filter, window scaled to
    ``image_hw``), then moves onto the network grid.

    Args:
        rgb: (H, W, 3) uint8 RGB.
        rel: (H', W') float relative map of the same view (any resolution of the same aspect).
        space: 'inverse' or 'depth'.
        sparse_m: (h0, w0) float metres, 0 / NaN = none (any resolution).
        net_hw: network input (h, w).
        lidar_only: a :class:`LidarOnly` (or a callable with its signature).
        camera: PinholeCamera of ``rgb`` or None (scaled to the network resolution).
        image_hw: (H, W) of the camera image the sparse grid belongs to; None = ``rgb``'s.
        lidar_m: (H, W) float32 metres, ``lidar_only``'s completion of ``sparse_m`` when the
            caller has it already; None = computed here.

    Raises:
        PromptError: fewer than 16 valid sparse samples.
    """
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
    if lidar_m is None:
        lidar_m = lidar_only(np.ascontiguousarray(rgb), sparse_m, camera)
    full = np.asarray(lidar_m, np.float32)
    ok = np.isfinite(full) & (full > 0)
    fill = float(np.median(full[ok])) if ok.any() else float(np.median(sparse[sparse > 0]))
    lidar = resize(np.where(ok, full, fill).astype(np.float32), net_hw)
    lidar = np.where(np.isfinite(lidar) & (lidar > 0), lidar, init).astype(np.float32)
    x, s = make_input(resize(rgb, net_hw), normalise_relative(rel_net, space), sparse, init,
                      lidar)
    return Prepared(x, s, init, lidar, fit, bounds)


class StarryGazer:
    """Refinement network + preparation: ``refine(rgb, prompt, rel, space, camera)``."""

    def __init__(self, weights: str, device: str = 'cpu',
                 expected: RefineConfig | None = None, lidar_only: LidarOnly | None = None
                 ) -> None:
        """Load refinement weights (CheckpointError on a file of another config)."""
        import torch

        self.model, self.metadata = load_refiner(weights, expected=expected, device=device)
        self.config = self.model.config
        self.device = device
        self.lidar_only = lidar_only if lidar_only is not None else LidarOnly()
        self._torch = torch

    def refine(self, rgb: np.ndarray, prompt_m: np.ndarray, rel: np.ndarray, space: str,
               camera=None, lidar_m: np.ndarray | None = None) -> np.ndarray:
        """Refine the LiDAR-only completion of a sparse prompt with a relative map.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            prompt_m: (h, w) float metres, 0 / NaN = no measurement (e.g. a projected LiDAR
                sweep), any resolution.
            rel: (H, W) float relative map of the image (see
                :func:`promptda_ros.backends.relative.relative_for`).
            space: 'inverse' or 'depth'.
            camera: PinholeCamera of ``rgb`` or None.
            lidar_m: (H, W) float32 metres, the LiDAR-only completion of ``prompt_m`` when the
                caller has it already; None = computed here.

        Returns:
            (H, W) float32 metres: ``lidar_m * exp(correction)``, NaN where ``lidar_m`` is.

        Raises:
            InputError: shapes that do not fit; PromptError: too few valid prompt cells.
        """
        image = np.asarray(rgb)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f'rgb must be (H, W, 3) uint8, got {image.shape} {image.dtype}')
        H, W = image.shape[:2]
        if np.shape(rel) != (H, W):
            raise InputError(f'relative map is {np.shape(rel)}, the image is {(H, W)}')
        if lidar_m is None:
            lidar_m = self.lidar_only(image, prompt_m, camera)
        net_hw = self.config.net_hw((H, W))
        prep = prepare(image, rel, space, prompt_m, net_hw, self.lidar_only, camera,
                       lidar_m=lidar_m)
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(prep.x[None]).to(self.device)
            corr = self.model(x)[0, 0].float().cpu().numpy()
        return (np.asarray(lidar_m, np.float32) * np.exp(resize(corr, (H, W)))).astype(
            np.float32)
