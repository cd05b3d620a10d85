# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Dense metric depth from a camera and a LiDAR with Prompt Depth Anything, for ROS 2.

Layers, lowest first: ``core`` (with ``cli_args``), ``model``, ``pipeline``; ``backends``
(every backend and all it needs to serve), ``bagio``, ``params_file``, ``serving``; ``eval``;
``train`` and ``adapt`` (training only); ``sample``; ``ros`` (the thin rclpy layer); ``demo``.
A module imports only its own layer and those below (``test/test_architecture.py``); all but
``ros`` and ``demo`` run without ROS.
"""

__version__ = '0.1.0'
