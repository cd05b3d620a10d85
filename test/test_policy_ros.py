# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Message helpers of the policy's ROS layer: joint ordering, command in/out, profiles."""

import numpy as np
import pytest
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from promptda_policy.control.arm_profiles import get_profile
from promptda_policy.ros.arm_interface import (
    command_positions,
    command_type,
    joint_state_positions,
    make_command,
    profile_from_params,
)
from promptda_ros.core.errors import InputError

H1 = get_profile('unitree_h1_right_arm')
PARAMS = dict(profile='unitree_h1_right_arm', joint_names=[''], joint_lower=[0.0],
              joint_upper=[0.0], max_velocity=[1.0])


def test_joint_state_is_reordered_and_extra_joints_ignored():
    names = ['left_elbow_joint'] + list(reversed(H1.joint_names))
    msg = JointState(name=names, position=[9.0, 4.0, 3.0, 2.0, 1.0])
    np.testing.assert_allclose(joint_state_positions(msg, H1), [1, 2, 3, 4])
    assert joint_state_positions(JointState(name=names[:3], position=[0.0] * 3), H1) is None


def test_commands_from_trajectory_and_array():
    traj = JointTrajectory(joint_names=list(reversed(H1.joint_names)),
                           points=[JointTrajectoryPoint(positions=[4.0, 3.0, 2.0, 1.0])])
    np.testing.assert_allclose(command_positions(traj, H1), [1, 2, 3, 4])
    assert command_positions(JointTrajectory(joint_names=list(H1.joint_names)), H1) is None
    arr = Float64MultiArray(data=[0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(command_positions(arr, H1), [0.1, 0.2, 0.3, 0.4])
    assert command_positions(Float64MultiArray(data=[0.1]), H1) is None


def test_make_command_round_trips():
    pos = np.array([0.5, -0.5, 1.0, 2.0])
    traj = make_command(pos, H1, 'trajectory', JointTrajectory().header.stamp, 0.25)
    assert list(traj.joint_names) == list(H1.joint_names)
    assert traj.points[0].time_from_start.nanosec == 250000000
    np.testing.assert_allclose(command_positions(traj, H1), pos)
    arr = make_command(pos, H1, 'array', None, 0.1)
    np.testing.assert_allclose(arr.data, pos)
    with pytest.raises(InputError, match='output_type'):
        make_command(pos, H1, 'velocity', None, 0.1)
    with pytest.raises(InputError, match='output_type'):
        command_type('effort')


def test_profile_from_parameters():
    prof = profile_from_params(dict(PARAMS, max_velocity=[0.5, 0.5, 0.5, 2.0]))
    assert prof.joint_names == H1.joint_names
    np.testing.assert_allclose(prof.max_velocity, [0.5, 0.5, 0.5, 2.0])
    gen = profile_from_params(dict(profile='generic', joint_names=['j1', 'j2'],
                                   joint_lower=[-1.0, -2.0], joint_upper=[1.0, 2.0],
                                   max_velocity=[0.3]))
    assert gen.joint_names == ('j1', 'j2')
    np.testing.assert_allclose(gen.max_velocity, [0.3, 0.3])
    with pytest.raises(InputError, match='empty joint name'):
        profile_from_params(dict(PARAMS, profile='generic'))
