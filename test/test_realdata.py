# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The prompt fill, the default backend and the support mask on real frames (test/data)."""

import math
import os

import cv2
import numpy as np
import pytest
from scipy import ndimage

from promptda_ros.backends import make_backend
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.depth_io import load_depth_png_mm
from promptda_ros.core.prompt import fill_knn, fill_morphological, fill_pyramid
from promptda_ros.eval.holdout import split_depth
from promptda_ros.eval.metrics import depth_metrics
from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_depth, reduce_to_grid

DATA = os.path.join(os.path.dirname(__file__), 'data')
KITTI = os.path.join(DATA, 'realdata', 'any2full_kittidc_64l_1')
VOID = os.path.join(DATA, 'realdata', 'any2full_void_150_1')
ARKIT = os.path.join(DATA, 'arkit_example')
# KITTI's published intrinsics of the 1216 x 352 depth-completion crop.
KITTI_CAMERA = PinholeCamera.from_intrinsics(721.5377, 721.5377, 596.5593, 149.854, 1216, 352)
KITTI_GRID = (88, 304)  # a quarter of the image, same aspect ratio


def _frame(folder):
    rgb = cv2.cvtColor(cv2.imread(os.path.join(folder, 'rgb.png')), cv2.COLOR_BGR2RGB)
    return rgb, np.load(os.path.join(folder, 'depth.npz'))['depth_m'].astype(np.float32)


@pytest.fixture(scope='module')
def kitti():
    return _frame(KITTI)


@pytest.fixture(scope='module')
def grids(kitti):
    """Real prompt grids: KITTI's LiDAR, VOID's 150 points, the ARKit 192x256 map."""
    void = _frame(VOID)[1]
    return {'kitti': reduce_to_grid(kitti[1], (192, 256)),
            'void': reduce_to_grid(void, (192, 256)),
            'arkit': load_depth_png_mm(os.path.join(ARKIT, 'arkit_depth.png'))}


def _camera(width, height):
    f = 0.5 * width / math.tan(math.radians(30.0))
    return PinholeCamera.from_intrinsics(f, f, width / 2, height / 2, width, height)


# Measured cells of the 192x256 grids: KITTI 10,470, VOID 225, ARKit 49,152 (all).
DENSITIES = [('kitti', n) for n in (50, 200, 1000, 5000, 'all')] + \
    [('void', n) for n in (50, 200, 'all')] + \
    [('arkit', n) for n in (50, 200, 1000, 5000, 20000, 40000, 'all')]


@pytest.mark.parametrize('name, count', DENSITIES)
def test_fills_stay_within_the_measured_range_at_every_density(grids, name, count):
    grid = grids[name]
    cells = np.flatnonzero(grid > 0)
    if count != 'all':
        cells = np.random.default_rng(count).choice(cells, count, replace=False)
    sparse = np.zeros_like(grid)
    sparse.flat[cells] = grid.flat[cells]
    lo, hi = float(sparse.flat[cells].min()), float(sparse.flat[cells].max())
    for filled in (fill_pyramid(sparse), fill_knn(sparse),
                   fill_morphological(sparse, max_depth=max(100.0, 2 * hi))):
        assert np.all(np.isfinite(filled))
        assert filled.min() >= lo and filled.max() <= hi, (name, count, filled.max(), hi)
        np.testing.assert_array_equal(filled.flat[cells], sparse.flat[cells])


def test_morph_fill_of_a_sparse_real_sweep_invents_no_far_depth(grids):
    """IP-Basic's plain blur turned 100 KITTI points into a grid reaching far beyond them."""
    grid = grids['kitti']
    cells = np.random.default_rng(0).choice(np.flatnonzero(grid > 0), 100, replace=False)
    sparse = np.zeros_like(grid)
    sparse.flat[cells] = grid.flat[cells]
    filled = fill_morphological(sparse, max_depth=200.0)
    assert filled.max() <= sparse.max()
    # Not one band of a single copied value above the points either (no column extension).
    top = np.nonzero((sparse > 0).any(axis=1))[0].min()
    assert len(np.unique(filled[:top])) > 1 if top else True


def _holdout_l1(rgb, sparse_full, camera, config, backend):
    prompt_in, reference = split_depth(sparse_full, 0.2, seed=0)
    prompt = prompt_from_depth(prompt_in, config)
    depth = DepthPipeline(make_backend(backend)).predict(rgb, camera, prompt, config).depth_m
    return depth_metrics(depth, reference)['l1'], depth


