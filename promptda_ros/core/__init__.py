# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""ROS-free geometry, prompt building, message codecs, depth IO, alignment and held-out choice.

Nothing in this package imports ``rclpy`` or any ``*_msgs`` package: the ROS layer
converts messages with :mod:`promptda_ros.core.msg_codec` (duck-typed) and calls in here.
"""

from promptda_ros.core.errors import (
    CalibrationError,
    CheckpointError,
    InputError,
    PromptDAError,
    PromptError,
    SyncError,
)

__all__ = [
    'CalibrationError',
    'CheckpointError',
    'InputError',
    'PromptDAError',
    'PromptError',
    'SyncError',
]
