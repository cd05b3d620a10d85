# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""ACT grasping policy on a single metric depth image (lerobot policy type ``act_depth``).

The package lives in the repository's top-level ``policy/`` folder and installs under the
import name ``promptda_policy`` (never a bare ``policy`` module). Importing the package is
cheap; the lerobot-backed modules (``configuration_act_depth``, ``modeling_act_depth``,
``processor_act_depth``, ``train``) are imported on demand.
"""

POLICY_TYPE = 'act_depth'
DEPTH_FEATURE = 'observation.images.depth'
STATE_FEATURE = 'observation.state'
ACTION_FEATURE = 'action'
BACKBONE_NORMS = ('frozen_batch_norm', 'group_norm', 'batch_norm')
"""Normalisation layers of the ResNet18 trunk (``ACTDepthConfig.backbone_norm``)."""
