# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""A policy runs only on the arm it was trained for; every joint keeps its own speed cap.

Real checkpoints (``save_untrained_policy``), real PolicyNode instances on a real rclpy graph.
"""

import json
import os
import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

os.environ.setdefault('HF_HUB_OFFLINE', '1')

from promptda_policy.control.arm_fit import (  # noqa: E402
    check_fits,
    dataset_signature,
    policy_signature,
)
from promptda_policy.control.arm_profiles import get_profile, make_profile  # noqa: E402
from promptda_policy.ros.arm_interface import profile_from_params, PROFILE_SPECS  # noqa: E402
from promptda_policy.ros.policy_node import PolicyNode  # noqa: E402
from promptda_policy.synthetic import make_stats, save_untrained_policy  # noqa: E402
from promptda_ros.core.errors import InputError  # noqa: E402

DOMAIN_ID = 58
H, W = 32, 32
RATE_HZ = 30.0
TINY = dict(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1,
            n_decoder_layers=1, chunk_size=10, n_action_steps=10)
H1 = get_profile('unitree_h1_right_arm')
GRIPPER = get_profile('unitree_h1_right_arm_gripper')
DEFAULTS = {spec.name: spec.default for spec in PROFILE_SPECS}


def _policy(path, names, stats=None, **extra):
    return save_untrained_policy(str(path), H, W, len(names), stats=stats,
                                 joint_names=list(names), **TINY, **extra)


# ------------------------------------------------------------------ profiles and velocity caps
def test_default_parameters_keep_each_joints_cap():
    """The default max_velocity ([]) keeps the profile's caps: 0.1 m/s for the gripper."""
    prof = profile_from_params(dict(DEFAULTS, profile='unitree_h1_right_arm_gripper'))
    np.testing.assert_allclose(prof.max_velocity, [1.0, 1.0, 1.0, 1.0, 0.1])
    assert prof.units == ('rad',) * 4 + ('m',)
    arm = profile_from_params(DEFAULTS)
    np.testing.assert_allclose(arm.max_velocity, [1.0] * 4)


def test_one_value_is_refused_for_joints_of_different_units():
    with pytest.raises(InputError, match='different units.*right_gripper_joint m/s'):
        profile_from_params(dict(DEFAULTS, profile='unitree_h1_right_arm_gripper',
                                 max_velocity=[1.0]))
    per_joint = profile_from_params(dict(DEFAULTS, profile='unitree_h1_right_arm_gripper',
                                         max_velocity=[0.5, 0.5, 0.5, 0.5, 0.02]))
    np.testing.assert_allclose(per_joint.max_velocity, [0.5, 0.5, 0.5, 0.5, 0.02])
    same_unit = profile_from_params(dict(DEFAULTS, max_velocity=[0.3]))   # all rad: allowed
    np.testing.assert_allclose(same_unit.max_velocity, [0.3] * 4)
    with pytest.raises(InputError, match='units'):
        make_profile('x', ['a'], [0.0], [1.0], 1.0, units=['deg'])


def test_parameter_description_names_the_units():
    spec = next(s for s in PROFILE_SPECS if s.name == 'max_velocity')
    assert 'rad/s' in spec.description and 'm/s' in spec.description
    assert spec.default == []


# ------------------------------------------------------------------ signatures
def test_policy_signature_and_check_name_both_lists(tmp_path):
    path = _policy(tmp_path / 'p', ['j0', 'j1', 'j2', 'j3'])
    sig = policy_signature(path)
    assert sig.joint_names == ('j0', 'j1', 'j2', 'j3') and sig.state_dim == 4
    with pytest.raises(InputError) as err:
        check_fits(sig, H1.joint_names, "profile 'unitree_h1_right_arm'")
    assert 'j0, j1, j2, j3' in str(err.value) and 'right_elbow_joint' in str(err.value)
    check_fits(sig, ('j0', 'j1', 'j2', 'j3'), 'arm', fps=30.0)
    with pytest.raises(InputError, match='30 Hz.*15 Hz'):
        check_fits(sig, ('j0', 'j1', 'j2', 'j3'), 'arm', fps=15.0)
    with pytest.raises(InputError, match='acts on joints'):   # same names, other order
        check_fits(sig, ('j1', 'j0', 'j2', 'j3'), 'arm')


def test_policy_without_names_uses_its_training_dataset_or_is_refused(tmp_path):
    path = save_untrained_policy(str(tmp_path / 'old'), H, W, 4, **TINY)
    with pytest.raises(InputError, match='records no joint names'):
        policy_signature(path)
    data = tmp_path / 'data'
    (data / 'meta').mkdir(parents=True)
    feature = {'dtype': 'float32', 'shape': [4], 'names': list(H1.joint_names)}
    (data / 'meta' / 'info.json').write_text(json.dumps(
        {'fps': 30, 'features': {'observation.state': feature, 'action': feature}}))
    (tmp_path / 'old' / 'train_config.json').write_text(json.dumps(
        {'dataset': {'root': str(data)}}))
    assert policy_signature(path).joint_names == H1.joint_names
    assert dataset_signature(str(data)).fps == 30.0


