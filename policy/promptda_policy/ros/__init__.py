# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The policy's ROS 2 nodes: the top layer of ``promptda_policy``.

* :mod:`.policy_node`: ``promptda-policy``, the depth ACT policy behind the safety filter;
* :mod:`.recorder_node`: ``promptda-policy-record``, teleoperated demonstrations into a
  LeRobotDataset;
* :mod:`.arm_interface`: the arm's parameters and messages shared by both (and by the
  simulator's expert): profile parameters, joint states in, commands out.

The nodes may import the control and model modules of the package; nothing in the package
imports them (their callers are the console scripts and the simulator). The runner, the
parameter specs, QoS and diagnostics come from the node kit of :mod:`promptda_ros.ros`.
"""
