# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""ROS glue shared by the recorder and the policy node: parameters, profiles, messages.

Parameters are declared through the package's one spec system
(:mod:`promptda_ros.ros.params`: :class:`ParamSpec`, :func:`declare`, :func:`params_class`),
re-exported here for the policy's nodes.
"""

import sys

import numpy as np
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from promptda_ros.core.errors import InputError, PromptDAError
from promptda_ros.ros.params import declare, params_class, ParamSpec

__all__ = ['declare', 'params_class', 'ParamSpec', 'PROFILE_SPECS', 'profile_from_params',
           'joint_state_positions', 'command_positions', 'make_command', 'command_type',
           'split_ros_args', 'run_node_cli', 'OUTPUT_TYPES', 'service_failed']

from .profiles import (
    ArmProfile,
    DEFAULT_MAX_VELOCITY,
    get_profile,
    H1_GRIPPER_MAX_VELOCITY,
    make_profile,
)
from .runtime import order_joints

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


def split_ros_args(argv: list) -> tuple:
    """Split ``argv`` at ``--ros-args``: (the CLI's own arguments, the ROS arguments)."""
    argv = list(argv)
    if '--ros-args' in argv:
        i = argv.index('--ros-args')
        return argv[:i], argv[i:]
    return argv, []


def run_node_cli(prog: str, ros_args: list, make_node, close=None) -> int:
    """Init rclpy, build a node, spin it until Ctrl-C; return the process exit code.

    Args:
        prog: program name (the first ROS argument).
        ros_args: arguments from ``--ros-args`` on (remappings, ``-p``, ``--params-file``).
        make_node: callable returning the node; a project error or OSError it raises exits 1.
        close: optional callable(node) run before the node is destroyed.

    Returns:
        0 after a clean shutdown, 1 with a one-line ``error: ...`` on stderr otherwise.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    try:
        rclpy.init(args=[prog] + list(ros_args))
    except RuntimeError as exc:  # rcl rejects the ROS arguments, e.g. a missing params file
        print('error: %s' % str(exc).strip().splitlines()[0], file=sys.stderr)
        return 1
    node = None
    try:
        node = make_node()
        # One thread: every callback is short (inference has its own worker thread). A
        # MultiThreadedExecutor busy-polls entities whose mutually exclusive group is busy,
        # holding the GIL, and the worker's torch ops then wait ~5 ms for each GIL handoff:
        # measured 2 commands/s instead of 30 on an idle 2-core machine.
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (PromptDAError, OSError) as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            if close is not None:
                close(node)
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
