# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""One camera frame through the core: prompt -> backend -> output depth / cloud (no rclpy here).

The node (and anything else) calls :class:`DepthPipeline` with numpy arrays and core types; it
only orchestrates core functions and a depth backend, so it is tested without a ROS graph.
"""

from dataclasses import dataclass
import time

import cv2
import numpy as np

from promptda_ros.backends import needs_sparse_prompt
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.core.pointcloud import depth_to_points, pack_rgb
from promptda_ros.core.prompt import build_prompt, fill_prompt, PromptStats, validate_prompt
from promptda_ros.core.transforms import transform_points
from promptda_ros.ros.params import PerceptionParams


@dataclass
class PromptResult:
    """A prompt ready for the backend.

    Attributes:
        filled_m: (h, w) float32 metres, holes filled (0 only where filling was disabled).
        stats: statistics of the sparse prompt (before filling).
        sparse_m: (h, w) float32 metres, the measurements before filling, 0 = none; given to
            backends that fill on their own (``needs_sparse_prompt``, e.g. ``default``).
    """

    filled_m: np.ndarray
    stats: PromptStats
    sparse_m: np.ndarray | None = None


@dataclass
class DepthResult:
    """Output of one frame.

    Attributes:
        depth_m: (H', W') float32 metres, NaN = invalid (outside [min_depth, max_depth] included).
        camera: intrinsics of ``depth_m`` (the input camera scaled when the size differs).
        network_s: wall time of ``backend.predict``, seconds.
    """

    depth_m: np.ndarray
    camera: PinholeCamera
    network_s: float


def check_rgb(rgb: np.ndarray, camera: PinholeCamera) -> None:
    """Raise InputError unless rgb is (camera.height, camera.width, 3) uint8."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f'image must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}')
    if rgb.shape[:2] != (camera.height, camera.width):
        raise InputError(f'image size {rgb.shape[1]}x{rgb.shape[0]} differs from camera_info '
                         f'size {camera.width}x{camera.height}')


def prompt_from_points(points_lidar: np.ndarray, T_cam_lidar: np.ndarray | None,
                       camera: PinholeCamera, params: PerceptionParams) -> PromptResult:
    """Project a LiDAR sweep into the prompt grid and fill it.

    Args:
        points_lidar: (N, 3) float metres in the LiDAR frame (NaN rows are dropped by the core).
        T_cam_lidar: (4, 4) float64 LiDAR -> camera optical frame, or None when the sweep is
            already expressed in the camera frame.
        camera: camera model of the image.
        params: node parameters (prompt size, fill, depth range, min coverage).

    Raises:
        InputError: malformed points; PromptError: too few returns in the image.
    """
    points = np.asarray(points_lidar)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f'LiDAR points must be (N, 3), got {points.shape}')
    if T_cam_lidar is not None:
        points = transform_points(T_cam_lidar, points)
    filled, sparse, stats = build_prompt(
        points, camera, params.prompt_hw, fill=params.prompt_fill, min_depth=params.min_depth,
        max_depth=params.max_depth, min_valid_fraction=params.min_prompt_coverage)
    return PromptResult(np.asarray(filled, dtype=np.float32), stats,
                        np.asarray(sparse, dtype=np.float32))


def prompt_from_depth(prompt_m: np.ndarray, params: PerceptionParams) -> PromptResult:
    """Validate and fill a low-resolution prompt depth image (iPhone / ToF style).

    Args:
        prompt_m: (h, w) float32 metres, 0 = no measurement; used at its own resolution.
        params: node parameters (fill, depth range, min coverage).

    Raises:
        PromptError: too few valid cells or a degenerate range.
    """
    prompt = np.asarray(prompt_m, dtype=np.float32)
    if prompt.ndim != 2:
        raise InputError(f'prompt depth must be (h, w), got {prompt.shape}')
    in_range = (prompt > params.min_depth) & (prompt <= params.max_depth)
    sparse = np.where(in_range, prompt, np.float32(0.0)).astype(np.float32)
    stats = validate_prompt(sparse, min_valid_fraction=params.min_prompt_coverage)
    filled = fill_prompt(sparse, method=params.prompt_fill)
    return PromptResult(np.asarray(filled, dtype=np.float32), stats, sparse)


class DepthPipeline:
    """Runs a depth backend on (rgb, prompt) and shapes the output for publishing."""

    def __init__(self, backend) -> None:
        self.backend = backend

    @property
    def name(self) -> str:
        """Name of the backend."""
        return str(getattr(self.backend, 'name', type(self.backend).__name__))

    def predict(self, rgb: np.ndarray, camera: PinholeCamera, prompt: PromptResult,
                params: PerceptionParams) -> DepthResult:
        """Predict metric depth.

        Args:
            rgb: (H, W, 3) uint8 RGB matching ``camera``.
            camera: intrinsics of ``rgb``.
            prompt: the prompt; backends with ``needs_sparse_prompt`` get its unfilled
                measurements, the others the filled grid.
            params: output size and depth range.

        Returns:
            depth (H', W') float32 metres, NaN = invalid, with the matching camera.
        """
        check_rgb(rgb, camera)
        start = time.perf_counter()
        grid = prompt.filled_m
        if prompt.sparse_m is not None and needs_sparse_prompt(self.backend):
            grid = prompt.sparse_m
        depth = self.backend.predict(rgb, grid, camera)
        network_s = time.perf_counter() - start
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != rgb.shape[:2]:
            raise InputError(f'backend {self.name} returned depth {depth.shape}, expected '
                             f'{rgb.shape[:2]}')
        out_h, out_w = params.output_size
        if out_h and (out_h, out_w) != depth.shape:
            # Nearest keeps NaN holes from bleeding into neighbours and never invents depth.
            depth = cv2.resize(depth, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
            camera = camera.scaled(out_w, out_h)
        valid = (depth >= params.min_depth) & (depth <= params.max_depth)
        depth = np.where(valid, depth, np.float32(np.nan)).astype(np.float32, copy=False)
        return DepthResult(depth, camera, network_s)

    def warm_up(self, camera: PinholeCamera, params: PerceptionParams) -> float:
        """Run the backend once on a synthetic frame (slanted plane); return seconds taken."""
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 255, (camera.height, camera.width, 3), dtype=np.uint8)
        h, w = params.prompt_hw
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
