# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The core pairing against a recording of the real ``message_filters`` Subscriber + Cache.

``test/data/message_filters/cache_trace.json`` was written by
``scripts/record_message_filters_trace.py`` with the real package on a real rclpy graph (it is
not on PyPI, so CI replays the recording): 8 seeded scenarios (capacities 1-10, slops 0-200 ms,
late sweeps, a repeated stamp, a clock starting near 0), 545 image queries.  The core cache must
give the same ``getInterval`` / ``getElemBeforeTime`` / ``getElemAfterTime`` / oldest / latest
answers, and its pairing must equal the one rule applied to what the real cache returned.  The
stand-in used by the node-level test of the message_filters path is held to the same recording.
"""

import json
import os

import pytest

from promptda_ros.core.sync import (
    interval_bounds,
    match_filter_cache,
    NearestSweepCache,
    select_nearest,
    StampCache,
)

TRACE = os.path.join(os.path.dirname(__file__), 'data', 'message_filters', 'cache_trace.json')


def _scenarios():
    with open(TRACE, encoding='utf-8') as f:
        trace = json.load(f)
    assert len(trace['scenarios']) >= 8
    return trace['scenarios']


SCENARIOS = _scenarios()


def _replay(scenario, on_sweep, on_query):
    answers = iter(scenario['answers'])
    for kind, value in scenario['events']:
        if kind == 'sweep':
            on_sweep(value)
        else:
            answer = next(answers)
            assert answer['t_ns'] == value
            on_query(value, answer)
    assert next(answers, None) is None


@pytest.mark.parametrize('index', range(len(SCENARIOS)))
def test_stamp_cache_answers_like_message_filters_cache(index):
    scenario = SCENARIOS[index]
    cache = StampCache(scenario['capacity'])
    slop = scenario['slop_ns']

    def on_query(t, answer):
        low, high = interval_bounds(t, slop)
        assert [s for s, _ in cache.get_interval(low, high)] == answer['interval'], t
        before, after = cache.get_elem_before_time(t), cache.get_elem_after_time(t)
        assert (None if before is None else before[0]) == answer['before'], t
        assert (None if after is None else after[0]) == answer['after'], t
        assert cache.oldest_time() == answer['oldest']
        assert cache.latest_time() == answer['latest']

    _replay(scenario, lambda s: cache.add(s, s), on_query)
    # the real subscription delivered every sweep, in publish order
    assert scenario['received'] == [v for k, v in scenario['events'] if k == 'sweep']


@pytest.mark.parametrize('index', range(len(SCENARIOS)))
def test_pairing_equals_the_rule_on_the_real_cache_output(index):
    scenario = SCENARIOS[index]
    slop = scenario['slop_ns']
    core = NearestSweepCache(slop, scenario['capacity'])
    paired = []

    class Recorded:
        """The real cache's recorded getInterval answer for the current query."""

        answer: dict = {}

        def getInterval(self, low, high):  # noqa: N802 (message_filters' name)
            assert (low, high) == interval_bounds(self.answer['t_ns'], slop)
            return self.answer['interval']

    recorded = Recorded()

    def on_query(t, answer):
        expected = select_nearest(((s, s) for s in answer['interval']), t, slop)
        got = core.match(t)
        assert (got is None) == (expected is None), t
        if got is not None:
            assert got.stamp_ns == expected.stamp_ns, t
            paired.append(t)
        recorded.answer = answer
        via_filter = match_filter_cache(recorded, t, slop, lambda s: s, lambda ns: ns)
        assert (via_filter is None) == (expected is None)
        if via_filter is not None:
            assert via_filter.stamp_ns == expected.stamp_ns

    _replay(scenario, lambda s: core.add(s, s), on_query)
    if slop > 0:
        assert paired, 'a scenario that never pairs tests nothing'


def test_node_level_stand_in_matches_the_recording():
    from builtin_interfaces.msg import Time as TimeMsg
    from rclpy.clock_type import ClockType
    from rclpy.time import Time

    from test_ros_units import _fake_message_filters

    fake = _fake_message_filters()

    class Msg:
        def __init__(self, ns):
            self.header = type('H', (), {})()
            self.header.stamp = TimeMsg(sec=ns // 10**9, nanosec=ns % 10**9)
            self.ns = ns

    class Source:
        def registerCallback(self, cb, *args):  # noqa: N802
            self.cb = cb

    for scenario in SCENARIOS:
        src = Source()
        cache = fake.Cache(src, cache_size=scenario['capacity'])
        slop = scenario['slop_ns']

        def at(ns):
            return Time(nanoseconds=ns, clock_type=ClockType.ROS_TIME)

        def on_query(t, answer, cache=cache, slop=slop):
            low, high = interval_bounds(t, slop)
            assert [m.ns for m in cache.getInterval(at(low), at(high))] == answer['interval']

        _replay(scenario, lambda s, src=src: src.cb(Msg(s)), on_query)
