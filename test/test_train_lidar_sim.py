# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Simulated prompts: naive downsampling, anchor interpolation, LiDAR beams, random points."""

import math

import numpy as np
import pytest

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.core.projection import project_to_grid
from promptda_ros.core.transforms import transform_points
from promptda_ros.train import lidar_sim as ls

CAM = PinholeCamera.from_intrinsics(100.0, 100.0, 79.5, 59.5, 160, 120)


def box_scene():
    """A wall at 4 m and a box at 1.5 m (rows 40..79, cols 60..99), red box on a grey wall."""
    depth = np.full((120, 160), 4.0, np.float32)
    depth[40:80, 60:100] = 1.5
    rgb = np.full((120, 160, 3), 120, np.uint8)
    rgb[40:80, 60:100] = (220, 20, 20)
    return depth, rgb


def test_naive_downsample_block_means_and_holes():
    d = np.array([[1, 1, 2, 4],
                  [1, 1, 2, 4],
                  [0, 3, np.nan, 0],
                  [0, 3, 5, 0]], np.float32)
    out = ls.naive_downsample(d, (2, 2))
    # blocks: all 1 -> 1; (2+4+2+4)/4 = 3; two valid of 4 -> mean 3; one valid of 4 -> none
    np.testing.assert_allclose(out, [[1.0, 3.0], [3.0, 0.0]], atol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(ls.naive_downsample(d, None), np.nan_to_num(d))


def test_random_points_are_ground_truth_samples():
    depth, _ = box_scene()
    depth[:10] = np.nan
    a = ls.random_points(depth, np.random.default_rng(3), 200)
    b = ls.random_points(depth, np.random.default_rng(3), 200)
    np.testing.assert_array_equal(a, b)
    assert np.count_nonzero(a) == 200
    np.testing.assert_array_equal(a[a > 0], depth[a > 0])
    assert not np.any(a[:10])
    grid = ls.random_points(depth, np.random.default_rng(4), 100000, (12, 16))
    assert grid.shape == (12, 16) and set(np.unique(grid)) <= {0.0, 1.5, 4.0}


def test_anchor_grid_is_distorted_and_seeded():
    valid = np.ones((70, 91), bool)
    a = ls.anchor_cells(valid, np.random.default_rng(0), stride=7)
    b = ls.anchor_cells(valid, np.random.default_rng(0), stride=7)
    c = ls.anchor_cells(valid, np.random.default_rng(1), stride=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0.9 * 10 * 13 <= len(a) <= 10 * 13
    # displaced from the lattice: node spacing is not constant
    assert len(np.unique(np.diff(np.unique(a[:, 0])))) > 1
    valid[:, :45] = False
    assert np.all(ls.anchor_cells(valid, np.random.default_rng(0))[:, 1] >= 45)


def test_sparse_anchor_interpolation_follows_colour_edges():
    depth, rgb = box_scene()
    rng = np.random.default_rng(5)
    out = ls.sparse_anchor_interpolation(depth, rgb, rng, prompt_hw=(60, 80))
    truth = ls.naive_downsample(depth, (60, 80))
    assert out.shape == (60, 80) and np.all(out > 0)
    exact = np.isclose(out, truth, atol=1e-4)
    # colour-weighted KNN keeps the box edge: almost every cell takes its own surface's depth
    assert exact.mean() > 0.98
    # without colour weighting (huge sigma) the edge smears into mixtures
    blurred = ls.sparse_anchor_interpolation(depth, rgb, np.random.default_rng(5), (60, 80),
                                             colour_sigma=1e6)
    assert np.isclose(blurred, truth, atol=1e-4).mean() < exact.mean() - 0.01
    empty = ls.sparse_anchor_interpolation(np.zeros_like(depth), rgb, rng, (60, 80))
    assert not np.any(empty)


def _noise_free(**kw):
    args = dict(range_noise=0.0, dropout=0.0, outlier_frac=0.0)
    args.update(kw)
    return args


def test_beams_hit_the_surface_on_beam_lines():
    depth = np.full((120, 160), 3.0, np.float32)
    pts, T = ls.simulate_beams(depth, CAM, np.random.default_rng(0), n_beams=16,
                               vfov_deg=(-10.0, 10.0), **_noise_free(offset_m=(0, 0, 0)))
    assert pts.dtype == np.float32 and pts.shape[1] == 3
    np.testing.assert_allclose(T[:3, :3], ls.R_CAM_LIDAR)
    elevation = np.degrees(np.arcsin(pts[:, 2] / np.linalg.norm(pts, axis=1)))
    np.testing.assert_allclose(np.unique(np.round(elevation, 3)),
                               np.round(np.linspace(-10, 10, 16), 3), atol=2e-3)
    cam_pts = transform_points(T, pts.astype(np.float64))
    # the wall is the plane z = 3 m; a return is off it by at most half a pixel's angle
    np.testing.assert_allclose(cam_pts[:, 2], 3.0, atol=0.02)
    prompt = ls.beams_prompt(pts, T, CAM, (60, 80))
    ref = project_to_grid(cam_pts, CAM, (60, 80))
    np.testing.assert_array_equal(prompt, ref)
    assert 0.1 < np.mean(prompt > 0) < 0.5


def test_beams_see_occlusion_from_the_displaced_sensor():
    depth, _ = box_scene()
    cfg = _noise_free(n_beams=64, vfov_deg=(-30.0, 30.0), azimuth_step_deg=0.2)
    rows = {}
    for name, offset in (('camera', (0.0, 0.0, 0.0)), ('above', (0.0, -0.4, 0.0))):
        pts, T = ls.simulate_beams(depth, CAM, np.random.default_rng(0), offset_m=offset, **cfg)
        cam_pts = transform_points(T, pts.astype(np.float64))
        uv, z = CAM.project(cam_pts)
        col, row = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
        # returns on the wall just below the box as the camera sees it
        band = (row >= 80) & (row < 90) & (col >= 65) & (col < 95)
        rows[name] = int(np.count_nonzero(band))
        # every return agrees with the depth the camera sees at its pixel (no see-through)
        inside = (row >= 0) & (row < 120) & (col >= 0) & (col < 160)
        ok = np.abs(z[inside] - depth[row[inside], col[inside]]) < 0.05
        assert ok.mean() > 0.97
    assert rows['camera'] > 20
    assert rows['above'] == 0          # the box's shadow, seen from 40 cm above


def test_beam_noise_dropout_and_outliers():
    depth = np.full((120, 160), 3.0, np.float32)
    base = dict(n_beams=32, vfov_deg=(-25.0, 25.0), offset_m=(0, 0, 0))
    clean, _ = ls.simulate_beams(depth, CAM, np.random.default_rng(1), **base, **_noise_free())
    noisy, T = ls.simulate_beams(depth, CAM, np.random.default_rng(1), **base, range_noise=0.0,
                                 dropout=0.5, outlier_frac=0.2)
    assert 0.42 < len(noisy) / len(clean) < 0.58
    z = transform_points(T, noisy.astype(np.float64))[:, 2]
    off = np.abs(z - 3.0) > 0.1
    assert 0.12 < off.mean() < 0.28
    again, _ = ls.simulate_beams(depth, CAM, np.random.default_rng(1), **base, range_noise=0.0,
                                 dropout=0.5, outlier_frac=0.2)
    np.testing.assert_array_equal(noisy, again)
    sigma, _ = ls.simulate_beams(depth, CAM, np.random.default_rng(2), **base, range_noise=0.05,
                                 dropout=0.0, outlier_frac=0.0)
    r_err = np.linalg.norm(sigma, axis=1) - np.linalg.norm(clean, axis=1)
    assert 0.04 < np.std(r_err) < 0.06


def test_make_prompt_dispatch():
    depth, rgb = box_scene()
    real = np.zeros((24, 32), np.float32)
    real[::4, ::4] = 2.0
    kw = dict(rgb=rgb, camera=CAM, real_prompt_m=real, prompt_hw=(24, 32))
    for pattern in ls.PATTERNS:
        out = ls.make_prompt(pattern, depth, np.random.default_rng(0), **kw)
        assert out.shape == (24, 32) and out.dtype == np.float32 and np.any(out > 0), pattern
    np.testing.assert_array_equal(ls.make_prompt('naive', depth, None, prompt_hw=(24, 32)),
                                  ls.naive_downsample(depth, (24, 32)))
    np.testing.assert_array_equal(ls.make_prompt('lidar', depth, None, real_prompt_m=real), real)
    rng = np.random.default_rng(7)
    drawn = {ls.make_prompt('mix', depth, rng, **kw).tobytes() for _ in range(12)}
    assert len(drawn) > 3
    with pytest.raises(InputError, match='unknown prompt pattern'):
        ls.make_prompt('dense', depth, rng)
    with pytest.raises(InputError, match='camera'):
        ls.make_prompt('beams', depth, rng)
    with pytest.raises(InputError, match='real prompt'):
        ls.make_prompt('lidar', depth, rng)
    with pytest.raises(InputError, match='mix'):
        ls.LidarSimConfig(mix=('lidar',))
    with pytest.raises(InputError):
        ls.naive_downsample(np.zeros((4, 4), np.uint16))
    assert math.isclose(float(ls.beam_elevations(1, (-10, 20))[0]), 5.0)
