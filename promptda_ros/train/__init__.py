# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Training of the PromptDA network: simulated LiDAR prompts, losses, the training loop and CLI.

Nothing here imports ROS; torch is imported only by the modules that need it (``losses``,
``loop``, ``cli``), so :mod:`promptda_ros.train.lidar_sim` stays a numpy-only module.
"""
