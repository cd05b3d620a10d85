# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The node kit's argument split and ``main`` runner, on stand-in nodes (no graph)."""

import os

import pytest
from rclpy.qos import DurabilityPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from rclpy.utilities import remove_ros_args

from promptda_ros.core.errors import InputError
from promptda_ros.ros.node_kit import latched_qos, qos_profile, run_node, split_ros_args


@pytest.mark.parametrize('argv, own, ros', [
    ([], [], []),
    (['--policy-path', 'p'], ['--policy-path', 'p'], []),
    (['--fps', '5', '--ros-args', '-p', 'a:=1'], ['--fps', '5'], ['--ros-args', '-p', 'a:=1']),
    # As rcl reads it: '--' ends a ROS block, the arguments after it are the program's again.
    (['--ros-args', '-r', 'x:=y', '--', '--root', 'r', '--ros-args', '-p', 'b:=2'],
     ['--root', 'r'], ['--ros-args', '-r', 'x:=y', '--', '--ros-args', '-p', 'b:=2']),
    (['--', '--ros-args', '-p', 'a:=1'], ['--'], ['--ros-args', '-p', 'a:=1']),
    (['a', '--ros-args', '-p', 'a:=1', '--', '--', 'b'], ['a', '--', 'b'],
     ['--ros-args', '-p', 'a:=1', '--']),
])
def test_split_ros_args_as_rcl(argv, own, ros):
    assert split_ros_args(argv) == (own, ros)
    assert remove_ros_args(['prog', *argv])[1:] == own  # rcl's own reading


def test_qos_helpers():
    assert qos_profile(False) == qos_profile_sensor_data
    assert qos_profile(True, depth=10) == QoSProfile(depth=10)
    assert qos_profile(True) is not qos_profile(True)  # overrides change a profile in place
    latched = latched_qos()
    assert latched.depth == 1 and latched.reliability == ReliabilityPolicy.RELIABLE
    assert latched.durability == DurabilityPolicy.TRANSIENT_LOCAL


class _Node:
    """Stands in for a node whose configure failed while it was built."""

    def __init__(self, log):
        self.configure_error = 'no weights'
        self.log = log

    def destroy_node(self):
        self.log.append('destroyed')


def _error_lines(capsys):
    return capsys.readouterr().err.strip().splitlines()


def test_run_node_failures_are_one_line_and_exit_1(capsys, tmp_path):
    log = []
    assert run_node('prog', lambda: _Node(log), close=lambda n: log.append('closed')) == 1
    assert log == ['closed', 'destroyed']  # cleaned up before the reason is printed
    assert _error_lines(capsys) == ['error: configure failed: no weights']

    def refuse():
        raise InputError('parameter x refused')
    assert run_node('prog', refuse) == 1
    assert _error_lines(capsys) == ['error: parameter x refused']
    missing = os.path.join(str(tmp_path), 'missing.yaml')
    assert run_node('prog', refuse, ['--ros-args', '--params-file', missing]) == 1
    lines = _error_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'missing.yaml' in lines[0]


def test_run_node_ctrl_c_exits_0(capsys):
    def interrupted():
        raise KeyboardInterrupt
    assert run_node('prog', interrupted) == 0
    assert _error_lines(capsys) == []