@pytest.mark.parametrize('case', ['void-points', 'void-lowfov', 'kitti-lines16', 'kitti-points'])
def test_default_is_not_worse_than_bilinear_at_held_out_real_points(kitti, case):
    frame, kind = case.split('-')
    if frame == 'kitti':
        rgb, depth = kitti
        camera, grid = KITTI_CAMERA, KITTI_GRID
    else:
        rgb, depth = _frame(VOID)
        camera, grid = _camera(640, 480), (192, 256)
    if kind == 'lines16':
        rows = np.nonzero((depth > 0).any(axis=1))[0]
        keep = np.zeros(depth.shape[0], bool)
        for r in np.round(np.linspace(rows.min(), rows.max(), 16)).astype(int):
            keep[max(0, r - 1):r + 2] = True
        depth = np.where(keep[:, None], depth, np.float32(0.0))
    if kind == 'lowfov':  # the lower half of the measured rows only
        rows = np.nonzero((depth > 0).any(axis=1))[0]
        depth[:(rows.min() + rows.max()) // 2] = 0.0
    config = PipelineConfig.with_prompt_hw(grid, max_depth=100.0)
    l1 = {b: _holdout_l1(rgb, depth, camera, config, b)[0] for b in ('default', 'bilinear')}
    assert l1['default'] <= l1['bilinear'], l1


def test_default_on_the_dense_arkit_grid_is_its_bilinear_upsampling():
    rgb = cv2.cvtColor(cv2.imread(os.path.join(ARKIT, 'image.jpg')), cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(rgb, (640, 480), interpolation=cv2.INTER_AREA)
    grid = load_depth_png_mm(os.path.join(ARKIT, 'arkit_depth.png'))
    config = PipelineConfig()
    prompt = prompt_from_depth(grid, config)
    out = {}
    for name in ('default', 'bilinear'):
        result = DepthPipeline(make_backend(name)).predict(rgb, _camera(640, 480), prompt, config)
        out[name] = result.depth_m
        # The iPhone-style dense prompt keeps full coverage.
        assert result.supported_fraction == 1.0 and np.all(np.isfinite(result.depth_m))
    np.testing.assert_array_equal(out['default'], out['bilinear'])


@pytest.fixture(scope='module')
def kitti_depth(kitti):
    """KITTI through the node's pipeline: 20 m range, default support radius."""
    rgb, depth = kitti
    config = PipelineConfig.with_prompt_hw(KITTI_GRID)
    assert config.max_depth == 20.0 and config.support_radius_deg > 0
    prompt = prompt_from_depth(depth, config)
    return DepthPipeline(make_backend('default')).predict(rgb, KITTI_CAMERA, prompt, config), \
        config


def test_no_depth_above_the_lidar_field_of_view_on_kitti(kitti, kitti_depth):
    _, depth = kitti
    result, config = kitti_depth
    out = result.depth_m
    # Angle from every pixel to the nearest LiDAR return, degrees.
    step = (math.degrees(1.0 / KITTI_CAMERA.fy), math.degrees(1.0 / KITTI_CAMERA.fx))
    angle = ndimage.distance_transform_edt(depth <= 0, sampling=step)
    cell = math.degrees(352 / KITTI_GRID[0] / KITTI_CAMERA.fy)  # the mask's resolution
    far_from_returns = angle > config.support_radius_deg + cell
    assert far_from_returns.sum() > 0.2 * out.size  # the sky and treetops above the scan
    assert not np.any(np.isfinite(out[far_from_returns]))
    top = np.nonzero((depth > 0).any(axis=1))[0].min()
    assert not np.any(np.isfinite(out[:top - 40]))  # 40 px > 3 deg at f = 721.5 px
    assert 0.3 < result.supported_fraction < 0.9


def test_far_returns_are_not_pulled_nearer_on_kitti(kitti, kitti_depth):
    _, depth = kitti
    result, config = kitti_depth
    out = result.depth_m
    far = depth > config.max_depth
    assert far.sum() > 1000
    # A far return's pixel is NaN unless its prompt cell also holds an in-range return.
    near = reduce_to_grid(np.where(depth <= config.max_depth, depth, 0), KITTI_GRID) > 0
    near_px = cv2.resize(near.view(np.uint8), (1216, 352), interpolation=cv2.INTER_NEAREST) > 0
    finite_far = far & np.isfinite(out)
    assert not np.any(finite_far & ~near_px)
    assert np.count_nonzero(finite_far) < 0.1 * far.sum()
    assert np.all(out[np.isfinite(out)] <= config.max_depth)
