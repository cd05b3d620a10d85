# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Tests of prompt validation, hole filling and build_prompt."""

import numpy as np
import pytest

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.core.projection import project_to_grid
from promptda_ros.core.prompt import (
    build_prompt,
    fill_knn,
    fill_morphological,
    fill_prompt,
    fill_pyramid,
    prompt_stats,
    validate_prompt,
)


def _sparse_plane(h=48, w=64, keep=0.05, seed=0):
    rng = np.random.default_rng(seed)
    vv, uu = np.mgrid[0:h, 0:w]
    dense = (2.0 + 0.02 * uu + 0.01 * vv).astype(np.float32)
    mask = rng.random((h, w)) < keep
    return np.where(mask, dense, 0.0).astype(np.float32), dense, mask


def test_stats_and_valid_prompt():
    sparse, _, mask = _sparse_plane()
    stats = validate_prompt(sparse)
    assert stats.n_valid == int(mask.sum())
    assert stats.valid_fraction == pytest.approx(mask.mean())
    assert stats.min_m == pytest.approx(float(sparse[mask].min()))
    assert stats.max_m == pytest.approx(float(sparse[mask].max()))
    empty = prompt_stats(np.zeros((4, 4)))
    assert empty.n_valid == 0 and np.isnan(empty.min_m)


@pytest.mark.parametrize('edit, fragment', [
    (lambda p: p.__setitem__((0, 0), np.nan), 'NaN'),
    (lambda p: p.__setitem__((0, 0), np.inf), 'infinite'),
    (lambda p: p.__setitem__((0, 0), -1.0), 'negative'),
    (lambda p: p.fill(0.0), 'too few valid cells: 0 of'),
])
def test_bad_prompts_raise_prompt_error(edit, fragment):
    sparse, _, _ = _sparse_plane()
    edit(sparse)
    with pytest.raises(PromptError, match=fragment):
        validate_prompt(sparse)


def test_too_few_valid_cells_threshold():
    p = np.zeros((100, 100), np.float32)
    p.flat[:20] = np.linspace(1, 2, 20)
    validate_prompt(p, min_valid_fraction=0.001, min_valid=16)  # needs max(16, 10) = 20
    with pytest.raises(PromptError, match='need at least 30'):
        validate_prompt(p, min_valid_fraction=0.003)
    with pytest.raises(PromptError, match='need at least 21'):
        validate_prompt(p, min_valid=21)


@pytest.mark.parametrize('bad', [np.zeros(5), np.zeros((2, 3, 4)), np.zeros((0, 3)),
                                 np.array([['a']])])
def test_malformed_prompt_raises_input_error(bad):
    with pytest.raises(InputError):
        validate_prompt(bad)


def test_integer_millimetre_grid_is_refused_not_read_as_metres():
    mm = np.full((8, 8), 1500, np.uint16)
    with pytest.raises(InputError, match='millimetres'):
        validate_prompt(mm)
    with pytest.raises(InputError, match='float metres'):
        fill_prompt(mm)


def test_knn_hand_made_mean_of_four_nearest():
    p = np.zeros((9, 9), np.float32)
    # Distances from the centre (4, 4): 1, sqrt(2), 2, sqrt(5), 3 -> the 3 m one is excluded.
    p[4, 5] = 1.0
    p[5, 5] = 2.0
    p[4, 2] = 4.0
    p[6, 5] = 8.0
    p[1, 4] = 100.0
    out = fill_knn(p, k=4)
    assert out[4, 4] == pytest.approx((1 + 2 + 4 + 8) / 4)
    out1 = fill_knn(p, k=1)
    assert out1[4, 4] == 1.0
    assert out1[0, 4] == 100.0


def test_knn_keeps_valid_cells_and_matches_brute_force():
    sparse, _, mask = _sparse_plane(h=30, w=40, keep=0.08, seed=4)
    sparse[mask] += np.random.default_rng(5).normal(0, 0.1, mask.sum()).astype(np.float32)
    out = fill_knn(sparse, k=4)
    assert out.dtype == np.float32 and out.shape == sparse.shape
    np.testing.assert_array_equal(out[mask], sparse[mask])
    assert np.all(out > 0)
    valid_rc = np.argwhere(mask)
    values = sparse[mask]
    checked = 0
    for r, c in np.argwhere(~mask):
        d = np.hypot(valid_rc[:, 0] - r, valid_rc[:, 1] - c)
        order = np.argsort(d)
        if d[order[3]] == d[order[4]]:
            continue  # a tie: any of the tied neighbours is a correct choice
        assert out[r, c] == pytest.approx(values[order[:4]].mean(), rel=1e-6)
        checked += 1
    assert checked > 300


def test_knn_nan_treated_as_hole_and_negative_rejected():
    p = np.zeros((5, 5), np.float32)
    p[0, 0] = 1.0
    p[4, 4] = np.nan
    out = fill_knn(p)
    assert np.all(out == 1.0)
    p[2, 2] = -1.0
    with pytest.raises(PromptError, match='negative'):
        fill_knn(p)
    with pytest.raises(PromptError, match='no valid cells'):
        fill_knn(np.zeros((3, 3)))
    with pytest.raises(InputError, match='k must be'):
        fill_knn(np.ones((3, 3)), k=0)


