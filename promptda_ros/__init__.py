# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Dense metric depth from a camera and a LiDAR with Prompt Depth Anything, for ROS 2.

The subpackages ``core``, ``sample``, ``model``, ``backends`` and ``eval`` run without ROS;
``ros`` holds the thin rclpy layer.
"""

__version__ = '0.1.0'
