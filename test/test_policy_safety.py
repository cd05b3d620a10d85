# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Pure safety filter, arm profiles, chunk scheduling and the inference worker."""

import threading
import time

import numpy as np
import pytest

from promptda_policy.control.arm_profiles import (
    get_profile,
    H1_RIGHT_ARM_JOINTS,
    make_profile,
    order_joints,
)
from promptda_policy.control.chunk_scheduler import ChunkScheduler, InferenceWorker
from promptda_policy.control.safety_filter import Mode, SafetyConfig, SafetyFilter
from promptda_ros.core.errors import InputError

H1 = get_profile('unitree_h1_right_arm')
DT = 1.0 / 30.0


def test_h1_profile_limits():
    assert H1.joint_names == H1_RIGHT_ARM_JOINTS == (
        'right_shoulder_pitch_joint', 'right_shoulder_roll_joint', 'right_shoulder_yaw_joint',
        'right_elbow_joint')
    np.testing.assert_allclose(H1.lower, [-2.87, -3.11, -4.45, -1.25])
    np.testing.assert_allclose(H1.upper, [2.87, 0.34, 1.30, 2.61])
    np.testing.assert_allclose(H1.clamp([9, 9, -9, 0]), [2.87, 0.34, -4.45, 0])


@pytest.mark.parametrize('kwargs, match', [
    (dict(joint_names=[]), 'empty'),
    (dict(joint_names=['a', 'a']), 'duplicate'),
    (dict(lower=[0.0]), 'lower has 1'),
    (dict(upper=[1.0, -5.0]), 'upper <= lower'),
    (dict(max_velocity=[1.0, 0.0]), 'max_velocity'),
    (dict(lower=[np.nan, 0.0]), 'non-finite'),
])
def test_generic_profile_validation(kwargs, match):
    args = dict(joint_names=['a', 'b'], lower=[-1.0, -1.0], upper=[1.0, 1.0], max_velocity=1.0)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        make_profile('generic', **args)
    with pytest.raises(InputError, match='unknown arm profile'):
        get_profile('ur5')


def _active_filter(max_vel=1.0):
    f = SafetyFilter(get_profile('unitree_h1_right_arm', max_vel), SafetyConfig(
        max_depth_age_s=0.5, max_joint_state_age_s=0.2, control_period_s=DT))
    f.set_estop(False)  # the e-stop publisher is there and released
    assert f.set_enabled(True)[0]
    return f


def test_disabled_by_default_publishes_nothing():
    f = SafetyFilter(H1)
    d = f.step(10.0, np.ones(4), np.zeros(4), 10.0, 10.0)
    assert d.mode == Mode.DISABLED and d.positions is None


def test_clamps_to_joint_and_velocity_limits():
    f = _active_filter(max_vel=1.0)
    measured = np.zeros(4)
    target = np.array([10.0, 10.0, -10.0, 10.0])
    out = []
    for i in range(200):
        d = f.step(i * DT, target, measured, i * DT, i * DT)
        assert d.mode == Mode.ACTIVE
        out.append(d.positions)
        measured = d.positions
    out = np.stack(out)
    assert np.all(np.abs(np.diff(out, axis=0)) <= 1.0 * DT + 1e-12)
    assert np.all(np.abs(out[0]) <= DT + 1e-12)  # ramps from the measured pose
    np.testing.assert_allclose(out[-1], [2.87, 0.34, -4.45, 2.61])
    assert np.all(out >= H1.lower) and np.all(out <= H1.upper)


