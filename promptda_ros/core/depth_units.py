# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Metres <-> 16UC1 millimetres (REP 118: uint16, 0 = invalid), the one conversion each way.

Depth files (:mod:`promptda_ros.core.depth_io`) and depth messages
(:mod:`promptda_ros.core.msg_codec`) both convert through here, so a depth written as a PNG and
one published as 16UC1 hold the same millimetres.
"""

import numpy as np

__all__ = ['MAX_MM', 'metres_to_mm', 'mm_to_metres']

MAX_MM = 65535
"""Largest depth a uint16 holds, millimetres (65.535 m)."""


def metres_to_mm(depth_m) -> tuple[np.ndarray, int]:
    """Return metres as rounded uint16 millimetres, and how many were beyond 65.535 m.

    Args:
        depth_m: (H, W) float metres; NaN, Inf and values <= 0 are invalid.

    Returns:
        (H, W) uint16 millimetres (rounded half to even in float64), 0 = invalid or beyond the
        range; the number of pixels beyond the range (the caller refuses or accepts the loss).
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    with np.errstate(invalid='ignore', over='ignore'):
        mm = np.rint(depth * 1000.0)
        valid = np.isfinite(mm) & (mm > 0)
        over = valid & (mm > MAX_MM)
    return np.where(valid & ~over, mm, 0.0).astype(np.uint16), int(np.count_nonzero(over))


def mm_to_metres(mm) -> np.ndarray:
    """Return (H, W) uint16 millimetres as float32 metres (0 mm stays 0.0: invalid)."""
    return np.asarray(mm).astype(np.float32) * np.float32(0.001)
