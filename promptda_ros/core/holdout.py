# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Held-out measurements: the one seeded choice of which measured points to set aside.

:func:`holdout_mask` picks ``round(fraction * n)`` of the ``n`` valid measurements, uniformly and
reproducibly (``numpy.random.default_rng(seed)``), for arrays of any shape — an (N,) LiDAR sweep,
an (H, W) sparse depth image or an (h, w) prompt grid.  The evaluation's held-out split
(:mod:`promptda_ros.eval.holdout`) and the ``starrygazer`` backend's serve-time guard
(:mod:`promptda_ros.backends.starrygazer`) both call it, so the same seed holds out the same
points everywhere.
"""

from __future__ import annotations

import math

import numpy as np

from promptda_ros.core.errors import InputError


def check_fraction(fraction: float) -> float:
    """Return ``fraction`` as a float in (0, 1), else raise :class:`InputError`."""
    value = float(fraction)
    if not math.isfinite(value) or not 0.0 < value < 1.0:
        raise InputError(f'held-out fraction must be in (0, 1), got {fraction!r}')
    return value


def holdout_mask(valid: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Return the held-out subset of the valid measurements.

    Args:
        valid: bool array of any shape, True where a measurement exists.
        fraction: share of the valid measurements to hold out, in (0, 1).
        seed: seed of the random choice; the same (valid, fraction, seed) gives the same mask.

    Returns:
        bool array of ``valid``'s shape, True on exactly ``round(fraction * valid.sum())``
        valid elements and False everywhere else.
    """
    fraction = check_fraction(fraction)
    valid = np.asarray(valid, dtype=bool)
    flat = np.flatnonzero(valid)
    n_out = int(round(fraction * flat.size))
    chosen = np.random.default_rng(int(seed)).permutation(flat.size)[:n_out]
    mask = np.zeros(valid.size, dtype=bool)
    mask[flat[chosen]] = True
    return mask.reshape(valid.shape)
