# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""StarryGazer training: a refinement network learnt with no ground truth, ROS-free.

Relative depth -> synthetic (pseudo-truth, sparse) pairs -> a refinement network.

This package only trains: :mod:`.synthesis` (pair synthesis) and :mod:`.cli` (``promptda-adapt``).
What serving needs lives with the backends: the relative-depth sources
(:mod:`promptda_ros.backends.relative`), the refinement U-Net and its weights
(:mod:`promptda_ros.backends.starrygazer_net`), the input preparation and the refiner
(:mod:`promptda_ros.backends.starrygazer_refiner`) and the backend with its guard
(:mod:`promptda_ros.backends.starrygazer`).
"""
