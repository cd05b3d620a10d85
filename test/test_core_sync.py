# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Tests of the pairing rule (message_filters.Cache storage + nearest-within-slop selection)."""

import threading

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from promptda_ros.core.errors import SyncError
from promptda_ros.core.sync import (
    DEFAULT_JUMP_BACK_NS,
    interval_bounds,
    Match,
    match_filter_cache,
    NearestSweepCache,
    select_nearest,
    StampCache,
)

T0 = 1_700_000_000_000_000_000  # epoch-scale stamps: float seconds would lose precision
MS = 1_000_000


def test_nearest_within_slop():
    cache = NearestSweepCache(slop_ns=20 * MS, capacity=5)
    for k in range(3):
        cache.add(T0 + k * 100 * MS + 3 * MS, f'sweep{k}')
    assert cache.match(T0 + 100 * MS) == (T0 + 103 * MS, 'sweep1')
    assert cache.match(T0 + 200 * MS) == Match(T0 + 203 * MS, 'sweep2')
    assert cache.match(T0 + 150 * MS) is None                     # 47 ms away from both
    assert cache.match(T0 + 123 * MS) == (T0 + 103 * MS, 'sweep1')  # slop inclusive
    assert cache.match(T0 + 123 * MS + 1) is None


def test_ties_go_to_the_later_stamp_whatever_the_arrival_order():
    for order in (['old', 'new'], ['new', 'old']):
        cache = NearestSweepCache(slop_ns=10)
        for name in order:
            cache.add(T0 + (10 if name == 'new' else -10), name)
        assert cache.match(T0) == (T0 + 10, 'new')


def test_duplicate_stamps_are_both_kept_and_the_later_arrival_wins():
    cache = NearestSweepCache(slop_ns=5, capacity=4)
    cache.add(T0, 'first')
    cache.add(T0, 'second')
    assert len(cache) == 2 and cache.stamps == [T0, T0]
    assert cache.match(T0 + 3) == (T0, 'second')
    assert select_nearest([(T0, 'a'), (T0 + 2, 'b'), (T0, 'c')], T0 + 1, 5) == (T0 + 2, 'b')


def test_eviction_drops_the_oldest_inserted_not_the_oldest_stamp():
    cache = NearestSweepCache(slop_ns=1_000, capacity=2)
    cache.add(T0 + 50_000, 'newest stamp, first in')
    cache.add(T0 + 10_000, 'late')
    cache.add(T0 + 20_000, 'third')
    assert cache.stamps == [T0 + 10_000, T0 + 20_000]  # arrival order
    assert cache.match(T0 + 50_000) is None
    assert cache.match(T0 + 10_000) == (T0 + 10_000, 'late')


def test_late_sweeps_are_stored_and_paired():
    cache = NearestSweepCache(slop_ns=20 * MS, capacity=5)
    cache.add(T0 + 200 * MS, 'b')
    assert cache.add(T0 + 100 * MS, 'a') is False      # 100 ms late: not a jump
    assert cache.match(T0 + 95 * MS) == (T0 + 100 * MS, 'a')
    assert cache.jumps_back == 0 and len(cache) == 2


def test_jump_back_on_the_sweep_stream_clears_once():
    cache = NearestSweepCache(slop_ns=50 * MS, capacity=10)
    for k in range(5):  # a 2 s bag
        assert cache.note_image(T0 + k * 500 * MS) is False
        assert cache.add(T0 + k * 500 * MS, k) is False
    # The bag loops: the first sweep of the second pass arrives before its image.
    assert cache.add(T0, 'again') is True
    assert cache.stamps == [T0] and cache.jumps_back == 1
    assert cache.note_image(T0) is True                 # the same jump: not counted twice
    assert cache.jumps_back == 1
    assert cache.match(T0) == (T0, 'again')             # the new timeline's sweep is kept
    assert cache.add(T0 + 100 * MS, 'next') is False


def test_jump_back_on_the_image_stream_drops_the_old_timeline():
    cache = NearestSweepCache(slop_ns=50 * MS, capacity=10)
    for k in range(5):
        cache.note_image(T0 + k * 100 * MS)
        cache.add(T0 + k * 100 * MS, k)
    cache.add(T0 + 430 * MS, 'after the last image')
    # The image arrives first: everything stamped after image + slop belongs to the old run.
    assert cache.note_image(T0 + 20 * MS) is True
    assert cache.stamps == [T0] and cache.jumps_back == 1
    assert cache.match(T0 + 20 * MS) == (T0, 0)
    assert cache.add(T0 + 100 * MS, 'new') is False     # nothing left to compare against
    assert cache.note_image(T0 + 100 * MS) is False and cache.jumps_back == 1
    # A second loop is a second jump.
    assert cache.note_image(T0) is True and cache.jumps_back == 2


