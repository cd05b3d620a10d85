# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Training losses against values computed by hand on small arrays."""

import math

import pytest
import torch

from promptda_ros.train.losses import (
    edge_aware_loss,
    gradient_loss,
    l1_gradient_loss,
    l1_loss,
    masked_mean,
)

NAN = math.nan


def t(rows):
    return torch.tensor([rows], dtype=torch.float32)


PRED = t([[1.0, 2.0], [3.0, 5.0]])
ONES = t([[1.0, 1.0], [1.0, 1.0]])
# err = pred - target = [[0, 1], [2, 4]]


def test_l1_all_valid():
    # (0 + 1 + 2 + 4) / 4
    assert l1_loss(PRED, ONES).item() == pytest.approx(1.75)


def test_l1_masked_and_nan_target():
    mask = torch.tensor([[[True, True], [True, False]]])
    assert l1_loss(PRED, ONES, mask).item() == pytest.approx(1.0)  # (0 + 1 + 2) / 3
    target = t([[1.0, NAN], [1.0, 1.0]])
    assert l1_loss(PRED, target).item() == pytest.approx(2.0)  # (0 + 2 + 4) / 3


def test_gradient_loss_hand_values():
    # dx: row 0: 1 - 0 = 1, row 1: 4 - 2 = 2 -> 1.5; dy: col 0: 2 - 0, col 1: 4 - 1 -> 2.5
    assert gradient_loss(PRED, ONES).item() == pytest.approx(4.0)
    mask = torch.tensor([[[True, True], [True, False]]])
    # only the pairs (0,0)-(0,1) in x (|1|) and (0,0)-(1,0) in y (|2|) stay
    assert gradient_loss(PRED, ONES, mask).item() == pytest.approx(3.0)
    # a constant offset has no gradient
    assert gradient_loss(ONES + 3.0, ONES).item() == pytest.approx(0.0)


def test_l1_gradient_and_shapes():
    assert l1_gradient_loss(PRED, ONES).item() == pytest.approx(1.75 + 0.5 * 4.0)
    assert l1_gradient_loss(PRED[:, None], ONES[:, None], lam=1.0).item() == \
        pytest.approx(1.75 + 4.0)
    with pytest.raises(ValueError):
        l1_loss(PRED, ONES[:, :1])


def test_edge_aware_loss_uses_gt_for_l1_and_pseudo_for_edges():
    gt = t([[1.0, NAN], [3.0, NAN]])          # holes in the reference
    pseudo = t([[1.0, 2.0], [3.0, 3.0]])      # dense pseudo truth
    # L1 on gt's valid pixels: |1-1| + |3-3| = 0 -> 0
    # pred - pseudo = [[0, 0], [0, 2]]: dx = 0 (row 0), 2 (row 1) -> 1; dy = 0, 2 -> 1
    assert edge_aware_loss(PRED, gt, pseudo).item() == pytest.approx(0.0 + 0.5 * 2.0)
    assert edge_aware_loss(PRED, gt, pseudo, lam=0.0).item() == pytest.approx(0.0)
    gt_mask = torch.tensor([[[True, False], [False, False]]])
    off = PRED + 0.5
    # L1 at (0,0): 0.5; gradients of a shifted prediction are unchanged
    assert edge_aware_loss(off, gt, pseudo, gt_mask).item() == pytest.approx(0.5 + 1.0)


def test_reduction_is_per_sample_then_batch():
    pred = torch.cat([PRED, t([[1.25, 0.0], [0.0, 0.0]])])
    target = torch.cat([ONES, t([[1.0, NAN], [NAN, NAN]])])
    # sample 0: 1.75 over 4 pixels; sample 1: 0.25 over 1 pixel -> (1.75 + 0.25) / 2
    assert l1_loss(pred, target).item() == pytest.approx(1.0)
    halves = [l1_loss(pred[i:i + 1], target[i:i + 1]).item() for i in range(2)]
    assert sum(halves) / 2 == pytest.approx(l1_loss(pred, target).item())


def test_nothing_valid_gives_zero_with_a_gradient():
    pred = PRED.clone().requires_grad_(True)
    loss = l1_gradient_loss(pred, t([[NAN, NAN], [NAN, NAN]]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))
    assert masked_mean(torch.ones(2, 3), torch.zeros(2, 3, dtype=torch.bool)).item() == 0.0


def test_l1_gradient_flows_to_prediction():
    pred = PRED.clone().requires_grad_(True)
    l1_loss(pred, ONES).backward()
    # d/dpred mean|pred - 1| = sign(err) / 4, sign(0) = 0
    assert torch.allclose(pred.grad, torch.tensor([[[0.0, 0.25], [0.25, 0.25]]]))