def test_stale_depth_or_joints_hold_the_last_command():
    f = _active_filter()
    pose = np.array([0.1, -0.2, 0.3, 0.4])
    sent = f.step(0.0, pose + 0.01, pose, 0.0, 0.0).positions   # the arm lags its command
    np.testing.assert_allclose(sent, pose + 0.01)
    d = f.step(1.0, pose + 1.0, pose, 1.0, 0.4)          # depth 0.6 s old
    assert d.mode == Mode.STALE and 'depth' in d.reason
    np.testing.assert_allclose(d.positions, sent)        # where the arm was sent, no jump
    d2 = f.step(1.1, pose + 1.0, pose + 0.05, 1.1, 0.4)   # still held at the latched pose
    np.testing.assert_allclose(d2.positions, sent)
    d3 = f.step(2.0, pose + 1.0, pose, 1.5, 2.0)          # joints 0.5 s old
    assert d3.mode == Mode.STALE and 'joint' in d3.reason
    assert f.step(2.0, None, pose, 2.0, 2.0).mode == Mode.HOLD
    assert f.step(2.0, [np.nan] * 4, pose, 2.0, 2.0).mode == Mode.HOLD
    blocked = f.step(2.1, None, sent + 0.6, 2.1, 2.1)       # pushed away while holding
    assert blocked.mode == Mode.FAULT and not f.enabled
    first = _active_filter()                              # nothing commanded yet:
    held = first.step(0.0, pose, pose, 0.0, -1.0)          # the measured pose
    assert held.mode == Mode.STALE
    np.testing.assert_allclose(held.positions, pose)


def test_no_command_steps_beyond_the_velocity_limit_outside_estop_and_fault():
    """Random ticks of fresh / stale depth and joints, no action, NaN actions, far targets.

    The arm follows each command with a lag; whatever the mode, two consecutive published
    commands differ by at most max_velocity * control_period (the hold used to latch the
    measured pose: a step of the tracking lag).
    """
    rng = np.random.default_rng(7)
    f = _active_filter(max_vel=1.0)
    arm = np.zeros(4)
    previous = None
    modes = set()
    for i in range(3000):
        now = i * DT
        kind = rng.integers(0, 6)
        target = {0: None, 1: [np.nan] * 4}.get(kind, rng.uniform(-3, 3, 4))
        joint_stamp = now - (0.5 if rng.random() < 0.05 else 0.0)
        depth_stamp = now - (1.0 if rng.random() < 0.2 else 0.0)
        d = f.step(now, target, arm, joint_stamp, depth_stamp)
        assert d.mode not in (Mode.FAULT, Mode.ESTOP, Mode.DISABLED), d
        modes.add(d.mode)
        if d.positions is not None:
            if previous is not None:
                assert np.all(np.abs(d.positions - previous) <= DT + 1e-12), (i, d)
            previous = d.positions
            arm = arm + 0.2 * (d.positions - arm)   # a lagging position controller
    assert modes == {Mode.ACTIVE, Mode.STALE, Mode.HOLD}


@pytest.mark.parametrize('coeff,steps', [(0.01, 0), (None, 30)])
def test_played_chunks_keep_the_limits_holds_and_estop(coeff, steps):
    """The safety filter's guarantees hold on played chunks (ensembled or n_action_steps).

    Chunks played as the node does by default (temporal ensembling, lerobot's 0.01) or
    n_action_steps at a time: random chunks far outside the limits, NaN chunks, stale depth and
    joints, an e-stop in the middle. Every command stays inside the joint limits, no two
    consecutive commands differ by more than the velocity limit allows (e-stop and fault
    excepted), a stale input holds, the e-stop holds still until reset and re-enabled.
    """
    rng = np.random.default_rng(3)
    f = _active_filter(max_vel=1.0)
    s = ChunkScheduler(30.0, coeff, n_action_steps=steps)
    arm = np.zeros(4)
    previous = None
    modes = set()
    estop_at, estop_pose = 600, None
    for i in range(1500):
        now = i * DT
        if i % 2 == 0:
            chunk = rng.uniform(-6, 6, (30, 4)) if rng.random() < 0.9 else np.full((30, 4), np.nan)
            s.add_chunk(now - DT, chunk)
        if i == estop_at:
            f.set_estop(True)
        if i == estop_at + 60:
            f.set_estop(False)
            assert f.reset_estop()[0] and f.set_enabled(True)[0]
            s.clear()      # the node drops its chunks on e-stop and enable
            previous = None
        depth_stamp = now - (1.0 if rng.random() < 0.1 else 0.0)
        joint_stamp = now - (0.5 if rng.random() < 0.05 else 0.0)
        target = s.action_at(now) if f.enabled else None
        d = f.step(now, target, arm, joint_stamp, depth_stamp)
        modes.add(d.mode)
        if d.positions is None:             # nothing commanded yet: nothing published
            assert previous is None and d.mode in (Mode.STALE, Mode.HOLD), (i, d)
            continue
        assert np.all(d.positions >= H1.lower - 1e-9) and np.all(d.positions <= H1.upper + 1e-9)
        if d.mode == Mode.ESTOP:
            estop_pose = d.positions if estop_pose is None else estop_pose
            np.testing.assert_array_equal(d.positions, estop_pose)     # holds still
        elif previous is not None and d.mode != Mode.DISABLED:
            assert np.all(np.abs(d.positions - previous) <= DT + 1e-12), (i, d)
        if now - depth_stamp > 0.5 or now - joint_stamp > 0.2:
            assert d.mode in (Mode.STALE, Mode.ESTOP, Mode.DISABLED), (i, d)
        previous = d.positions
        arm = arm + 0.2 * (d.positions - arm)
    assert {Mode.ACTIVE, Mode.STALE, Mode.ESTOP} <= modes, modes


