# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Project exceptions.

Every error raised on bad input derives from :class:`PromptDAError`, itself a
``ValueError``, so callers can catch one type (CLIs catch it and print a one-line reason).
"""


class PromptDAError(ValueError):
    """Base class of every promptda_ros error."""


class InputError(PromptDAError):
    """Malformed arrays, messages, encodings or mismatched sizes."""


class PromptError(PromptDAError):
    """The depth prompt is unusable (too few valid cells, max <= min, NaN or negative)."""


class CalibrationError(PromptDAError):
    """Bad intrinsics or extrinsics (non-positive focal length, non-finite values, ...)."""


class CheckpointError(PromptDAError):
    """Missing, wrong-architecture or unsafe model checkpoint."""


class SyncError(PromptDAError):
    """Bad timestamps or synchronisation parameters."""


class NonFiniteError(PromptDAError):
    """A training run stopped because its loss or weights stopped being finite numbers."""
