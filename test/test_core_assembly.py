# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Frame assembly as a plain object fed stamp sequences (no rclpy, no clock)."""

import pytest

from promptda_ros.core.assembly import FrameAssembler, MAX_PENDING_IMAGES
from promptda_ros.core.errors import SyncError
from promptda_ros.core.sync import seconds_to_ns

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def _kinds(events):
    return [(e.kind, (e.stamp_ns - T0) // MS if e.kind != 'time_jump' else e.jumps)
            for e in events]


def _feed(assembler, sequence):
    """Feed ('image' | 'info' | 'prompt', ms after T0) in order; return every event."""
    add = {'image': assembler.add_image, 'info': assembler.add_camera_info,
           'prompt': assembler.add_prompt}
    events = []
    for kind, ms in sequence:
        stamp = T0 + ms * MS
        events += add[kind](stamp, f'{kind}@{ms}')
    return events


def test_seconds_to_ns_rounds_once():
    assert seconds_to_ns(0.05) == 50 * MS
    almost = 13 * 1e-7  # 1.2999999999999998e-06 s
    assert seconds_to_ns(almost) == 1300
    assert int(almost * 1e9) == 1299  # what truncation gave
    assert seconds_to_ns(0) == 0
    with pytest.raises(SyncError):
        seconds_to_ns(float('nan'))


def test_image_waits_for_its_sweep_and_camera_info():
    a = FrameAssembler(slop_ns=50 * MS)
    events = _feed(a, [('image', 0)])
    assert [e.kind for e in events] == ['pending']
    assert _feed(a, [('info', 0)]) == []
    events = _feed(a, [('prompt', 7)])
    assert [e.kind for e in events] == ['complete']
    frame = events[0].frame
    assert (frame.image, frame.stamp_ns, frame.camera, frame.camera_stamp_ns) == \
        ('image@0', T0, 'info@0', T0)
    assert (frame.prompt, frame.prompt_stamp_ns) == ('prompt@7', T0 + 7 * MS)
    assert a.pending == 0


def test_one_sweep_completes_two_images_oldest_first():
    a = FrameAssembler(slop_ns=50 * MS)
    _feed(a, [('info', 0), ('prompt', 0), ('image', 0)])
    events = _feed(a, [('image', 53), ('image', 93), ('prompt', 100)])
    assert _kinds(events) == [('pending', 53), ('pending', 93), ('complete', 53),
                              ('complete', 93)]
    assert events[2].frame.prompt_stamp_ns == T0 + 100 * MS


def test_an_image_passed_over_is_unpaired():
    a = FrameAssembler(slop_ns=10 * MS)
    _feed(a, [('info', 0)])
    events = _feed(a, [('image', 0), ('image', 100), ('prompt', 100)])
    assert _kinds(events) == [('pending', 0), ('pending', 100), ('unpaired', 0),
                              ('complete', 100)]
    assert events[2].why == 'passed'


def test_waiting_images_overflow_oldest_first():
    a = FrameAssembler(slop_ns=5 * MS)
    events = _feed(a, [('image', 100 * k) for k in range(MAX_PENDING_IMAGES + 2)])
    unpaired = [e for e in events if e.kind == 'unpaired']
    assert [((e.stamp_ns - T0) // MS, e.why) for e in unpaired] == \
        [(0, 'overflow'), (100, 'overflow')]
    assert a.pending == MAX_PENDING_IMAGES
    assert [(e.stamp_ns - T0) // MS for e in a.finish()] == [200, 300, 400, 500]
    assert a.pending == 0


def test_camera_info_is_the_nearest_cached_however_far():
    a = FrameAssembler(slop_ns=10 * MS, camera_capacity=2)
    _feed(a, [('info', -5000), ('info', 3000), ('prompt', 0)])
    events = _feed(a, [('image', 0)])
    assert events[0].frame.camera == 'info@3000'  # nearer than the earlier one
    _feed(a, [('info', 9000)])  # capacity 2: info@-5000 goes
    assert a.camera_for(T0 - 5000 * MS)[1] == 'info@3000'


def test_without_prompt_a_camera_info_completes_the_frame():
    a = FrameAssembler(slop_ns=0, needs_prompt=False)
    events = _feed(a, [('image', 0), ('info', 500)])
    assert _kinds(events) == [('pending', 0), ('complete', 0)]
    assert events[-1].frame.prompt is None and events[-1].frame.prompt_stamp_ns is None


def test_slop_change_applies_to_the_next_match():
    a = FrameAssembler(slop_ns=5 * MS)
    _feed(a, [('info', 0), ('prompt', 7)])
    assert [e.kind for e in _feed(a, [('image', 0)])] == ['pending']
    a.set_slop(10 * MS)
    assert a.slop_ns == 10 * MS
    assert [e.kind for e in _feed(a, [('image', 1)])] == ['complete', 'complete']


def test_jump_back_unpairs_the_old_timeline_and_counts_once():
    a = FrameAssembler(slop_ns=50 * MS)
    _feed(a, [('info', 10_000), ('prompt', 10_007), ('image', 10_000), ('image', 10_100)])
    assert a.pending == 1  # 10_100 waits for a sweep
    # The bag loops: a sweep of the new timeline first (clears the sweeps, counted) ...
    events = _feed(a, [('prompt', 7)])
    assert _kinds(events) == [('time_jump', 1)]
    # ... then its image: the waiting image of the old timeline is unpaired, camera infos
    # stamped after the new image + slop go, and the jump is not counted twice.
    events = _feed(a, [('image', 0)])
    assert [(e.kind, e.why) for e in events] == [('unpaired', 'time_jump'), ('pending', '')]
    assert a.camera_for(T0) is None
    events = _feed(a, [('info', 0)])
    assert _kinds(events) == [('complete', 0)]
    assert events[0].frame.prompt == 'prompt@7'


def test_image_jump_back_alone_is_counted():
    a = FrameAssembler(slop_ns=50 * MS)
    _feed(a, [('info', 5000), ('prompt', 5000), ('image', 5000)])
    events = _feed(a, [('image', 0)])
    assert _kinds(events) == [('time_jump', 1), ('pending', 0)]
    _feed(a, [('info', 0)])
    assert [e.kind for e in _feed(a, [('prompt', 0)])] == ['complete']


def test_late_sweep_still_pairs_within_capacity():
    a = FrameAssembler(slop_ns=20 * MS, prompt_capacity=2)
    _feed(a, [('info', 0), ('prompt', 100), ('prompt', 3)])  # a late sweep: stored
    assert _feed(a, [('image', 0)])[0].frame.prompt == 'prompt@3'
    _feed(a, [('prompt', 200)])  # capacity 2: the oldest inserted (prompt@100) goes
    assert [e.kind for e in _feed(a, [('image', 101)])] == ['pending']