def test_estop_latches_until_reset_and_reenable():
    f = _active_filter()
    pose = np.array([0.5, 0.0, 0.0, 1.0])
    f.step(0.0, pose, pose, 0.0, 0.0)
    assert f.step(0.05, None, pose + 0.02, 0.05, 0.05).mode == Mode.HOLD  # at the command
    f.set_estop(True)
    held = [f.step(0.1 * i, pose + 1, pose + 0.01 * i, 0.1 * i, 0.1 * i) for i in range(1, 5)]
    assert all(d.mode == Mode.ESTOP for d in held)
    np.testing.assert_allclose(held[0].positions, pose + 0.01)  # where the arm is when it stops
    assert all(np.array_equal(d.positions, held[0].positions) for d in held)
    assert not f.set_enabled(True)[0]
    assert not f.reset_estop()[0]          # input still active
    f.set_estop(False)
    assert f.estopped                      # releasing the input does not clear the latch
    assert f.reset_estop()[0]
    assert f.step(1.0, pose, pose, 1.0, 1.0).mode == Mode.DISABLED
    assert f.set_enabled(True)[0]
    assert f.step(1.0, pose, pose, 1.0, 1.0).mode == Mode.ACTIVE


def test_enabling_needs_the_estop_input_heard_first():
    f = SafetyFilter(H1)
    ok, message = f.set_enabled(True)
    assert not ok and 'nothing received on the e-stop input' in message and not f.enabled
    f.set_estop(True)
    assert not f.set_enabled(True)[0]       # a pressed stop latches
    f.set_estop(False)
    assert f.reset_estop()[0] and f.set_enabled(True)[0]
    fresh = SafetyFilter(H1)
    fresh.set_estop(False)                  # one released message is enough
    assert fresh.set_enabled(True)[0]
    assert fresh.set_enabled(False)[0]      # disabling never needs the e-stop
    opened = SafetyFilter(H1, SafetyConfig(estop_required=False))
    assert opened.set_enabled(True)[0]      # configured to allow it (no e-stop in the setup)


def test_estop_heartbeat_must_be_fresh_and_its_silence_latches():
    f = SafetyFilter(H1, SafetyConfig(estop_timeout_s=0.5, control_period_s=DT))
    pose = np.array([0.5, 0.0, 0.0, 1.0])
    assert 'heartbeat' in f.set_enabled(True, now_s=10.0)[1]
    f.set_estop(False, now_s=10.0)
    assert 'heartbeat lost' in f.set_enabled(True, now_s=10.6)[1]
    assert f.set_enabled(True, now_s=10.4)[0]
    assert f.step(10.45, pose, pose, 10.45, 10.45).mode == Mode.ACTIVE
    f.set_estop(False, now_s=10.45)
    assert f.step(10.9, pose, pose, 10.9, 10.9).mode == Mode.ACTIVE   # 0.45 s: still fresh
    stopped = f.step(11.0, pose + 1, pose, 11.0, 11.0)               # 0.55 s of silence
    assert stopped.mode == Mode.ESTOP and 'heartbeat lost' in stopped.reason
    np.testing.assert_allclose(stopped.positions, pose)              # holds where the arm is
    assert f.estopped and not f.enabled
    f.set_estop(False, now_s=11.1)                                    # the heartbeat is back
    assert f.reset_estop()[0] and f.set_enabled(True, now_s=11.2)[0]
    with pytest.raises(InputError, match='estop_timeout_s'):
        SafetyConfig(estop_timeout_s=-1.0)


