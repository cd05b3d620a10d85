# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""One camera frame through the core: prompt -> backend -> output depth / cloud (no ROS here).

Everything that turns a frame into metric depth calls this module: the perception node, the bag
replay (through the node), ``promptda-eval``, the benchmarks, the sample benchmark and the demo.
So the depth the evaluation scores is, bit for bit, the depth the node publishes for the same
frame, backend and :class:`PipelineConfig`.

Steps of one frame:

1. :func:`lidar_prompt_grid` - LiDAR points -> camera frame -> z-buffered prompt grid
   (:func:`promptda_ros.core.projection.project_to_grid`), with the depth range applied: the
   sweep -> grid step of the node, the evaluation, the benchmarks, training and the sample bag;
2. :func:`prompt_from_sparse` - validate the sparse grid (coverage, range); its holes are
   filled (:data:`DEFAULT_FILL` unless configured) when a backend or a debug topic asks;
   :func:`prompt_from_points` and :func:`prompt_from_depth` are steps 1-2 for a LiDAR sweep or
   a low-resolution depth image;
3. :meth:`DepthPipeline.predict` - run the backend (sparse grid for backends that fill on their
   own), resize to the output size (nearest) and mark NaN the depth outside the range and the
   pixels without support (:func:`support_mask`): farther than ``support_radius_deg`` from any
   return (e.g. above a LiDAR's vertical field of view), or whose nearest return lies beyond
   ``max_depth`` (a far return is never replaced by a nearer guess).
"""

from dataclasses import dataclass
import functools
import math
import time
from typing import Optional, Protocol, runtime_checkable

import cv2
import numpy as np
from scipy import ndimage

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import CalibrationError, InputError
from promptda_ros.core.pointcloud import depth_to_points, pack_rgb
from promptda_ros.core.projection import project_to_grid
from promptda_ros.core.prompt import (
    FILL_METHODS,
    fill_morphological,
    fill_prompt,
    PromptStats,
    validate_prompt,
)
from promptda_ros.core.transforms import transform_points


@runtime_checkable
class DepthBackend(Protocol):
    """Interface every depth backend implements (the registry is :mod:`promptda_ros.backends`).

    The pipeline runs any object of this shape; it never needs to know which backend it is.
    """

    name: str

    def predict(self, rgb: np.ndarray, prompt_m: np.ndarray, camera=None) -> np.ndarray:
        """Predict metric depth.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            prompt_m: (h, w) float32 metres, 0 = no measurement.
            camera: PinholeCamera of ``rgb`` or None.

        Returns:
            (H, W) float32 metres, NaN = invalid.
        """


def needs_sparse_prompt(backend: Optional[object]) -> bool:
    """Return True when ``backend`` wants the unfilled (sparse) prompt grid.

    A backend says so with the class attribute ``needs_sparse_prompt = True``; the others may
    be handed a hole-filled prompt.
    """
    return bool(getattr(backend, 'needs_sparse_prompt', False))


# 'pyramid' by default: on the real frames of bench/bench_realdata.py, bilinear upsampling of a
# 'pyramid'-filled prompt has a lower held-out L1 than of a 'knn'-filled one on every row (up to
# 2x lower on sparse LiDAR) and than of a 'morph'-filled one on dense grids by far ('morph'
# dilation prefers the nearest depth and biases filled cells to the foreground), at ~1-3 ms per
# 192x256 grid instead of ~20-70 ms for 'knn'.
DEFAULT_FILL = 'pyramid'
"""The one default hole filling of the prompt (node parameter, evaluation, benchmarks)."""


@dataclass(frozen=True)
class PipelineConfig:
    """What the frame pipeline needs from the node parameters (units in the attributes).

    Attributes:
        prompt_height: rows of the LiDAR prompt grid, px.
        prompt_width: columns of the LiDAR prompt grid, px.
        prompt_fill: hole filling, one of ``FILL_METHODS`` ('pyramid', 'knn', 'morph', 'none').
        min_depth: minimum valid depth of prompt and output, metres (exclusive for the prompt).
        max_depth: maximum valid depth of prompt and output, metres (inclusive).
        min_prompt_coverage: minimum fraction of prompt cells with a measurement.
        output_size: (height, width) of the output depth, px; (0, 0) = the image size.
        support_radius_deg: output pixels farther than this angle from every prompt cell with
            a return are NaN (:func:`support_mask`), degrees; 0 = no limit (returns beyond
            ``max_depth`` still mask their pixels).
    """

    prompt_height: int = 192
    prompt_width: int = 256
    prompt_fill: str = DEFAULT_FILL
    min_depth: float = 0.1
    max_depth: float = 20.0
    min_prompt_coverage: float = 0.001
    output_size: tuple[int, int] = (0, 0)
    support_radius_deg: float = 3.0

    def __post_init__(self) -> None:
        """Validate the values (InputError naming the field)."""
        if not (math.isfinite(self.support_radius_deg) and 0.0 <= self.support_radius_deg
                <= 180.0):
            raise InputError(f'support_radius_deg must be in [0, 180] degrees, got '
                             f'{self.support_radius_deg!r}')
        if self.prompt_fill not in FILL_METHODS:
            raise InputError(f'prompt_fill must be one of {list(FILL_METHODS)}, got '
                             f'{self.prompt_fill!r}')
        if int(self.prompt_height) < 1 or int(self.prompt_width) < 1:
            raise InputError(f'prompt grid must be at least 1x1, got '
                             f'{self.prompt_height}x{self.prompt_width}')
        if not (0.0 <= self.min_depth < self.max_depth):
            raise InputError(f'max_depth ({self.max_depth} m) must be greater than min_depth '
                             f'({self.min_depth} m) >= 0')
        size = tuple(int(v) for v in self.output_size)
        if len(size) != 2 or min(size) < 0 or (size[0] == 0) != (size[1] == 0):
            raise InputError(f'output_size must be (0, 0) or two positive sizes, got '
                             f'{self.output_size!r}')
        object.__setattr__(self, 'output_size', size)

    @property
    def prompt_hw(self) -> tuple[int, int]:
        """Prompt grid size (height, width) in pixels."""
        return int(self.prompt_height), int(self.prompt_width)

    @classmethod
    def with_prompt_hw(cls, prompt_hw: tuple[int, int], **values) -> 'PipelineConfig':
        """Return a config with the prompt grid (height, width) and other fields set."""
        return cls(prompt_height=int(prompt_hw[0]), prompt_width=int(prompt_hw[1]), **values)


@dataclass
class PromptResult:
    """A prompt ready for the backend.

    Attributes:
        stats: statistics of the sparse prompt (before filling).
        sparse_m: (h, w) float32 metres, the measurements in range before filling, 0 = none;
            given to backends that fill on their own (``needs_sparse_prompt``, e.g. ``default``).
        fill: hole filling of :attr:`filled_m`, one of ``FILL_METHODS``.
        filled_m: (h, w) float32 metres, holes filled (0 only where filling is 'none');
            computed on first access, so a backend that fills on its own never pays for it
            (measured on 192x256 real grids: 'pyramid' 1-3 ms, 'morph' 1-10 ms, 'knn'
            20-70 ms).
        far_mask: (h, w) bool, cells whose nearest return lies beyond ``max_depth`` (not in
            ``sparse_m``; their pixels get no depth), or None when there is none.
    """

    stats: PromptStats
    sparse_m: np.ndarray
    fill: str = DEFAULT_FILL
    far_mask: np.ndarray | None = None

    @functools.cached_property
    def filled_m(self) -> np.ndarray:
        """(h, w) float32 metres, the sparse prompt with its holes filled by :attr:`fill`."""
        if self.fill == 'morph':
            # The inversion constant must exceed the farthest measurement.
            filled = fill_morphological(self.sparse_m,
                                        max_depth=max(100.0, 2.0 * self.stats.max_m))
        else:
            filled = fill_prompt(self.sparse_m, self.fill)
        return np.asarray(filled, dtype=np.float32)


@dataclass
class DepthResult:
    """Output of one frame.

    Attributes:
        depth_m: (H', W') float32 metres, NaN = invalid (outside [min_depth, max_depth] or
            without support included).
        camera: intrinsics of ``depth_m`` (the input camera scaled when the size differs).
        network_s: wall time of ``backend.predict``, seconds.
        supported_fraction: share of the output pixels with support (:func:`support_mask`).
    """

    depth_m: np.ndarray
    camera: PinholeCamera
    network_s: float
    supported_fraction: float = 1.0


def unit_quaternion(quat_xyzw) -> tuple[float, float, float, float]:
    """Return a rotation quaternion (4,) ``x, y, z, w`` scaled to unit norm.

    The node's static extrinsics and the bag reader's /tf_static chain both go through it, so
    the same rotation gives bit-identical matrices in the node and in the evaluation.

    Raises:
        CalibrationError: not 4 finite numbers, or a norm below 1e-6.
    """
    quat = [float(q) for q in quat_xyzw]
    if len(quat) != 4 or not all(math.isfinite(q) for q in quat):
        raise CalibrationError(f'quaternion must be 4 finite numbers, got {quat!r}')
    norm = math.sqrt(sum(q * q for q in quat))
    if norm < 1e-6:
        raise CalibrationError(f'quaternion must be non-zero, got {quat!r}')
    x, y, z, w = (q / norm for q in quat)
    return x, y, z, w


def check_rgb(rgb: np.ndarray, camera: PinholeCamera) -> None:
    """Raise InputError unless rgb is (camera.height, camera.width, 3) uint8."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f'image must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}')
    if rgb.shape[:2] != (camera.height, camera.width):
        raise InputError(f'image size {rgb.shape[1]}x{rgb.shape[0]} differs from camera_info '
                         f'size {camera.width}x{camera.height}')


def lidar_prompt_grid(points_lidar: np.ndarray, T_cam_lidar: np.ndarray | None,
                      camera: PinholeCamera, config: PipelineConfig) -> np.ndarray:
    """Project a LiDAR sweep into the prompt grid (z-buffer: the nearest return wins).

    Returns beyond ``config.max_depth`` are kept: :func:`prompt_from_depth` takes them out of the
    prompt and marks their cells, so that their pixels are not given a nearer guess.

    Args:
        points_lidar: (N, 3) float metres in the LiDAR frame (NaN rows are dropped); float32
            points are transformed in float32, as they come from a PointCloud2.
        T_cam_lidar: (4, 4) float64 LiDAR -> camera optical frame, or None when the sweep is
            already expressed in the camera frame.
        camera: camera model of the full image.
        config: prompt grid size and depth range.

    Returns:
        (h, w) float32 metres, 0 = no return beyond min_depth.

    Raises:
        InputError: malformed points or grid.
    """
    points = np.asarray(points_lidar)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f'LiDAR points must be (N, 3), got {points.shape}')
    if T_cam_lidar is not None:
        points = transform_points(T_cam_lidar, points)
    grid = project_to_grid(points, camera, config.prompt_hw, min_depth=config.min_depth)
    return np.asarray(grid, dtype=np.float32)