def test_morphological_fill_is_dense_and_accurate_on_a_plane():
    sparse, dense, mask = _sparse_plane(keep=0.1, seed=1)
    out = fill_morphological(sparse)
    assert out.dtype == np.float32 and np.all(np.isfinite(out)) and np.all(out > 0)
    np.testing.assert_array_equal(out[mask], sparse[mask])
    assert np.median(np.abs(out - dense)) < 0.05
    blurred = fill_morphological(sparse, keep_measured=False, blur='median')
    assert np.all(blurred > 0)
    # Only the bottom rows measured: extension to the top fills the rest.
    bottom = np.zeros((40, 30), np.float32)
    bottom[30:, ::3] = 5.0
    bottom[30:, 1::3] = 6.0
    filled = fill_morphological(bottom)
    assert np.all((filled >= 5.0) & (filled <= 6.0))
    with pytest.raises(PromptError, match='max_depth'):
        fill_morphological(sparse, max_depth=2.5)
    with pytest.raises(InputError, match='blur'):
        fill_morphological(sparse, blur='box')


def test_pyramid_fill_hand_made_and_on_a_plane():
    p = np.zeros((6, 8), np.float32)
    p[2, 3], p[2, 5], p[3, 4] = 1.0, 2.0, 4.0
    out = fill_pyramid(p)
    assert out.dtype == np.float32 and np.all(out >= 1.0) and np.all(out <= 4.0)
    assert out[2, 3] == 1.0 and out[2, 5] == 2.0 and out[3, 4] == 4.0
    # (2, 4) touches all three: edge neighbours weigh 1, (3, 4) is an edge neighbour too.
    assert out[2, 4] == pytest.approx((1.0 + 2.0 + 4.0) / 3.0)
    # (3, 3): edge neighbours (2, 3) and (3, 4), weight 1 each.
    assert out[3, 3] == pytest.approx((1.0 + 4.0) / 2.0)
    sparse, dense, mask = _sparse_plane(keep=0.05, seed=2)
    out = fill_pyramid(sparse)
    np.testing.assert_array_equal(out[mask], sparse[mask])
    assert np.median(np.abs(out - dense)[~mask]) < 0.05
    assert out.min() >= sparse[mask].min() and out.max() <= sparse[mask].max()
    np.testing.assert_array_equal(fill_pyramid(dense), dense)  # nothing to fill
    with pytest.raises(PromptError, match='no valid cells'):
        fill_pyramid(np.zeros((4, 4), np.float32))


def test_morph_fill_never_averages_empty_cells_in():
    """IP-Basic's plain Gaussian blur mixed the empty cells' inverted 0 (= max_depth) in."""
    rng = np.random.default_rng(0)
    p = np.zeros((192, 256), np.float32)
    p.flat[rng.choice(p.size, 50, replace=False)] = rng.uniform(2.0, 3.0, 50)
    out = fill_morphological(p, max_depth=100.0)  # was up to ~57 m
    assert out.min() >= p[p > 0].min() and out.max() <= p.max()


def test_fill_prompt_dispatch():
    sparse, _, _ = _sparse_plane()
    np.testing.assert_array_equal(fill_prompt(sparse, 'knn'), fill_knn(sparse))
    np.testing.assert_array_equal(fill_prompt(sparse, 'pyramid'), fill_pyramid(sparse))
    np.testing.assert_array_equal(fill_prompt(sparse, 'none'), sparse)
    assert np.all(fill_prompt(sparse, 'morph') > 0)
    with pytest.raises(InputError, match='unknown prompt fill method'):
        fill_prompt(sparse, 'magic')


def test_build_prompt_end_to_end():
    cam = PinholeCamera.from_intrinsics(300.0, 300.0, 150.0, 110.0, 320, 240)
    rng = np.random.default_rng(2)
    pts = rng.uniform([-1.5, -1.0, 2.0], [1.5, 1.0, 4.0], size=(4000, 3))
    for method in ('knn', 'morph', 'none'):
        filled, sparse, stats = build_prompt(pts, cam, (48, 64), fill=method)
        np.testing.assert_array_equal(sparse, project_to_grid(pts, cam, (48, 64)))
        assert filled.shape == (48, 64) and filled.dtype == np.float32
        assert stats.n_valid == np.count_nonzero(sparse)
        if method != 'none':
            assert np.all(filled >= stats.min_m - 1e-5) and np.all(filled <= stats.max_m + 1e-5)
    # A flat wall (every cell at one depth) is a valid prompt.
    flat = pts.copy()
    flat[:, 2] = 3.0
    filled, _, stats = build_prompt(flat, cam, (48, 64))
    assert stats.min_m == stats.max_m == 3.0 and np.all(filled == np.float32(3.0))
    with pytest.raises(InputError, match='fill method'):
        build_prompt(pts, cam, (48, 64), fill='bogus')