def test_sweep_jump_threshold_is_configurable():
    cache = NearestSweepCache(slop_ns=MS, capacity=4, jump_back_ns=100 * MS)
    cache.add(T0 + 500 * MS, 'a')
    assert cache.add(T0 + 450 * MS, 'late') is False
    assert cache.add(T0 + 300 * MS, 'reset') is True and cache.stamps == [T0 + 300 * MS]
    assert DEFAULT_JUMP_BACK_NS == 1_000_000_000


def test_stamps_near_zero_never_ask_for_negative_time():
    assert interval_bounds(10 * MS, 50 * MS) == (0, 60 * MS)
    assert interval_bounds(0, 0) == (0, 0)
    cache = NearestSweepCache(slop_ns=50 * MS)
    cache.note_image(0)
    cache.add(0, 'zero')
    cache.add(30 * MS, 'thirty')
    assert cache.match(0) == (0, 'zero')
    assert cache.match(10 * MS) == (0, 'zero')
    assert cache.match(20 * MS) == (30 * MS, 'thirty')
    with pytest.raises(SyncError, match='>= 0'):
        cache.add(-1, 'negative')
    with pytest.raises(SyncError, match='>= 0'):
        cache.match(-5)


def test_slop_changed_at_run_time_keeps_the_cache():
    cache = NearestSweepCache(slop_ns=10 * MS)
    cache.add(T0 + 40 * MS, 'sweep')
    assert cache.match(T0) is None
    cache.set_slop(40 * MS)
    assert cache.slop_ns == 40 * MS and cache.match(T0) == (T0 + 40 * MS, 'sweep')
    cache.slop_ns = 0
    assert cache.match(T0) is None and cache.match(T0 + 40 * MS) == (T0 + 40 * MS, 'sweep')
    with pytest.raises(SyncError, match='slop_ns'):
        cache.set_slop(-1)
    with pytest.raises(SyncError, match='integer nanoseconds'):
        cache.slop_ns = 0.05


def test_capacity_change_and_clear():
    cache = NearestSweepCache(slop_ns=1, capacity=4)
    for k in range(4):
        cache.add(T0 + k, k)
    cache.capacity = 2
    assert cache.capacity == 2 and cache.stamps == [T0 + 2, T0 + 3]
    cache.note_image(T0 + 3)
    cache.clear()
    assert len(cache) == 0 and cache.match(T0) is None
    assert cache.note_image(T0) is False  # clear() forgets the previous image too


def test_one_nanosecond_resolution_at_epoch_scale():
    cache = NearestSweepCache(slop_ns=0)
    cache.add(T0 + 1, 'a')
    cache.add(T0 + 2, 'b')
    assert cache.match(T0 + 1) == (T0 + 1, 'a')
    assert cache.match(T0 + 2) == (T0 + 2, 'b')
    assert cache.match(T0 + 3) is None


def test_stamp_cache_mirrors_message_filters_cache():
    cache = StampCache(capacity=3)
    for stamp, name in [(30, 'a'), (10, 'b'), (20, 'c')]:
        cache.add(stamp, name)
    assert cache.get_elem_after_time(15) == (30, 'a')   # first in arrival order, not by stamp
    assert cache.get_elem_before_time(25) == (20, 'c')  # last in arrival order
    assert cache.get_elem_after_time(31) is None and cache.get_elem_before_time(9) is None
    assert cache.get_interval(10, 20) == [(10, 'b'), (20, 'c')]
    assert cache.oldest_time() == 30 and cache.latest_time() == 20 and cache.newest_stamp() == 30
    cache.add(5, 'd')
    assert cache.entries() == [(10, 'b'), (20, 'c'), (5, 'd')]
    with pytest.raises(SyncError, match='after its end'):
        cache.get_interval(20, 10)
    assert cache.keep(lambda s: s < 15) == 1 and len(cache) == 2
    empty = StampCache()
    assert empty.oldest_time() is None and empty.latest_time() is None