def test_wrong_vector_length_raises():
    f = _active_filter()
    with pytest.raises(InputError, match='3 values'):
        f.step(0.0, np.zeros(3), np.zeros(4), 0.0, 0.0)
    with pytest.raises(InputError, match='control_period_s'):
        SafetyConfig(control_period_s=0.0)


def test_chunk_scheduler_indexes_by_time_and_expires():
    s = ChunkScheduler(fps=30.0)
    assert s.action_at(0.0) is None
    chunk = np.arange(10, dtype=float)[:, None] * np.ones((1, 2))
    s.add_chunk(100.0, chunk)
    np.testing.assert_allclose(s.action_at(100.0), [0, 0])
    np.testing.assert_allclose(s.action_at(100.0 + 3.5 / 30), [3, 3])
    assert s.action_at(100.0 + 10 / 30) is None
    s.add_chunk(99.0, chunk + 100)  # older observation finishing late is ignored
    np.testing.assert_allclose(s.action_at(100.1), [3, 3])
    with pytest.raises(InputError):
        s.add_chunk(101.0, np.zeros((10, 3)))


def test_temporal_ensembling_weights_older_chunks_more():
    s = ChunkScheduler(fps=10.0, ensemble_coeff=0.5)
    s.add_chunk(0.0, np.zeros((10, 1)))
    s.add_chunk(0.2, np.ones((10, 1)))
    w = np.exp(-0.5 * np.arange(2))
    np.testing.assert_allclose(s.action_at(0.25), [w[1] / w.sum()])
    np.testing.assert_allclose(s.action_at(0.05), [0.0])  # only the first chunk covers it


def test_order_joints():
    names = ['b', 'x', 'a']
    np.testing.assert_allclose(order_joints(names, [2.0, 9.0, 1.0], ('a', 'b')), [1.0, 2.0])
    assert order_joints(names, [2.0, 9.0, 1.0], ('a', 'c')) is None
    assert order_joints(names, [2.0], ('a',)) is None


def test_worker_drops_stale_frames_and_reports_errors():
    gate = threading.Event()
    results, errors = [], []

    def predict(obs):
        gate.wait(5.0)
        if obs == 'bad':
            raise ValueError('bad input')
        return obs * 2

    worker = InferenceWorker(predict, lambda s, out: results.append((s, out)), errors.append)
    worker.start()
    worker.submit(1.0, 1)
    time.sleep(0.1)           # 1 is running
    worker.submit(2.0, 2)     # replaced by 3 before it starts
    worker.submit(3.0, 3)
    gate.set()
    deadline = time.monotonic() + 5.0
    while len(results) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.submit(4.0, 'bad')
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert results == [(1.0, 2), (3.0, 6)]
    assert worker.dropped == 1
    assert len(errors) == 1 and 'bad input' in str(errors[0])


def test_tracking_error_faults_and_disables():
    f = _active_filter()
    pose = np.zeros(4)
    d = f.step(0.0, pose + 0.01, pose, 0.0, 0.0)
    blocked = d.positions + np.array([0.0, 0.0, 0.0, 0.8])   # elbow pushed away by 0.8 rad
    fault = f.step(DT, pose + 0.02, blocked, DT, DT)
    assert fault.mode == Mode.FAULT and 'right_elbow_joint' in fault.reason
    np.testing.assert_allclose(fault.positions, blocked)   # stop where the arm is
    assert not f.enabled
    assert f.step(2 * DT, pose, blocked, 2 * DT, 2 * DT).mode == Mode.DISABLED
    off = SafetyFilter(H1, SafetyConfig(max_tracking_error_rad=0.0))
    off.set_estop(False)
    assert off.set_enabled(True)[0]
    off.step(0.0, pose, pose, 0.0, 0.0)
    assert off.step(DT, pose, pose + 0.8, DT, DT).mode == Mode.ACTIVE
    with pytest.raises(InputError, match='max_tracking_error_rad'):
        SafetyConfig(max_tracking_error_rad=-1.0)