def prompt_from_sparse(sparse_m: np.ndarray, config: PipelineConfig,
                       far_mask: np.ndarray | None = None) -> PromptResult:
    """Validate a sparse prompt grid; its holes are filled on first use of ``filled_m``.

    Args:
        sparse_m: (h, w) float32 metres, 0 = no measurement, already range filtered.
        config: fill method and minimum coverage.
        far_mask: (h, w) bool cells whose nearest return lies beyond the range, or None.

    Raises:
        PromptError: too few valid cells or a degenerate range.
    """
    sparse = np.asarray(sparse_m, dtype=np.float32)
    stats = validate_prompt(sparse, min_valid_fraction=config.min_prompt_coverage)
    if far_mask is not None and not np.any(far_mask):
        far_mask = None
    return PromptResult(stats, sparse, config.prompt_fill, far_mask)


def prompt_from_points(points_lidar: np.ndarray, T_cam_lidar: np.ndarray | None,
                       camera: PinholeCamera, config: PipelineConfig) -> PromptResult:
    """Project a LiDAR sweep into the prompt grid and fill it (:func:`lidar_prompt_grid`).

    Args:
        points_lidar: (N, 3) float metres in the LiDAR frame.
        T_cam_lidar: (4, 4) float64 LiDAR -> camera optical frame, or None (camera frame).
        camera: camera model of the image.
        config: prompt size, fill, depth range, min coverage.

    Raises:
        InputError: malformed points; PromptError: too few returns in the image.
    """
    return prompt_from_depth(lidar_prompt_grid(points_lidar, T_cam_lidar, camera, config),
                             config)


