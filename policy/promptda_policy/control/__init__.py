# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Control of the arm around the policy, without ROS and without torch.

* :mod:`.arm_profiles`: arm profiles (joint names, limits, units, velocity caps);
* :mod:`.arm_fit`: whether a checkpoint or a dataset fits an arm (joints, sizes, rate);
* :mod:`.chunk_scheduler`: the action for "now" from time-stamped action chunks (temporal
  ensembling) and the inference worker thread;
* :mod:`.safety_filter`: the safety filter between the policy and the arm (hold, e-stop,
  limits, velocity caps, tracking faults).

The ROS nodes (:mod:`promptda_policy.ros`) and the simulator call these; nothing here imports
ROS or the model.
"""
