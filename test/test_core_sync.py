# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Tests of the nearest-sweep cache on integer nanosecond stamps."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptda_ros.core.errors import SyncError
from promptda_ros.core.sync import NearestSweepCache

T0 = 1_700_000_000_000_000_000  # epoch-scale stamps: float seconds would lose precision


def test_nearest_within_slop():
    cache = NearestSweepCache(slop_ns=20_000_000, capacity=5)
    for k in range(3):
        cache.add(T0 + k * 100_000_000 + 3_000_000, f'sweep{k}')
    assert cache.match(T0 + 100_000_000) == (T0 + 103_000_000, 'sweep1')
    assert cache.match(T0 + 200_000_000) == (T0 + 203_000_000, 'sweep2')
    assert cache.match(T0 + 150_000_000) is None               # 47 ms away from both
    assert cache.match(T0 + 123_000_000) == (T0 + 103_000_000, 'sweep1')  # slop inclusive
    assert cache.match(T0 + 123_000_001) is None


def test_ties_go_to_the_newer_sweep():
    cache = NearestSweepCache(slop_ns=10)
    cache.add(T0 + 10, 'new')
    cache.add(T0 - 10, 'old')  # out-of-order arrival
    assert cache.match(T0) == (T0 + 10, 'new')
    assert cache.stamps == [T0 - 10, T0 + 10]


def test_one_nanosecond_resolution_at_epoch_scale():
    cache = NearestSweepCache(slop_ns=0)
    cache.add(T0 + 1, 'a')
    cache.add(T0 + 2, 'b')
    assert cache.match(T0 + 1) == (T0 + 1, 'a')
    assert cache.match(T0 + 2) == (T0 + 2, 'b')
    assert cache.match(T0 + 3) is None


def test_capacity_evicts_oldest_and_same_stamp_replaces():
    cache = NearestSweepCache(slop_ns=1_000, capacity=3)
    for k in range(5):
        cache.add(T0 + k * 10_000, k)
    assert len(cache) == 3
    assert cache.stamps == [T0 + 20_000, T0 + 30_000, T0 + 40_000]
    assert cache.match(T0) is None
    cache.add(T0 + 40_000, 'replaced')
    assert len(cache) == 3 and cache.match(T0 + 40_000) == (T0 + 40_000, 'replaced')
    cache.clear()
    assert len(cache) == 0 and cache.match(T0) is None


@pytest.mark.parametrize('bad', [1.5, 1e18, '1', None, True])
def test_non_integer_stamps_rejected(bad):
    cache = NearestSweepCache(slop_ns=10)
    with pytest.raises(SyncError, match='integer nanoseconds'):
        cache.add(bad, 'x')
    with pytest.raises(SyncError, match='integer nanoseconds'):
        cache.match(bad)


def test_bad_parameters_rejected():
    with pytest.raises(SyncError, match='slop_ns must be >= 0'):
        NearestSweepCache(slop_ns=-1)
    with pytest.raises(SyncError, match='integer nanoseconds'):
        NearestSweepCache(slop_ns=0.05)
    with pytest.raises(SyncError, match='capacity'):
        NearestSweepCache(slop_ns=1, capacity=0)
    assert NearestSweepCache(slop_ns=np.int64(5)).slop_ns == 5


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=30),
       st.integers(-1100, 1100), st.integers(0, 300), st.integers(1, 8))
def test_matches_brute_force(stamps, query, slop, capacity):
    cache = NearestSweepCache(slop_ns=slop, capacity=capacity)
    kept = {}
    for i, s in enumerate(stamps):
        cache.add(T0 + s, i)
        kept[s] = i
        while len(kept) > capacity:
            del kept[min(kept)]
    candidates = [(abs(s - query), -s) for s in kept if abs(s - query) <= slop]
    got = cache.match(T0 + query)
    if not candidates:
        assert got is None
    else:
        _, neg = min(candidates)
        assert got == (T0 - neg, kept[-neg])
