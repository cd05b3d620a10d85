# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""ACT grasping policy on a single metric depth image (lerobot policy type ``act_depth``).

The package lives in the repository's top-level ``policy/`` folder and installs under the
import name ``promptda_policy`` (never a bare ``policy`` module). Laid out like lerobot's
``policies/act/``: the policy type's config / model / processor trio and the lerobot adapter at
the top, with the checkpoint loader (``inference``), the demo dataset writer
(``dataset_writer``), training (``train``) and untrained checkpoints (``synthetic``); control
around the policy in :mod:`promptda_policy.control` (no ROS, no torch); the ROS nodes in
:mod:`promptda_policy.ros`, which nothing in the package imports.

Importing the package is cheap (these feature names only); the lerobot-backed modules are
imported on demand.
"""

POLICY_TYPE = 'act_depth'
DEPTH_FEATURE = 'observation.images.depth'
STATE_FEATURE = 'observation.state'
ACTION_FEATURE = 'action'
BACKBONE_NORMS = ('frozen_batch_norm', 'group_norm', 'batch_norm')
"""Normalisation layers of the ResNet18 trunk (``ACTDepthConfig.backbone_norm``)."""
