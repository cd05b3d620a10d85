# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""What a lifecycle node of the package needs around it: QoS profiles and its ``main``.

:func:`qos_profile` gives sensor-data (best effort) or reliable keep-last-5 profiles;
:func:`run_lifecycle_node` parses the non-ROS arguments (``--help``), builds the node, spins it
on one executor thread and turns every failure into ``error: ...`` and exit code 1.
"""

import argparse
import sys
from typing import Any, Callable

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.utilities import remove_ros_args

from promptda_ros.core.errors import PromptDAError
from promptda_ros.serving import tune_allocator

__all__ = ['qos_profile', 'run_lifecycle_node']


def qos_profile(reliable: bool) -> QoSProfile:
    """Return a new keep-last-5 profile: reliable, or best effort (= qos_profile_sensor_data).

    A fresh object per entity: QoS overrides are applied to the profile object in place.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                      reliability=ReliabilityPolicy.RELIABLE if reliable
                      else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def run_lifecycle_node(parser: argparse.ArgumentParser, make_node: Callable[[], Any],
                       argv: list[str] | None = None) -> int:
    """Run a node until Ctrl-C; return the process exit code.

    Args:
        parser: the program's parser (``--help`` text); it sees the arguments without the ROS
            ones.
        make_node: returns the node; it must have ``params.autostart``, ``configure_error``
            (non-empty after a failed configure) and ``release()``.
        argv: arguments after the program name; None = ``sys.argv[1:]``.

    Returns:
        0 after a clean shutdown, 1 with a one-line ``error: ...`` on stderr otherwise.
    """
    args = sys.argv if argv is None else [sys.argv[0], *argv]
    try:
        plain_args = remove_ros_args(args)[1:]
    except RuntimeError as error:  # rcl's RCLInvalidROSArgsError, e.g. a missing params file
        print(f'error: {str(error).strip().splitlines()[0]}', file=sys.stderr)
        return 1
    parser.parse_args(plain_args)
    allocator = tune_allocator()
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        if node.params.autostart and node.configure_error:
            print(f'error: configure failed: {node.configure_error}', file=sys.stderr)
            return 1
        node.get_logger().info(f'malloc thresholds: {allocator}')  # after the reason, if any
        # One executor thread: callbacks only copy and hand frames over; inference runs in the
        # worker. (A multi-threaded executor busy-polls callbacks of a busy group while holding
        # the GIL, which slows the worker's numpy / torch calls; replay ran 2x slower with it.)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (PromptDAError, ParameterException) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    finally:
        if node is not None:
            node.release()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
