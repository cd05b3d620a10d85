# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""RANSAC and least-squares scale/shift alignment."""

import numpy as np
import pytest

from promptda_ros.core.alignment import (
    align_relative_depth,
    fit_scale_shift_lstsq,
    fit_scale_shift_ransac,
    sample_at_grid,
)
from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.eval.metrics import depth_metrics


def _samples_with_outliers(n=2000, frac=0.3, scale=2.5, shift=0.3, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 1.0, n)
    y = scale * x + shift + rng.normal(0.0, 0.002, n)
    bad = rng.random(n) < frac
    y[bad] = rng.uniform(0.0, 6.0, bad.sum())
    return x, y, bad


def test_ransac_recovers_scale_shift_with_30_percent_outliers_lstsq_does_not():
    x, y, bad = _samples_with_outliers()
    assert 0.27 < bad.mean() < 0.33
    r = fit_scale_shift_ransac(x, y, seed=0)
    assert r.scale == pytest.approx(2.5, abs=0.02)
    assert r.shift == pytest.approx(0.3, abs=0.02)
    # the inlier set is (nearly) the clean set
    assert np.mean(r.inliers[~bad]) > 0.99
    ls = fit_scale_shift_lstsq(x, y)
    assert abs(ls.scale - 2.5) > 0.3 or abs(ls.shift - 0.3) > 0.3
    assert ls.n_inliers == x.size


def test_ransac_is_deterministic_per_seed():
    x, y, _ = _samples_with_outliers(seed=3)
    a = fit_scale_shift_ransac(x, y, seed=7)
    b = fit_scale_shift_ransac(x, y, seed=7)
    assert (a.scale, a.shift) == (b.scale, b.shift)


def test_lstsq_exact_on_clean_data():
    x = np.linspace(0, 1, 50)
    r = fit_scale_shift_lstsq(x, -1.5 * x + 4.0)
    assert r.scale == pytest.approx(-1.5)
    assert r.shift == pytest.approx(4.0)


def _scene(h=48, w=64):
    yy, xx = np.mgrid[0:h, 0:w]
    return (1.0 + 0.05 * xx + 0.02 * yy).astype(np.float32)  # 1 .. 5 m ramp


@pytest.mark.parametrize('space', ['inverse', 'depth'])
def test_align_relative_map_to_sparse_prompt_with_outliers(space):
    gt = _scene()
    s, t = 0.7, 0.05
    rel = (1.0 / gt - t) / s if space == 'inverse' else (gt - t) / s
    rng = np.random.default_rng(0)
    prompt = gt.reshape(12, 4, 16, 4).mean(axis=(1, 3))  # 12 x 16 low-res prompt (area mean)
    prompt[rng.random(prompt.shape) < 0.2] = 0.0  # holes
    bad = rng.random(prompt.shape) < 0.3
    prompt[bad] = rng.uniform(0.3, 8.0, bad.sum()).astype(np.float32)
    depth, fit = align_relative_depth(rel, prompt, method='ransac', space=space)
    assert depth.shape == gt.shape and depth.dtype == np.float32
    assert depth_metrics(depth, gt)['absrel'] < 0.01
    depth_ls, _ = align_relative_depth(rel, prompt, method='lstsq', space=space)
    assert depth_metrics(depth_ls, gt)['absrel'] > 0.05


def test_sample_at_grid_pixel_edge_convention():
    full = np.arange(16, dtype=np.float64).reshape(4, 4)
    assert sample_at_grid(full, (4, 4)).tolist() == full.tolist()
    # 2x2 cell centres lie at pixel (0.5, 0.5), (2.5, 0.5), ...: bilinear = mean of 2x2 blocks
    assert sample_at_grid(full, (2, 2)).tolist() == [[2.5, 4.5], [10.5, 12.5]]
    blocks = np.repeat(np.repeat(np.array([[1.0, 2.0], [3.0, 4.0]]), 4, 0), 4, 1)
    assert sample_at_grid(blocks, (2, 2)).tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_alignment_errors():
    with pytest.raises(PromptError, match='valid prompt samples'):
        align_relative_depth(np.ones((8, 8)), np.zeros((4, 4)))
    with pytest.raises(InputError, match='unknown alignment method'):
        align_relative_depth(np.ones((8, 8)), np.ones((4, 4)), method='icp')
    with pytest.raises(InputError, match='space'):
        align_relative_depth(np.ones((8, 8)), np.ones((4, 4)), space='log')
    with pytest.raises(PromptError, match='constant'):
        fit_scale_shift_lstsq(np.ones(10), np.arange(10.0))
    with pytest.raises(InputError, match='NaN'):
        fit_scale_shift_ransac(np.array([1.0, np.nan, 3.0]), np.ones(3), group_size=2)
