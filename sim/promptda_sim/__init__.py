# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Grasping in simulation without ROS: MuJoCo scene, physics, sensors, scripted expert.

``scene`` builds the MJCF and the episode configs, ``world`` steps physics in sim time and
renders the head camera and the LiDAR, ``expert`` plans pick-and-place with inverse kinematics,
``render`` sets up offscreen rendering (EGL) and names what is missing when it cannot start.
The ROS front ends are ``sim/promptda_sim/node.py`` and ``sim/promptda_sim/graph.py``.
"""
