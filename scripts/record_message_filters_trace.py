# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Record what the real ``message_filters`` (Python) does, as test data for the core pairing.

message_filters is not on PyPI, so CI cannot run it; where it is importable (a ROS 2 install,
or its ``src/`` folder on ``PYTHONPATH``) this script drives the real ``Subscriber`` and
``Cache`` over seeded stamp sequences, with the messages travelling through a real rclpy
publisher and subscription, and writes every answer the cache gave to a JSON trace.
``test/test_core_sync_trace.py`` replays the trace against ``promptda_ros.core.sync``.

Each scenario is a sequence of events: ``["sweep", stamp_ns]`` (a message published with that
header stamp, delivered through ``message_filters.Subscriber`` into a ``Cache`` of
``capacity``) and ``["query", t_ns]`` (an image stamped ``t_ns`` asking for its candidates).
For each query the trace holds the stamps, in the order returned, of
``getInterval(t - slop, t + slop)`` (lower end clamped at 0), ``getElemBeforeTime(t)`` and
``getElemAfterTime(t)``, plus ``getOldestTime()`` / ``getLastestTime()``.

Usage::

    PYTHONPATH=/path/to/message_filters/src python scripts/record_message_filters_trace.py \
        --out test/data/message_filters/cache_trace.json
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

VERSION_NOTE = 'message_filters Python Subscriber + Cache'


def _scenarios(seed: int) -> list[dict]:
    """Return seeded scenarios: capacity, slop (integer ns) and interleaved events.

    Streams mimic a 10 Hz LiDAR (jittered, some sweeps late by up to 0.4 s, repeated stamps)
    queried by 30 Hz images; stamps are epoch-scale integer nanoseconds and, in one scenario,
    start near 0 (a simulator clock).
    """
    rng = np.random.default_rng(seed)
    out = []
    settings = [(1, 0), (1, 50_000_000), (3, 10_000_000), (4, 50_000_000), (5, 100_000_000),
                (10, 50_000_000), (10, 200_000_000), (2, 33_333_333)]
    for index, (capacity, slop) in enumerate(settings):
        base = 5_000_000 if index == 2 else 1_733_000_000 * 10**9 + int(rng.integers(10**9))
        sweeps = [base + k * 100_000_000 + int(rng.integers(-5_000_000, 5_000_000))
                  for k in range(24)]
        if index % 3 == 1:  # a repeated stamp (a driver that re-sends)
            sweeps[7] = sweeps[6]
        arrivals = list(sweeps)
        for k in rng.choice(len(arrivals) - 4, size=3, replace=False):  # late sweeps
            shift = int(rng.integers(1, 4))
            arrivals.insert(k + shift, arrivals.pop(k))
        events: list[list] = []
        t_image = base - 50_000_000
        for stamp in arrivals:
            events.append(['sweep', int(stamp)])
            for _ in range(int(rng.integers(1, 5))):
                t_image += int(rng.integers(20_000_000, 45_000_000))
                events.append(['query', max(0, int(t_image))])
        for stamp in rng.choice(sweeps, size=4, replace=False):  # exact hits and ties
            events.append(['query', int(stamp)])
            events.append(['query', int(stamp) + slop])
        out.append({'capacity': capacity, 'slop_ns': slop, 'events': events})
    return out


def _record(scenarios: list[dict]) -> list[dict]:
    """Run each scenario through the real message_filters on a real rclpy graph."""
    import message_filters
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.time import Time
    from sensor_msgs.msg import PointCloud2

    rclpy.init()
    node = rclpy.create_node('message_filters_trace')
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    results = []
    try:
        for index, scenario in enumerate(scenarios):
            topic = f'trace_{index}/points'
            pub = node.create_publisher(PointCloud2, topic, qos)
            sub = message_filters.Subscriber(node, PointCloud2, topic, qos_profile=qos)
            cache = message_filters.Cache(sub, cache_size=scenario['capacity'])
            received: list[int] = []
            sub.registerCallback(lambda msg: received.append(
                msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec))
            while pub.get_subscription_count() == 0:
                rclpy.spin_once(node, timeout_sec=0.05)
            answers = []
            for kind, value in scenario['events']:
                if kind == 'sweep':
                    msg = PointCloud2()
                    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(value, 10**9)
                    msg.header.frame_id = 'lidar'
                    expected = len(received) + 1
                    pub.publish(msg)
                    while len(received) < expected:
                        rclpy.spin_once(node, timeout_sec=1.0)
                    continue
                answers.append(_answer(cache, value, scenario['slop_ns'], Time))
            results.append(dict(scenario, received=received, answers=answers,
                                topic=sub.getTopic(), resolved=sub.sub.topic_name,
                                qos_depth=sub.sub.qos_profile.depth))
            node.destroy_subscription(sub.sub)
            node.destroy_publisher(pub)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return results


def _ns(msg) -> int:
    """Return a message's header stamp in integer nanoseconds."""
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def _answer(cache, t_ns: int, slop_ns: int, time_cls) -> dict:
    """Return the cache's answers for an image stamped ``t_ns`` (integer ns)."""
    from rclpy.clock_type import ClockType

    def at(ns):  # the clock type Time.from_msg gives the cached stamps
        return time_cls(nanoseconds=ns, clock_type=ClockType.ROS_TIME)

    low, high = max(0, t_ns - slop_ns), t_ns + slop_ns
    before = cache.getElemBeforeTime(at(t_ns))
    after = cache.getElemAfterTime(at(t_ns))
    oldest, latest = cache.getOldestTime(), cache.getLastestTime()
    return {
        't_ns': t_ns,
        'interval': [_ns(m) for m in cache.getInterval(at(low), at(high))],
        'before': None if before is None else _ns(before),
        'after': None if after is None else _ns(after),
        'oldest': None if oldest is None else oldest.nanoseconds,
        'latest': None if latest is None else latest.nanoseconds,
    }


def main(argv=None) -> int:
    """Record the trace (see the module docstring); exit 1 when message_filters is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='JSON trace to write')
    parser.add_argument('--seed', type=int, default=0, help='seed of the stamp sequences')
    args = parser.parse_args(argv)
    try:
        import message_filters  # noqa: F401
    except ImportError:
        print('error: message_filters is not importable (a ROS 2 install, or its src/ on '
              'PYTHONPATH)', file=sys.stderr)
        return 1
    trace = {'recorded_with': VERSION_NOTE, 'seed': args.seed,
             'scenarios': _record(_scenarios(args.seed))}
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump(trace, f, indent=None, separators=(',', ':'))
        f.write('\n')
    n = sum(len(s['answers']) for s in trace['scenarios'])
    print(f'{len(trace["scenarios"])} scenarios, {n} queries -> {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
