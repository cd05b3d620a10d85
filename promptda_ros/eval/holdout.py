# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Held-out measured points: score depth on a robot's own sensor with no ground truth.

Depth-completion benchmarks without dense ground truth (KITTI depth completion, VOID) give a
method only part of the measured points and score it on the rest.  This module owns that split,
so the evaluation CLI, the real-data benchmark and the tests hold out the same points for the
same seed:

* :func:`promptda_ros.core.holdout.holdout_mask` picks the held-out measurements (it lives in
  the core because the ``starrygazer`` backend's serve-time guard holds out prompt cells too);
* :func:`split_depth` applies it to a sparse depth image: the prompt keeps the rest, the reference
  holds the held-out pixels;
* :func:`holdout_prompt` and :func:`holdout_sweep` split one evaluation frame's measurements (a
  low-resolution depth prompt, or a LiDAR sweep) into the prompt the methods get and a reference
  image at the camera resolution, the nearest held-out measurement per pixel.
"""

from __future__ import annotations

import math

import numpy as np

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.core.holdout import holdout_mask
from promptda_ros.pipeline import lidar_prompt_grid, PipelineConfig


def split_depth(depth_m: np.ndarray, fraction: float,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split a sparse depth image into a prompt and a held-out reference.

    Args:
        depth_m: (H, W) depth in metres; a measurement is a finite value > 0 (0 or NaN = none).
        fraction: share of the measurements to hold out, in (0, 1).
        seed: seed of the choice (see :func:`~promptda_ros.core.holdout.holdout_mask`).

    Returns:
        ``(prompt_m, reference_m)``: both (H, W) float32 metres.  ``prompt_m`` keeps the
        measurements that are not held out (0 elsewhere, the prompt convention); ``reference_m``
        holds the held-out ones (NaN elsewhere, the reference convention).
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise InputError(f'depth must be (H, W), got shape {depth.shape}')
    valid = np.isfinite(depth) & (depth > 0)
    held = holdout_mask(valid, fraction, seed)
    prompt = np.where(valid & ~held, depth, 0.0).astype(np.float32)
    reference = np.where(held, depth, np.nan).astype(np.float32)
    return prompt, reference


def cells_to_image(cells_m: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Place the measurements of a depth grid at the image pixels of the cell centres.

    Cell (i, j) of an (h, w) grid covering the image's field of view has its centre at pixel
    ``((i + 0.5) * H / h - 0.5, (j + 0.5) * W / w - 0.5)`` (pixel centres at integers, the
    convention of ``PinholeCamera.scaled``); the measurement goes to the nearest pixel, and
    where several cells share a pixel the nearest depth wins (the z-buffer rule).

    Args:
        cells_m: (h, w) float metres, NaN (or 0) = no measurement.
        image_hw: (H, W) image size, pixels.

    Returns:
        (H, W) float32 metres, NaN where no measurement lands.
    """
    cells = np.asarray(cells_m, dtype=np.float32)
    height, width = int(image_hw[0]), int(image_hw[1])
    if cells.shape == (height, width):
        with np.errstate(invalid='ignore'):
            return np.where(cells > 0, cells, np.float32(np.nan)).astype(np.float32)
    rows, cols = cells.shape
    with np.errstate(invalid='ignore'):
        i, j = np.nonzero(np.isfinite(cells) & (cells > 0))
    v = np.minimum(((i + 0.5) * height / rows).astype(np.int64), height - 1)
    u = np.minimum(((j + 0.5) * width / cols).astype(np.int64), width - 1)
    zbuf = np.full(height * width, np.inf, dtype=np.float32)
    np.minimum.at(zbuf, v * width + u, cells[i, j])
    zbuf[~np.isfinite(zbuf)] = np.nan
    return zbuf.reshape(height, width)


def holdout_prompt(prompt_m: np.ndarray, image_hw: tuple[int, int], fraction: float,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hold out cells of a depth prompt (a low-resolution or sparse full-resolution image).

    Args:
        prompt_m: (h, w) float metres, 0 / NaN = no measurement.
        image_hw: (H, W) size of the image the prompt covers, pixels.
        fraction: share of the measured cells to hold out, in (0, 1).
        seed: seed of the choice (:func:`~promptda_ros.core.holdout.holdout_mask`).

    Returns:
        ``(prompt_m, reference_m)``: the (h, w) float32 prompt without the held-out cells (0 =
        none) and the (H, W) float32 reference with the held-out measurements at their pixels
        (:func:`cells_to_image`; NaN elsewhere).
    """
    prompt, held = split_depth(prompt_m, fraction, seed)
    return prompt, cells_to_image(held, image_hw)


def holdout_sweep(points_lidar: np.ndarray, T_cam_lidar: np.ndarray | None,
                  camera: PinholeCamera, config: PipelineConfig, fraction: float,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hold out points of a LiDAR sweep.

    The points kept are projected into the prompt grid exactly as the perception node projects a
    sweep (:func:`~promptda_ros.pipeline.lidar_prompt_grid` with ``config``); the held-out ones
    are projected the same way onto the full image grid with no depth range (a return beyond
    the pipeline's ``max_depth`` is still a measurement to score against), nearest per pixel.

    Args:
        points_lidar: (N, 3) float metres in the LiDAR frame; rows with NaN / Inf are no
            measurement and are never held out.
        T_cam_lidar: (4, 4) float64 LiDAR -> camera optical frame, or None (camera frame).
        camera: camera model of the image.
        config: prompt grid and depth range of the pipeline.
        fraction: share of the measured points to hold out, in (0, 1).
        seed: seed of the choice (:func:`~promptda_ros.core.holdout.holdout_mask`).

    Returns:
        ``(prompt_m, reference_m)``: the (h, w) float32 prompt grid (0 = none) and the
        (camera.height, camera.width) float32 reference (NaN = no held-out return).
    """
    points = np.asarray(points_lidar)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f'LiDAR points must be (N, 3), got {points.shape}')
    held = holdout_mask(np.isfinite(points).all(axis=1), fraction, seed)
    prompt = lidar_prompt_grid(points[~held], T_cam_lidar, camera, config)
    full = PipelineConfig.with_prompt_hw((camera.height, camera.width), min_depth=0.0,
                                         max_depth=math.inf)
    reference = lidar_prompt_grid(points[held], T_cam_lidar, camera, full)
    return prompt, np.where(reference > 0, reference, np.float32(np.nan)).astype(np.float32)
