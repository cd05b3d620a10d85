# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Grasping in simulation, the top layer above perception (promptda_ros) and policy.

Without ROS: ``scene`` builds the MJCF and the episode configs, ``world`` steps physics in sim
time and renders the head camera and the LiDAR, ``expert`` plans pick-and-place with inverse
kinematics, ``render`` sets up offscreen rendering (EGL) and names what is missing when it cannot
start, ``frames`` writes PromptDA training frames (``promptda-sim-frames``) and
``depth_error`` scores served depth on the object's pixels. The ROS front ends: ``node`` (the
sim and expert nodes), ``graph`` (the experiment graph with the perception, policy and recorder
nodes; ``promptda-sim-record``, ``promptda-sim-eval``), ``cli`` (``promptda-sim``) and
``pipeline`` (``promptda-sim-pipeline``).
"""
