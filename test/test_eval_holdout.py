# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Held-out measured points: exact counts, reproducible, disjoint, on a real KITTI frame."""

import os

import numpy as np
import pytest

from promptda_ros.core.errors import InputError
from promptda_ros.eval.holdout import holdout_mask, split_depth

KITTI = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'realdata',
                     'any2full_kittidc_64l_1', 'depth.npz')


def test_mask_count_and_seed():
    valid = np.zeros((10, 20), bool)
    valid[::2, ::3] = True
    a = holdout_mask(valid, 0.2, seed=3)
    assert a.sum() == round(0.2 * valid.sum())
    assert not (a & ~valid).any()
    assert np.array_equal(a, holdout_mask(valid, 0.2, seed=3))
    assert not np.array_equal(a, holdout_mask(valid, 0.2, seed=4))


@pytest.mark.parametrize('fraction', [0.0, 1.0, -0.1, float('nan')])
def test_fraction_out_of_range_refused(fraction):
    with pytest.raises(InputError, match='fraction'):
        holdout_mask(np.ones(5, bool), fraction)


def test_split_real_frame_is_disjoint_and_complete():
    if not os.path.exists(KITTI):
        pytest.skip('shared real data not present')
    depth = np.load(KITTI)['depth_m']
    prompt, ref = split_depth(depth, 0.2, seed=0)
    measured = depth > 0
    held = np.isfinite(ref)
    assert held.sum() == round(0.2 * measured.sum())
    assert not ((prompt > 0) & held).any()
    assert np.array_equal((prompt > 0) | held, measured)
    assert np.array_equal(ref[held], depth[held])
