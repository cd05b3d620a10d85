# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Project LiDAR points onto a (low-resolution) prompt grid with a z-buffer.

Each grid cell keeps the depth (metres along the optical axis) of the *nearest* point
that falls into it; cells without any return are 0.0. A point lands in cell
``(round(v), round(u))`` because integer pixel coordinates are pixel centres.

A prompt grid, projected or read from a depth sensor, covers the image's field of view, so its
aspect ratio is the image's: :func:`check_prompt_aspect` refuses one that is not (a transposed
or cropped prompt).
"""

import math
from typing import Optional

import numpy as np

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError


def _check_points(points_cam) -> np.ndarray:
    pts = np.asarray(points_cam)
    if pts.ndim == 3 and pts.shape[2] == 3:
        pts = pts.reshape(-1, 3)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(
            f'points_cam must have shape (N, 3) (or organized (H, W, 3)), got {pts.shape}')
    if not (np.issubdtype(pts.dtype, np.floating) or np.issubdtype(pts.dtype, np.integer)):
        raise InputError(f'points_cam must be numeric, got dtype {pts.dtype}')
    return pts


def grid_camera(camera: PinholeCamera, grid_hw=None) -> PinholeCamera:
    """Return the camera of the prompt grid: ``camera`` itself or ``camera.scaled(w, h)``."""
    if not isinstance(camera, PinholeCamera):
        raise InputError(f'camera must be a PinholeCamera, got {type(camera).__name__}')
    if grid_hw is None:
        return camera
    try:
        h, w = grid_hw
    except (TypeError, ValueError):
        raise InputError(f'grid_hw must be (height, width), got {grid_hw!r}') from None
    if (h, w) == (camera.height, camera.width):
        return camera
    return camera.scaled(w, h)


def project_to_grid(points_cam, camera: PinholeCamera, grid_hw: Optional[tuple] = None,
                    min_depth: float = 0.0, max_depth: float = math.inf,
                    use_distortion: bool = False) -> np.ndarray:
    """Project points into the camera and z-buffer them onto a grid.

    Args:
        points_cam: (N, 3) (or organized (H, W, 3)) float metres in the camera optical frame.
        camera: camera of the full-resolution image.
        grid_hw: (h, w) of the grid; None = camera resolution, else ``camera.scaled(w, h)``.
        min_depth: points with ``z <= min_depth`` (metres) are dropped (behind the camera too).
        max_depth: points with ``z > max_depth`` (metres) are dropped.
        use_distortion: project into the raw (distorted) image with K, D, R instead of P.

    Returns:
        (h, w) float32 metres, 0.0 = no return. NaN/Inf points and points outside the grid
        are dropped; where several points share a cell the nearest wins.

    Raises:
        InputError: wrong array shape, bad grid size or bad depth range.
    """
    pts = _check_points(points_cam)
    try:
        min_depth = float(min_depth)
        max_depth = float(max_depth)
    except (TypeError, ValueError):
        raise InputError('min_depth and max_depth must be numbers') from None
    if math.isnan(min_depth) or math.isnan(max_depth) or min_depth < 0.0:
        raise InputError(f'min_depth must be >= 0 and not NaN, got {min_depth}')
    if not max_depth > min_depth:
        raise InputError(f'max_depth ({max_depth}) must be > min_depth ({min_depth})')
    cam = grid_camera(camera, grid_hw)
    h, w = cam.height, cam.width
    grid = np.zeros(h * w, dtype=np.float32)
    if pts.shape[0] == 0:
        return grid.reshape(h, w)

    x = pts[:, 0].astype(np.float64)
    y = pts[:, 1].astype(np.float64)
    z = pts[:, 2].astype(np.float64)
    with np.errstate(invalid='ignore'):
        keep = (np.isfinite(x) & np.isfinite(y) & (z > min_depth) & (z <= max_depth)
                & (z > 0.0))
    if not np.any(keep):
        return grid.reshape(h, w)
    x, y, z = x[keep], y[keep], z[keep]
    if use_distortion:
        uv, _ = cam.project_raw(np.stack([x, y, z], axis=1))
        u, v = uv[:, 0], uv[:, 1]
    else:
        P = cam.P  # last row validated as [0, 0, 1, 0]: the homogeneous scale is z
        inv_z = 1.0 / z
        u = (P[0, 0] * x + P[0, 1] * y + P[0, 3]) * inv_z + P[0, 2]
        v = (P[1, 1] * y + P[1, 0] * x + P[1, 3]) * inv_z + P[1, 2]
    with np.errstate(invalid='ignore'):
        col = np.floor(u + 0.5)
        row = np.floor(v + 0.5)
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    if not np.any(inside):
        return grid.reshape(h, w)
    cell = row[inside].astype(np.int64) * w + col[inside].astype(np.int64)
    # z-buffer: per-cell minimum (ufunc.at applies every repeated index, nearest wins).
    zbuf = np.full(h * w, np.inf)
    np.minimum.at(zbuf, cell, z[inside])
    hit = np.isfinite(zbuf)
    grid[hit] = zbuf[hit].astype(np.float32)
    return grid.reshape(h, w)


PROMPT_ASPECT_TOLERANCE = 0.05
"""Largest relative difference of the prompt's and the image's aspect ratios (w / h)."""


def check_prompt_aspect(image_hw: tuple, prompt_hw: tuple,
                        tolerance: float = PROMPT_ASPECT_TOLERANCE) -> None:
    """Refuse a prompt that cannot cover the image's field of view.

    A depth prompt (e.g. 192x256 iPhone LiDAR for a 1440x1920 image) is a low-resolution view
    of the same scene, so its aspect ratio is the image's; a square or portrait prompt for a
    landscape image is another crop or another sensor.

    Args:
        image_hw: (H, W) image size, pixels.
        prompt_hw: (h, w) prompt size, cells.
        tolerance: largest relative difference of the two ``w / h`` ratios.

    Raises:
        InputError: the aspect ratios differ by more than ``tolerance``.
    """
    (height, width), (rows, cols) = image_hw[:2], prompt_hw[:2]
    image_ratio, prompt_ratio = width / float(height), cols / float(rows)
    if abs(prompt_ratio / image_ratio - 1.0) > tolerance:
        raise InputError("the prompt (%dx%d, w/h %.3f) does not have the image's aspect ratio "
                         '(%dx%d, w/h %.3f): a prompt covers the same field of view'
                         % (rows, cols, prompt_ratio, height, width, image_ratio))
