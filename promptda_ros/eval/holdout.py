# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Held-out measured points: score depth on a robot's own sensor with no ground truth.

Depth-completion benchmarks without dense ground truth (KITTI depth completion, VOID) give a
method only part of the measured points and score it on the rest.  This module owns that split,
so the evaluation CLI, the real-data benchmark and the tests hold out the same points for the
same seed:

* :func:`holdout_mask` picks ``round(fraction * n)`` of the ``n`` valid measurements, uniformly
  and reproducibly (``numpy.random.default_rng(seed)``), for arrays of any shape — an (N,) LiDAR
  sweep or an (H, W) sparse depth image;
* :func:`split_depth` applies it to a sparse depth image: the prompt keeps the rest, the reference
  holds the held-out pixels.
"""

from __future__ import annotations

import math

import numpy as np

from promptda_ros.core.errors import InputError


def _check_fraction(fraction: float) -> float:
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
    fraction = _check_fraction(fraction)
    valid = np.asarray(valid, dtype=bool)
    flat = np.flatnonzero(valid)
    n_out = int(round(fraction * flat.size))
    chosen = np.random.default_rng(int(seed)).permutation(flat.size)[:n_out]
    mask = np.zeros(valid.size, dtype=bool)
    mask[flat[chosen]] = True
    return mask.reshape(valid.shape)


def split_depth(depth_m: np.ndarray, fraction: float,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split a sparse depth image into a prompt and a held-out reference.

    Args:
        depth_m: (H, W) depth in metres; a measurement is a finite value > 0 (0 or NaN = none).
        fraction: share of the measurements to hold out, in (0, 1).
        seed: seed of the choice (see :func:`holdout_mask`).

    Returns:
        ``(prompt_m, reference_m)``: both (H, W) float32 metres.  ``prompt_m`` keeps the
        measurements that are not held out (0 elsewhere, the prompt convention); ``reference_m``
        holds the held-out ones (NaN elsewhere, the reference convention).
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise InputError(f'depth must be (H, W), got shape {depth.shape}')
    valid = np.isfinite(depth) & (depth > 0)
    held = holdout_mask(valid, fraction, seed)
    prompt = np.where(valid & ~held, depth, 0.0).astype(np.float32)
    reference = np.where(held, depth, np.nan).astype(np.float32)
    return prompt, reference
