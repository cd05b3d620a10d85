# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""What every ROS node of the packages needs around it: QoS profiles, its arguments, its ``main``.

The node kit is this module with :mod:`promptda_ros.ros.params` (parameter specs -> one frozen
dataclass per node) and :mod:`promptda_ros.ros.diagnostics` (:func:`status_array`, the one
``DiagnosticArray`` builder). Every node of ``promptda_ros``, ``promptda_policy`` and
``promptda_sim`` uses it:

* :func:`qos_profile` gives sensor-data (best effort) or reliable keep-last profiles and
  :func:`latched_qos` the transient-local profile of latched topics;
* :func:`split_ros_args` separates a program's own arguments from the ROS ones as rcl does,
  :func:`parse_node_args` parses the own ones with the program's parser (``--help``);
* :func:`run_node` builds a node (plain or lifecycle), spins it on one executor thread until
  Ctrl-C and turns every failure into one ``error: ...`` line and exit code 1.
"""

import argparse
import sys
from typing import Any, Callable, Sequence

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.utilities import remove_ros_args

from promptda_ros.core.errors import PromptDAError
from promptda_ros.serving import tune_allocator

__all__ = ['latched_qos', 'parse_node_args', 'qos_profile', 'run_node', 'split_ros_args']


def qos_profile(reliable: bool, depth: int = 5) -> QoSProfile:
    """Return a new keep-last profile, volatile: reliable, or best effort.

    ``qos_profile(False)`` equals rclpy's ``qos_profile_sensor_data``; ``qos_profile(True, 10)``
    equals a plain queue depth of 10. A fresh object per entity: QoS overrides are applied to
    the profile object in place.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE if reliable
                      else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos() -> QoSProfile:
    """Return a new reliable, transient-local, keep-last-1 profile (a late subscriber gets it)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def split_ros_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` into (the program's own arguments, the ROS arguments), as rcl reads them.

    A ROS block starts at ``--ros-args`` and runs to a ``--`` or the end; arguments after the
    ``--`` are the program's again.
    """
    own: list[str] = []
    ros: list[str] = []
    in_block = False
    for arg in argv:
        if arg == '--ros-args':
            in_block = True
            ros.append(arg)
        elif in_block and arg == '--':
            in_block = False
            ros.append(arg)
        else:
            (ros if in_block else own).append(arg)
    return own, ros


def parse_node_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
                    ) -> tuple[argparse.Namespace, list[str]]:
    """Parse a node program's own arguments; return them and the ROS arguments.

    Args:
        parser: the program's parser (its ``--help`` text); it sees no ROS argument.
        argv: arguments after the program name; None = ``sys.argv[1:]``.
    """
    own, ros = split_ros_args(sys.argv[1:] if argv is None else argv)
    return parser.parse_args(own), ros


def run_node(prog: str, make_node: Callable[[], Any], ros_args: Sequence[str] = (), *,
             close: Callable[[Any], None] | None = None, tune_memory: bool = False) -> int:
    """Init rclpy, build a node, spin it until Ctrl-C; return the process exit code.

    Args:
        prog: the program name (the first argument rclpy sees).
        make_node: returns the node, plain or lifecycle; a project error, a refused parameter
            or an OSError it raises exits 1. A lifecycle node whose configure failed while it
            was built (``autostart``) says why in a non-empty ``configure_error``: exit 1.
        ros_args: the ROS arguments (``--ros-args`` blocks: remappings, ``-p``,
            ``--params-file``), e.g. the second value of :func:`split_ros_args`.
        close: run on the node before it is destroyed (release a backend, finalise a dataset).
        tune_memory: keep freed frame buffers for reuse (for nodes serving images; see
            :func:`promptda_ros.serving.tune_allocator`) and log what was done.

    Returns:
        0 after a clean shutdown (Ctrl-C included), 1 otherwise, with one ``error: ...`` line
        on stderr, the last line the program writes.
    """
    args = [prog, *ros_args]
    try:  # rcl's own check, before rclpy.init (which would also log the failure)
        remove_ros_args(args)
    except RuntimeError as error:  # rcl refuses the ROS arguments, e.g. a missing params file
        print(f'error: {str(error).strip().splitlines()[0]}', file=sys.stderr)
        return 1
    allocator = tune_allocator() if tune_memory else None
    rclpy.init(args=args)
    node = None
    failure = ''
    try:
        node = make_node()
        if getattr(node, 'configure_error', ''):
            failure = f'configure failed: {node.configure_error}'
        else:
            if allocator is not None:  # a node that runs: a failed start ends on its reason
                node.get_logger().info(f'malloc thresholds: {allocator}')
            # One executor thread: callbacks only copy and hand work over; inference runs in a
            # worker. A MultiThreadedExecutor busy-polls the callbacks of a busy group while
            # holding the GIL, and the worker's numpy / torch calls then wait for each GIL
            # handoff: replay ran 2x slower, the policy node sent 2 commands/s instead of 30.
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (PromptDAError, ParameterException, OSError) as error:
        failure = str(error)
    finally:
        if node is not None:
            if close is not None:
                close(node)
            node.destroy_node()
        rclpy.try_shutdown()
    if failure:
        print(f'error: {failure}', file=sys.stderr)
        return 1
    return 0