def test_malformed_dataset_info_is_one_input_error(tmp_path):
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta' / 'info.json').write_text('[1, 2]')
    with pytest.raises(InputError, match='not a dataset description'):
        dataset_signature(str(tmp_path))
    (tmp_path / 'meta' / 'info.json').write_text('{"features": ')
    with pytest.raises(InputError, match='not valid JSON'):
        dataset_signature(str(tmp_path))


# ------------------------------------------------------------------ the policy node
@pytest.fixture(scope='module')
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def _configure(context, path, namespace, **params):
    overrides = [Parameter('policy_path', value=str(path)),
                 Parameter('autostart', value=False)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    node = PolicyNode(context=context, namespace=namespace, parameter_overrides=overrides)
    try:
        return node.trigger_configure(), node.configure_error
    finally:
        node.destroy_node()


def test_node_refuses_a_policy_trained_for_other_joints(context, tmp_path):
    path = _policy(tmp_path / 'j', ['j0', 'j1', 'j2', 'j3'])
    result, error = _configure(context, path, '/h1')
    assert result == TransitionCallbackReturn.FAILURE
    assert '[j0, j1, j2, j3]' in error and 'right_shoulder_pitch_joint' in error, error
    result, error = _configure(context, path, '/generic', profile='generic',
                               joint_names=['a', 'b', 'c', 'd'],
                               joint_lower=[-1.0] * 4, joint_upper=[1.0] * 4)
    assert result == TransitionCallbackReturn.FAILURE
    assert '[j0, j1, j2, j3]' in error and '[a, b, c, d]' in error, error
    result, error = _configure(context, path, '/rate', profile='generic',
                               joint_names=['j0', 'j1', 'j2', 'j3'],
                               joint_lower=[-1.0] * 4, joint_upper=[1.0] * 4, action_fps=15.0)
    assert result == TransitionCallbackReturn.FAILURE and '15 Hz' in error, error
    result, error = _configure(context, path, '/fits', profile='generic',
                               joint_names=['j0', 'j1', 'j2', 'j3'],
                               joint_lower=[-1.0] * 4, joint_upper=[1.0] * 4)
    assert result == TransitionCallbackReturn.SUCCESS, error


def test_gripper_never_steps_faster_than_its_cap_under_default_parameters(context, tmp_path):
    """A policy asking for the gripper fully open at once; defaults cap it at 0.1 m/s."""
    stats = make_stats(5, joint_mean=np.array([0.0, 0.0, 0.0, 0.0, 0.05]),
                       joint_std=np.array([0.5, 0.5, 0.5, 0.5, 0.001]))
    stats['action']['std'][:] = 1e-4          # actions = their mean: gripper 0.05 m, arm 0
    path = _policy(tmp_path / 'g', GRIPPER.joint_names, stats=stats)
    ns = '/gripper'
    node = PolicyNode(context=context, namespace=ns, parameter_overrides=[
        Parameter('policy_path', value=path),
        Parameter('profile', value='unitree_h1_right_arm_gripper'),
        Parameter('control_rate_hz', value=RATE_HZ),
        Parameter('max_tracking_error_rad', value=0.0)])
    driver = rclpy.create_node('gripper_driver', context=context, namespace=ns)
    lock = threading.Lock()
    position = np.zeros(5)
    commands = []

    def on_command(msg):
        nonlocal position
        with lock:
            commands.append(np.asarray(msg.points[0].positions))
            position = commands[-1]          # perfect tracking

    def publish():
        stamp = driver.get_clock().now().to_msg()
        with lock:
            js = JointState(name=list(GRIPPER.joint_names),
                            position=[float(v) for v in position])
        js.header.stamp = stamp
        joints.publish(js)
        image = Image(height=H, width=W, encoding='32FC1', step=W * 4,
                      data=np.ones((H, W), np.float32).tobytes())
        image.header.stamp = stamp
        depth.publish(image)
        estop.publish(Bool(data=False))

    depth = driver.create_publisher(Image, 'depth', qos_profile_sensor_data)
    joints = driver.create_publisher(JointState, 'joint_states', 10)
    estop = driver.create_publisher(Bool, 'estop', 10)
    driver.create_subscription(JointTrajectory, 'command', on_command, 50)
    driver.create_timer(1.0 / 30.0, publish)
    enable = driver.create_client(SetBool, 'promptda_policy/enable')
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(driver)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    try:
        assert node.configure_error == '', node.configure_error
        np.testing.assert_allclose(node.profile.max_velocity, [1.0, 1.0, 1.0, 1.0, 0.1])
        assert enable.wait_for_service(timeout_sec=10.0)
        deadline = time.monotonic() + 20.0
        answer = None
        while time.monotonic() < deadline:   # enabled once the e-stop False has been heard
            future = enable.call_async(SetBool.Request(data=True))
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.02)
            answer = future.result()
            if answer is not None and answer.success:
                break
            time.sleep(0.1)
        assert answer is not None and answer.success, answer
        while time.monotonic() < deadline:
            with lock:
                if len(commands) > 20 and commands[-1][4] > 0.01:
                    break
            time.sleep(0.05)
    finally:
        executor.shutdown()
        node.destroy_node()
        driver.destroy_node()
    with lock:
        pos = np.stack(commands)
    assert pos[-1, 4] > 0.01, pos[-1]         # the gripper did open
    steps = np.abs(np.diff(pos[:, 4]))
    assert steps.max() <= GRIPPER.max_velocity[4] / RATE_HZ + 1e-9, steps.max()