class _TimeCache:
    """The getInterval contract of message_filters.Cache on rclpy Time values, arrival order."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.msgs: list = []
        self.times: list = []

    def add(self, msg, time) -> None:
        self.msgs.append(msg)
        self.times.append(time)
        if len(self.msgs) > self.capacity:
            del self.msgs[0]
            del self.times[0]

    def getInterval(self, from_stamp, to_stamp):  # noqa: N802 (message_filters' name)
        assert from_stamp <= to_stamp
        return [m for m, t in zip(self.msgs, self.times) if from_stamp <= t <= to_stamp]


def test_filter_cache_adapter_uses_rclpy_time_without_negative_values():
    from rclpy.clock import ClockType
    from rclpy.time import Time

    def to_time(ns: int) -> Time:
        return Time(nanoseconds=ns, clock_type=ClockType.ROS_TIME)  # ValueError if ns < 0

    with pytest.raises(ValueError):
        to_time(-1)
    mf = _TimeCache(capacity=3)
    for stamp in (0, 30 * MS, 30 * MS):
        mf.add({'stamp': stamp, 'id': len(mf.msgs)}, to_time(stamp))
    got = match_filter_cache(mf, 10 * MS, 50 * MS, lambda m: m['stamp'], to_time)
    assert got is not None and got.stamp_ns == 0 and got.item['id'] == 0
    got = match_filter_cache(mf, 20 * MS, 50 * MS, lambda m: m['stamp'], to_time)
    assert got.stamp_ns == 30 * MS and got.item['id'] == 2  # equal stamps: later arrival
    assert match_filter_cache(mf, 200 * MS, 50 * MS, lambda m: m['stamp'], to_time) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2000), min_size=1, max_size=30),
       st.integers(0, 2100), st.integers(0, 300), st.integers(1, 8))
def test_core_and_filter_paths_agree_with_the_stated_rule(stamps, query, slop, capacity):
    """Brute force of the documented rule == core cache == message_filters-style path."""
    cache = NearestSweepCache(slop_ns=slop, capacity=capacity, jump_back_ns=10_000)
    mf = _TimeCache(capacity)
    arrivals = []
    for i, s in enumerate(stamps):
        cache.add(T0 + s, i)
        mf.add(i, T0 + s)
        arrivals.append((T0 + s, i))
    kept = arrivals[-capacity:]
    inside = [(abs(s - (T0 + query)), -s, order, item)
              for order, (s, item) in enumerate(kept) if abs(s - (T0 + query)) <= slop]
    expected = None
    if inside:
        _, neg, _, item = max(inside, key=lambda c: (-c[0], -c[1], c[2]))
        expected = (-neg, item)
    assert cache.match(T0 + query) == expected
    stamp_of = dict((i, s) for s, i in arrivals).__getitem__
    assert match_filter_cache(mf, T0 + query, slop, stamp_of, lambda ns: ns) == expected


def test_concurrent_adds_and_matches():
    cache = NearestSweepCache(slop_ns=10, capacity=16)
    errors = []

    def writer() -> None:
        try:
            for k in range(2000):
                cache.add(T0 + k, k)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    for k in range(2000):
        got = cache.match(T0 + k)
        assert got is None or abs(got.stamp_ns - (T0 + k)) <= 10
    thread.join()
    assert not errors and len(cache) == 16


@pytest.mark.parametrize('bad', [1.5, 1e18, '1', None, True])
def test_non_integer_stamps_rejected(bad):
    cache = NearestSweepCache(slop_ns=10)
    with pytest.raises(SyncError, match='integer nanoseconds'):
        cache.add(bad, 'x')
    with pytest.raises(SyncError, match='integer nanoseconds'):
        cache.match(bad)
    with pytest.raises(SyncError, match='integer nanoseconds'):
        cache.note_image(bad)


def test_bad_parameters_rejected():
    with pytest.raises(SyncError, match='slop_ns must be >= 0'):
        NearestSweepCache(slop_ns=-1)
    with pytest.raises(SyncError, match='integer nanoseconds'):
        NearestSweepCache(slop_ns=0.05)
    with pytest.raises(SyncError, match='capacity'):
        NearestSweepCache(slop_ns=1, capacity=0)
    with pytest.raises(SyncError, match='capacity'):
        StampCache(capacity=True)
    assert NearestSweepCache(slop_ns=np.int64(5)).slop_ns == 5
