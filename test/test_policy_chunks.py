# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The policy node plays the action chunks it predicts (issue 18).

A grasp that holds still at the grasp pose and closes later is in every chunk the policy
predicts there, but the first actions of those chunks say "open". Playing only the newest
chunk (a new one per depth frame) executes those first actions forever: the gripper never
closes. The node's defaults (temporal ensembling, lerobot's coefficient 0.01) must close it.
"""

import os
import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

os.environ.setdefault('HF_HUB_OFFLINE', '1')

from promptda_policy.control.arm_profiles import get_profile, H1_GRIPPER_RANGE  # noqa: E402
from promptda_policy.control.chunk_scheduler import ChunkScheduler  # noqa: E402
from promptda_policy.control.safety_filter import Mode, SafetyConfig, SafetyFilter  # noqa: E402
from promptda_policy.ros.policy_node import POLICY_SPECS, PolicyNode  # noqa: E402

PROFILE = get_profile('unitree_h1_right_arm_gripper')
OPEN, CLOSED = float(H1_GRIPPER_RANGE[1]), float(H1_GRIPPER_RANGE[0])
POSE = np.array([-0.24, 0.08, -0.30, 2.3, OPEN])
CLOSE_AT = 10          # action index at which every chunk closes the gripper
CHUNK = 30             # actions per chunk, 1 s at 30 Hz
DEFAULTS = {spec.name: spec.default for spec in POLICY_SPECS}


class HoldThenClose:
    """Scripted predictor at the grasp pose: chunks hold the arm, open until CLOSE_AT, then close.

    Like a learner trained on demonstrations that pause before closing: once the measured
    gripper is well on its way closed it predicts "closed" from the first action on.
    """

    fps = 30.0

    def __init__(self):
        self.calls = 0

    def predict_chunk(self, depth, joint):
        self.calls += 1
        chunk = np.tile(np.asarray(joint, dtype=np.float64)[:4], (CHUNK, 1))
        grip = np.where(np.arange(CHUNK) < CLOSE_AT, OPEN, CLOSED)
        if joint[4] < OPEN - 0.3 * (OPEN - CLOSED):
            grip[:] = CLOSED
        return np.concatenate([chunk, grip[:, None]], axis=1)


def _scheduler(coeff, n_action_steps):
    return ChunkScheduler(30.0, coeff if coeff >= 0 else None, n_action_steps=n_action_steps)


def _simulate(scheduler, seconds=3.0):
    """15 Hz observations (one tick of inference latency), 30 Hz control, a tracking arm."""
    safety = SafetyFilter(PROFILE, SafetyConfig(control_period_s=1 / 30.0,
                                                estop_required=False))
    assert safety.set_enabled(True, 0.0)[0]
    predictor = HoldThenClose()
    arm = POSE.copy()
    grip = []
    pending = None
    for tick in range(int(seconds * 30)):
        now = tick / 30.0
        if pending is not None:
            scheduler.add_chunk(*pending)
            pending = None
        if tick % 2 == 0:
            pending = (now, predictor.predict_chunk(None, arm))
        d = safety.step(now, scheduler.action_at(now), arm, now, now)
        assert d.mode in (Mode.ACTIVE, Mode.HOLD), d
        arm = arm + 0.5 * (d.positions - arm)
        grip.append(float(d.positions[4]))
    return np.array(grip)


@pytest.mark.parametrize('coeff,steps,closes', [
    (DEFAULTS['temporal_ensemble_coeff'], DEFAULTS['n_action_steps'], True),  # node default
    (-1.0, CHUNK, True),          # play whole chunks before replanning
    (-1.0, 0, False),             # the old execution: newest chunk, first actions only
])
def test_a_hold_then_close_plan_closes_the_gripper(coeff, steps, closes):
    grip = _simulate(_scheduler(coeff, steps))
    closed = grip[-15:].max() < CLOSED + 0.1 * (OPEN - CLOSED)
    assert closed == closes, (coeff, steps, grip[::5])
    if not closes:
        assert grip.min() == pytest.approx(OPEN)   # never even started closing


def test_defaults_play_the_chunks():
    assert DEFAULTS['temporal_ensemble_coeff'] == pytest.approx(0.01)   # lerobot's ACT value
    assert _scheduler(DEFAULTS['temporal_ensemble_coeff'],
                      DEFAULTS['n_action_steps']).mode == 'ensemble'


def test_n_action_steps_plays_a_chunk_before_the_newest_replaces_it():
    s = ChunkScheduler(fps=10.0, n_action_steps=3)
    s.add_chunk(0.0, np.arange(10.0)[:, None])
    s.add_chunk(0.1, 100 + np.arange(10.0)[:, None])     # waits: 3 actions not played yet
    s.add_chunk(0.15, 200 + np.arange(10.0)[:, None])    # replaces the waiting one
    np.testing.assert_allclose(s.action_at(0.05), [0])
    np.testing.assert_allclose(s.action_at(0.25), [2])
    np.testing.assert_allclose(s.action_at(0.3), [201])  # 3 played: the newest, indexed by time
    s.add_chunk(0.1, np.zeros((10, 1)))                  # older than the newest: ignored
    np.testing.assert_allclose(s.action_at(0.35), [202])
    s.clear()
    assert s.action_at(0.4) is None
    with pytest.raises(Exception, match='n_action_steps'):
        ChunkScheduler(fps=10.0, n_action_steps=-1)


def test_ensembling_keeps_every_chunk_of_a_one_second_chunk_at_15_hz():
    s = ChunkScheduler(fps=30.0, ensemble_coeff=0.01)
    for i in range(15):                      # 1 s of chunks, one per depth frame
        s.add_chunk(i / 15.0, np.full((30, 1), float(i)))
    w = np.exp(-0.01 * np.arange(15))
    np.testing.assert_allclose(s.action_at(14 / 15.0), [(w * np.arange(15)).sum() / w.sum()])


# ------------------------------------------------------------------ the real node
DOMAIN_ID = 71


class Arm:
    """Depth at 15 Hz, joint states at 50 Hz; tracks the gripper commands (perfect tracking)."""

    def __init__(self, context):
        self.node = rclpy.create_node('scripted_arm', context=context)
        self.lock = threading.Lock()
        self.position = POSE.copy()
        self.grip = []
        self.node.create_subscription(JointTrajectory, 'command', self._on_cmd, 10)
        self.depth_pub = self.node.create_publisher(Image, 'depth', qos_profile_sensor_data)
        self.joint_pub = self.node.create_publisher(JointState, 'joint_states', 10)
        self.enable = self.node.create_client(SetBool, 'promptda_policy/enable')
        self.node.create_timer(1 / 15.0, self._depth)
        self.node.create_timer(1 / 50.0, self._joints)

    def _on_cmd(self, msg):
        with self.lock:
            self.position = np.asarray(msg.points[0].positions, dtype=np.float64)
            self.grip.append(float(self.position[4]))

    def _depth(self):
        msg = Image(height=6, width=8, encoding='32FC1', step=32,
                    data=np.ones((6, 8), np.float32).tobytes())
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.depth_pub.publish(msg)

    def _joints(self):
        with self.lock:
            pos = [float(v) for v in self.position]
        msg = JointState(name=list(PROFILE.joint_names), position=pos)
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.joint_pub.publish(msg)


def _run_node(overrides, until, timeout_s=60.0):
    """Enable the node on the scripted arm; return (gripper commands, mode).

    Returns once ``until(grip)`` holds, or after ``timeout_s`` (a loaded machine delays
    everything: the test waits instead of failing).
    """
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    node = arm = executor = None
    try:
        node = PolicyNode(predictor=HoldThenClose(), context=context, parameter_overrides=[
            Parameter('profile', value='unitree_h1_right_arm_gripper'),
            Parameter('estop_required', value=False),
            Parameter('max_tracking_error_rad', value=0.0)] + overrides)
        arm = Arm(context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        executor.add_node(arm.node)
        threading.Thread(target=executor.spin, daemon=True).start()
        assert arm.enable.wait_for_service(timeout_sec=10.0)
        time.sleep(0.3)
        future = arm.enable.call_async(SetBool.Request(data=True))
        end = time.monotonic() + 10.0
        while not future.done() and time.monotonic() < end:
            time.sleep(0.01)
        assert future.done() and future.result().success, future.result()
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with arm.lock:
                grip = np.array(arm.grip)
            if until(grip):
                break
            time.sleep(0.05)
        return grip, node.scheduler.mode
    finally:
        if executor is not None:
            executor.shutdown()
        for n in (node, arm.node if arm else None):
            if n is not None:
                n.destroy_node()
        rclpy.try_shutdown(context=context)


def _closed(grip):
    return len(grip) >= 10 and grip[-10:].max() < CLOSED + 0.1 * (OPEN - CLOSED)


def test_the_node_closes_the_gripper_under_its_default_parameters():
    grip, mode = _run_node([], _closed)
    assert mode == 'ensemble'
    assert _closed(grip), grip[::5]


def test_the_old_newest_chunk_execution_never_closes_it():
    # 60 commands = 2 s at 30 Hz: a played chunk closes within ~0.8 s (test above).
    grip, mode = _run_node([Parameter('temporal_ensemble_coeff', value=-1.0)],
                           lambda g: len(g) >= 60)
    assert mode == 'newest'
    assert len(grip) >= 60 and grip.min() == pytest.approx(OPEN), grip[::5]
