# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The ROS 2 layer: messages, the perception node, every node's parameter specs, bag replay.

Only this package (and the policy's ``ros_*`` modules) imports rclpy and message packages; it
converts messages to core types, calls the core, and converts the results back.
"""
