# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth metrics against hand-computed values."""

import math

import numpy as np
import pytest

from promptda_ros.core.errors import InputError
from promptda_ros.eval.metrics import (
    aggregate_frames,
    depth_metrics,
    METRIC_KEYS,
    MetricAccumulator,
    valid_mask,
)

# 2x2 frame: one invalid reference pixel (0.0). Errors on the valid set: +0.5, 0.0, -2.0.
GT = np.array([[1.0, 2.0], [4.0, 0.0]], dtype=np.float32)
PRED = np.array([[1.5, 2.0], [2.0, 5.0]], dtype=np.float32)


def test_metrics_hand_computed():
    m = depth_metrics(PRED, GT)
    assert m['n_valid'] == 3
    assert m['coverage'] == 1.0
    assert m['l1'] == pytest.approx((0.5 + 0.0 + 2.0) / 3)
    assert m['rmse'] == pytest.approx(math.sqrt((0.25 + 0.0 + 4.0) / 3))
    assert m['absrel'] == pytest.approx((0.5 / 1.0 + 0.0 + 2.0 / 4.0) / 3)
    # ratios max(d/g, g/d) = 1.5, 1.0, 2.0: only the exact pixel is within 1.25^0.5 and 1.25
    assert m['delta_0.5'] == pytest.approx(1 / 3)
    assert m['delta_1'] == pytest.approx(1 / 3)
    assert m['mae_mm'] == pytest.approx(1000 * 2.5 / 3)
    assert m['rmse_mm'] == pytest.approx(1000 * math.sqrt(4.25 / 3))
    # inverse depth errors in 1/km: 1000/1.5 - 1000/1, 0, 1000/2 - 1000/4
    ie = np.array([1000 / 1.5 - 1000.0, 0.0, 500.0 - 250.0])
    assert m['imae_1_km'] == pytest.approx(np.abs(ie).mean())
    assert m['irmse_1_km'] == pytest.approx(math.sqrt((ie ** 2).mean()))
    assert set(METRIC_KEYS) <= set(m)


def test_delta_thresholds_boundaries():
    gt = np.full((1, 4), 2.0)
    # ratios 1.1 (< 1.118), 1.2 (between), 1.3 (> 1.25), 1/1.1 below
    pred = np.array([[2.2, 2.4, 2.6, 2.0 / 1.1]])
    m = depth_metrics(pred, gt)
    assert m['delta_0.5'] == pytest.approx(2 / 4)
    assert m['delta_1'] == pytest.approx(3 / 4)


def test_depth_range_mask_and_coverage():
    m = depth_metrics(PRED, GT, max_depth=3.0)  # drops the 4 m pixel
    assert m['n_valid'] == 2
    assert m['l1'] == pytest.approx(0.25)
    m = depth_metrics(PRED, GT, min_depth=1.5)  # drops the 1 m pixel
    assert m['l1'] == pytest.approx(1.0)
    pred = PRED.copy()
    pred[0, 1] = np.nan  # a hole where the reference is valid
    m = depth_metrics(pred, GT)
    assert m['n_valid'] == 2
    assert m['coverage'] == pytest.approx(2 / 3)
    assert m['l1'] == pytest.approx(1.25)


def test_nonpositive_prediction_is_penalised_not_dropped():
    gt = np.array([[2.0, 2.0]])
    pred = np.array([[-1.0, 2.0]])
    m = depth_metrics(pred, gt)
    assert m['n_valid'] == 2
    assert m['l1'] == pytest.approx(1.5)
    assert m['delta_1'] == pytest.approx(0.5)
    assert math.isfinite(m['imae_1_km'])
    assert m['imae_1_km'] > 400  # 1/1 mm - 1/2 m is huge


def test_no_valid_pixels_gives_nan():
    m = depth_metrics(np.ones((2, 2)), np.full((2, 2), np.nan))
    assert m['n_valid'] == 0
    assert all(math.isnan(m[k]) for k in METRIC_KEYS)


def test_valid_mask():
    gt = np.array([[np.nan, np.inf, -1.0, 0.0, 0.5, 3.0, 20.0]])
    assert valid_mask(gt).tolist() == [[False, False, False, False, True, True, True]]
    assert valid_mask(gt, 1.0, 10.0).tolist() == [[False] * 5 + [True, False]]


def test_aggregate_is_mean_over_frames_and_pooled_differs():
    gt1 = np.full((1, 1), 2.0)
    gt2 = np.full((3, 1), 2.0)
    f1 = depth_metrics(gt1 + 1.0, gt1)      # l1 1.0 on one pixel
    f2 = depth_metrics(gt2, gt2)            # l1 0.0 on three pixels
    empty = depth_metrics(gt1, gt1 * np.nan)
    agg = aggregate_frames([f1, f2, empty])
    assert agg['l1'] == pytest.approx(0.5)
    assert agg['n_frames'] == 2
    acc = MetricAccumulator(hist_range_m=2.0, hist_bins=4)
    acc.add(gt1 + 1.0, gt1)
    acc.add(gt2, gt2)
    pooled = acc.result()
    assert pooled['l1'] == pytest.approx(0.25)
    assert pooled['n_valid'] == 4
    assert acc.hist_counts.tolist() == [0, 0, 3, 1]


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError, match='shape'):
        depth_metrics(np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(InputError, match='2-D'):
        depth_metrics(np.ones(4), np.ones(4))
    with pytest.raises(InputError, match='max_depth'):
        depth_metrics(np.ones((2, 2)), np.ones((2, 2)), min_depth=5.0, max_depth=1.0)
    with pytest.raises(InputError, match='mask'):
        depth_metrics(np.ones((2, 2)), np.ones((2, 2)), mask=np.ones((2, 2)))
