# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The arm's ROS interface, shared by the policy node, the recorder and the simulator's expert.

The arm profile as parameters (``PROFILE_SPECS``, declared through the node kit's spec system
:mod:`promptda_ros.ros.params`) and :func:`profile_from_params`; joint states in
(:func:`joint_state_positions`), commands in and out (:func:`command_positions`,
:func:`make_command`, :func:`command_type`); the response of a failed service handler.
"""

import numpy as np
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from promptda_ros.core.errors import InputError
from promptda_ros.ros.params import ParamSpec

from ..control.arm_profiles import (
    ArmProfile,
    DEFAULT_MAX_VELOCITY,
    get_profile,
    H1_GRIPPER_MAX_VELOCITY,
    make_profile,
    order_joints,
)

__all__ = ['PROFILE_SPECS', 'profile_from_params', 'joint_state_positions', 'command_positions',
           'make_command', 'command_type', 'OUTPUT_TYPES', 'service_failed']

OUTPUT_TYPES = ('trajectory', 'array')


PROFILE_SPECS = (
    ParamSpec('profile', 'unitree_h1_right_arm',
              "arm profile: 'unitree_h1_right_arm', 'unitree_h1_right_arm_gripper' or 'generic' "
              '(then joint_names, joint_lower, joint_upper are required, all in rad)'),
    ParamSpec('joint_names', [], 'generic profile: joint names, order of state and action'),
    ParamSpec('joint_lower', [], 'generic profile: lower position limits (rad), one per joint'),
    ParamSpec('joint_upper', [], 'generic profile: upper position limits (rad), one per joint'),
    ParamSpec('max_velocity', [], 'velocity caps, one per joint in its unit per second: rad/s '
              'for revolute joints, m/s for a gripper (unitree_h1_right_arm_gripper: 4 x rad/s '
              "then the gripper in m/s); [] = the profile's own caps (unitree_h1 arm %g rad/s, "
              'its gripper %g m/s; generic %g rad/s); one value = every joint, refused when the '
              'joints have different units'
              % (DEFAULT_MAX_VELOCITY, H1_GRIPPER_MAX_VELOCITY, DEFAULT_MAX_VELOCITY)),
)


def profile_from_params(values) -> ArmProfile:
    """Build the arm profile from declared parameter values (a dict or a params dataclass).

    ``max_velocity`` empty keeps the profile's per-joint caps (``generic``: the default cap of
    revolute joints for every joint).

    Raises:
        InputError: an unknown profile, inconsistent generic joints, or velocity caps that do
            not fit the joints (one value for joints of different units).
    """
    vel = [float(v) for v in values['max_velocity']]
    if values['profile'] == 'generic':
        return make_profile('generic', list(values['joint_names']), list(values['joint_lower']),
                            list(values['joint_upper']), vel or DEFAULT_MAX_VELOCITY)
    return get_profile(values['profile'], vel or None)


def joint_state_positions(msg, profile: ArmProfile) -> np.ndarray | None:
    """(J,) rad positions of a JointState in profile order, or None if joints are missing."""
    return order_joints(list(msg.name), list(msg.position), profile.joint_names)


def command_positions(msg, profile: ArmProfile) -> np.ndarray | None:
    """(J,) rad commanded positions from a JointTrajectory (first point) or Float64MultiArray.

    A Float64MultiArray is taken in profile joint order. Returns None when the message does
    not carry one position per profile joint.
    """
    if isinstance(msg, JointTrajectory):
        if not msg.points:
            return None
        return order_joints(list(msg.joint_names), list(msg.points[0].positions),
                            profile.joint_names)
    data = np.asarray(msg.data, dtype=np.float64)
    return data if data.size == profile.num_joints else None


def make_command(positions: np.ndarray, profile: ArmProfile, output_type: str, stamp,
                 time_from_start_s: float):
    """Build the output message for (J,) rad positions."""
    if output_type == 'array':
        return Float64MultiArray(data=[float(p) for p in positions])
    if output_type != 'trajectory':
        raise InputError('output_type must be one of %s, got %r' % (OUTPUT_TYPES, output_type))
    msg = JointTrajectory()
    msg.header.stamp = stamp
    msg.joint_names = list(profile.joint_names)
    sec = int(time_from_start_s)
    point = JointTrajectoryPoint(positions=[float(p) for p in positions])
    point.time_from_start.sec = sec
    point.time_from_start.nanosec = int(round((time_from_start_s - sec) * 1e9))
    msg.points = [point]
    return msg


def command_type(output_type: str):
    """Message class for an output type ('trajectory' or 'array')."""
    if output_type not in OUTPUT_TYPES:
        raise InputError('output_type must be one of %s, got %r' % (OUTPUT_TYPES, output_type))
    return JointTrajectory if output_type == 'trajectory' else Float64MultiArray


def service_failed(_request, response):
    """Return a std_srvs response saying the handler failed (the guard logged and counted it)."""
    response.success = False
    response.message = 'refused: internal error (see the node log)'
    return response