def reduce_to_grid(sparse_m: np.ndarray, grid_hw: tuple[int, int]) -> np.ndarray:
    """Shrink a sparse depth image to at most ``grid_hw``, keeping the nearest measurement.

    Each output cell covers the input pixels ``floor(v * h / H) == row`` (and likewise for
    columns) and takes the smallest valid depth among them: the z-buffer rule LiDAR points are
    projected with (:func:`lidar_prompt_grid`), so no depth is invented between a foreground and
    a background measurement. A dimension already within the grid is kept. Two vectorised
    passes, O(H * W): a 1440 x 1920 image takes a few ms.

    Args:
        sparse_m: (H, W) float32 metres, 0 = no measurement.
        grid_hw: (h, w) largest output size, cells.

    Returns:
        (min(H, h), min(W, w)) float32 metres, 0 = no measurement in the cell.
    """
    sparse = np.asarray(sparse_m, dtype=np.float32)
    height, width = sparse.shape
    out_h, out_w = min(height, int(grid_hw[0])), min(width, int(grid_hw[1]))
    if (out_h, out_w) == (height, width):
        return sparse
    zbuf = np.where(sparse > 0.0, sparse, np.float32(np.inf))
    for axis, size, out in ((0, height, out_h), (1, width, out_w)):
        if out < size:
            # First input index of each output cell; every cell is non-empty as out <= size.
            starts = -((-np.arange(out) * size) // out)
            zbuf = np.minimum.reduceat(zbuf, starts, axis=axis)
    return np.where(np.isfinite(zbuf), zbuf, np.float32(0.0)).astype(np.float32, copy=False)


def prompt_from_depth(prompt_m: np.ndarray, config: PipelineConfig) -> PromptResult:
    """Validate and fill a low-resolution prompt depth image (iPhone / ToF style).

    Args:
        prompt_m: (H, W) float metres, 0 / NaN = no measurement; used at its own resolution
            up to the prompt grid: a larger image is reduced to it (:func:`reduce_to_grid`), so
            hole filling and inference take bounded time whatever the prompt's size.
        config: prompt grid (the largest prompt used), fill, depth range, min coverage.

    Returns:
        the prompt; a cell whose nearest measurement lies beyond ``max_depth`` is left out of
        it and marked in ``far_mask`` (measurements at or below ``min_depth`` are ignored).

    Raises:
        InputError: not a 2-D array; PromptError: too few valid cells or a degenerate range.
    """
    prompt = np.asarray(prompt_m, dtype=np.float32)
    if prompt.ndim != 2:
        raise InputError(f'prompt depth must be (h, w), got {prompt.shape}')
    with np.errstate(invalid='ignore'):
        returns = np.isfinite(prompt) & (prompt > config.min_depth)
    nearest = reduce_to_grid(np.where(returns, prompt, np.float32(0.0)).astype(np.float32),
                             config.prompt_hw)
    far = nearest > config.max_depth
    sparse = np.where(far, np.float32(0.0), nearest).astype(np.float32, copy=False)
    return prompt_from_sparse(sparse, config, far)


def support_mask(prompt: PromptResult, camera: PinholeCamera, out_hw: tuple[int, int],
                 radius_deg: float) -> np.ndarray | None:
    """Output pixels whose depth is supported by a return of the prompt.

    A prompt cell is supported when the nearest cell holding a return (in range or beyond
    ``max_depth``) is no farther than ``radius_deg`` (angles from the camera's focal lengths,
    cell centre to cell centre) and holds an in-range return: so rows above a LiDAR's vertical
    field of view, and the pixels around returns beyond the range, are not supported. Pixels
    take the value of the cell they lie in.

    Args:
        prompt: the prompt (``sparse_m`` (h, w) metres and ``far_mask``).
        camera: camera of the full image (its field of view spans the grid).
        out_hw: (H', W') output size in pixels.
        radius_deg: largest distance to a return, degrees; 0 = no limit.

    Returns:
        (H', W') bool, True = supported; None when every pixel is supported.
    """
    far = prompt.far_mask
    returns = prompt.sparse_m > 0
    if far is None and (radius_deg <= 0.0 or np.all(returns)):
        return None
    if far is not None:
        returns = returns | far
    h, w = returns.shape
    cell = (math.degrees(camera.height / h / camera.fy),
            math.degrees(camera.width / w / camera.fx))
    dist, (ri, ci) = ndimage.distance_transform_edt(~returns, sampling=cell, return_indices=True)
    ok = np.ones((h, w), bool) if far is None else ~far[ri, ci]
    if radius_deg > 0.0:
        ok &= dist <= radius_deg
    if ok.all():
        return None
    if ok.shape != tuple(out_hw):
        ok = cv2.resize(ok.view(np.uint8), (out_hw[1], out_hw[0]),
                        interpolation=cv2.INTER_NEAREST).astype(bool)
    return ok


class DepthPipeline:
    """Runs a depth backend on (rgb, prompt) and shapes the output for publishing or scoring."""

    def __init__(self, backend) -> None:
        """Wrap a :class:`DepthBackend`."""
        self.backend = backend

    @property
    def name(self) -> str:
        """Name of the backend."""
        return str(getattr(self.backend, 'name', type(self.backend).__name__))

    def predict(self, rgb: np.ndarray, camera: PinholeCamera, prompt: PromptResult,
                config: PipelineConfig) -> DepthResult:
        """Predict metric depth.

        Args:
            rgb: (H, W, 3) uint8 RGB matching ``camera``.
            camera: intrinsics of ``rgb``.
            prompt: the prompt; backends with ``needs_sparse_prompt`` get its unfilled
                measurements, the others the filled grid.
            config: output size, depth range and support radius.

        Returns:
            depth (H', W') float32 metres, NaN = invalid or unsupported, with the matching
            camera and the supported fraction.
        """
        check_rgb(rgb, camera)
        image_camera = camera
        # The grid first: a filled prompt is computed on first use, not on the backend's clock.
        grid = prompt.sparse_m if needs_sparse_prompt(self.backend) else prompt.filled_m
        start = time.perf_counter()
        depth = self.backend.predict(rgb, grid, camera)
        network_s = time.perf_counter() - start
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != rgb.shape[:2]:
            raise InputError(f'backend {self.name} returned depth {depth.shape}, expected '
                             f'{rgb.shape[:2]}')
        out_h, out_w = config.output_size
        if out_h and (out_h, out_w) != depth.shape:
            # Nearest keeps NaN holes from bleeding into neighbours and never invents depth.
            depth = cv2.resize(depth, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
            camera = camera.scaled(out_w, out_h)
        with np.errstate(invalid='ignore'):
            valid = (depth >= config.min_depth) & (depth <= config.max_depth)
        supported = support_mask(prompt, image_camera, depth.shape, config.support_radius_deg)
        if supported is not None:
            valid &= supported
        depth = np.where(valid, depth, np.float32(np.nan)).astype(np.float32, copy=False)
        share = 1.0 if supported is None else float(np.count_nonzero(supported)) / supported.size
        return DepthResult(depth, camera, network_s, share)

    def warm_up(self, camera: PinholeCamera, config: PipelineConfig) -> float:
        """Run the backend once on a synthetic frame (slanted plane); return seconds taken."""
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 255, (camera.height, camera.width, 3), dtype=np.uint8)
        h, w = config.prompt_hw
        prompt = np.linspace(1.0, 3.0, h * w, dtype=np.float32).reshape(h, w)
        start = time.perf_counter()
        self.backend.predict(rgb, prompt, camera)
        return time.perf_counter() - start


def cloud_arrays(depth_m: np.ndarray, camera: PinholeCamera, rgb: np.ndarray | None,
                 decimation: int = 1, max_range: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Back-project depth into an organized cloud.

    Args:
        depth_m: (H, W) float32 metres, NaN = invalid.
        camera: intrinsics of ``depth_m`` (rays through (u - cx) / fx, (v - cy) / fy).
        rgb: (h, w, 3) uint8 RGB of the frame (resized to (H, W) when different) or None.
        decimation: keep every n-th row and column.
        max_range: points farther than this (Euclidean, metres) become NaN; 0 = no limit.

    Returns:
        points (H/d, W/d, 3) float32 metres in the camera optical frame, NaN where invalid;
        packed rgb (H/d, W/d) float32 or None.
    """
    points = depth_to_points(depth_m, camera)
    step = max(int(decimation), 1)
    if step > 1:
        points = np.ascontiguousarray(points[::step, ::step])
    if max_range > 0.0:
        far = np.einsum('hwc,hwc->hw', points, points) > np.float32(max_range) ** 2
        points[far] = np.nan
    packed = None
    if rgb is not None:
        if rgb.shape[:2] != depth_m.shape:
            rgb = cv2.resize(rgb, (depth_m.shape[1], depth_m.shape[0]),
                             interpolation=cv2.INTER_AREA)
        packed = np.ascontiguousarray(pack_rgb(rgb[::step, ::step]))
    return points, packed
