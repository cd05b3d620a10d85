# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""StarryGazer: depth completion with no ground truth, ROS-free.

Relative depth -> synthetic (pseudo-truth, sparse) pairs -> a refinement network.

Modules: :mod:`.relative` (relative-depth sources), :mod:`.synthesis` (pair synthesis),
:mod:`.network` (the refinement U-Net and its weights), :mod:`.refine` (inference),
:mod:`.cli` (``promptda-adapt``).
"""
