# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Core geometry on one real iPhone ARKit LiDAR depth frame (test/data/core/arkit_depth.png)."""

import os

import numpy as np
import pytest

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.depth_io import load_depth_png_mm
from promptda_ros.core.pointcloud import depth_to_points
from promptda_ros.core.projection import project_to_grid
from promptda_ros.core.prompt import build_prompt, fill_knn, fill_morphological, validate_prompt

DATA = os.path.join(os.path.dirname(__file__), 'data', 'core', 'arkit_depth.png')
# Typical iPhone wide-camera intrinsics at 1920x1440 (the exact ones are not in the file).
IMAGE_CAMERA = PinholeCamera.from_intrinsics(1450.0, 1450.0, 955.0, 722.0, 1920, 1440)


@pytest.fixture(scope='module')
def depth():
    d = load_depth_png_mm(DATA)
    assert d.shape == (192, 256) and d.dtype == np.float32
    return d


def test_real_depth_is_a_valid_prompt(depth):
    stats = validate_prompt(depth)
    assert stats.n_valid == depth.size
    assert stats.min_m == pytest.approx(1.566) and stats.max_m == pytest.approx(3.512)


def test_real_depth_back_projects_and_reprojects_exactly(depth):
    cam = IMAGE_CAMERA.scaled(256, 192)
    pts = depth_to_points(depth, cam)
    np.testing.assert_array_equal(project_to_grid(pts, cam), depth)
    # Projected from the full-resolution camera onto the same grid (scaled inside).
    np.testing.assert_array_equal(project_to_grid(pts, IMAGE_CAMERA, grid_hw=(192, 256)), depth)


@pytest.mark.parametrize('fill, max_mae_m', [(fill_knn, 0.04), (fill_morphological, 0.04)])
def test_hole_filling_recovers_real_depth(depth, fill, max_mae_m):
    mask = np.random.default_rng(0).random(depth.shape) < 0.05
    sparse = np.where(mask, depth, 0.0).astype(np.float32)
    filled = fill(sparse)
    np.testing.assert_array_equal(filled[mask], depth[mask])
    err = np.abs(filled - depth)[~mask]
    assert err.mean() < max_mae_m
    # Filled values never leave the measured range.
    assert filled.min() >= depth[mask].min() - 1e-6 and filled.max() <= depth[mask].max() + 1e-6


def test_build_prompt_from_real_cloud_subsampled(depth):
    cam = IMAGE_CAMERA.scaled(256, 192)
    pts = depth_to_points(depth, cam).reshape(-1, 3)
    sweep = pts[np.random.default_rng(1).random(len(pts)) < 0.1]
    filled, sparse, stats = build_prompt(sweep, IMAGE_CAMERA, (96, 128), fill='knn')
    assert filled.shape == (96, 128) and np.all(filled > 0)
    assert 0.2 < stats.valid_fraction < 0.5
    # A subsampled grid cell keeps the nearest of the returns that fell into it.
    assert np.all(sparse[sparse > 0] >= depth.min() - 1e-6)
