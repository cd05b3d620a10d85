# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth metrics as defined by Prompt Depth Anything (CVPR 2025) and the KITTI benchmark.

Definitions (``d`` = predicted depth, ``g`` = reference depth, both metres, over the valid set V):

* ``l1``        = mean |d - g|                                  (metres)
* ``rmse``      = sqrt(mean (d - g)^2)                          (metres)
* ``absrel``    = mean |d - g| / g                              (unitless)
* ``delta_0.5`` = fraction with max(d/g, g/d) < 1.25^0.5        (PromptDA's delta)
* ``delta_1``   = fraction with max(d/g, g/d) < 1.25
* ``mae_mm`` / ``rmse_mm``       = l1 / rmse in millimetres            (KITTI)
* ``imae_1_km`` / ``irmse_1_km`` = MAE / RMSE of inverse depth in 1/km (KITTI)

The valid set V is every pixel whose reference depth is finite, > 0 and inside
``[min_depth, max_depth]`` (the depth-range mask), AND whose prediction is finite.  Reference
pixels with no finite prediction are not scored; the fraction that are scored is reported as
``coverage`` so that a method cannot look better by leaving holes.  Finite predictions <= 0 are
kept: they count fully in l1 / rmse / absrel, are clamped to 1 mm for the inverse-depth metrics
and never pass a delta threshold.

Aggregation over frames (:func:`aggregate_frames`) is the **mean of per-frame metrics** over frames
with at least one valid pixel (as in the paper's tables); :class:`MetricAccumulator` additionally
gives the pixel-pooled values (every valid pixel of every frame weighted equally).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np

from promptda_ros.core.errors import InputError

#: Metric names in report order.
METRIC_KEYS = ('l1', 'rmse', 'absrel', 'delta_0.5', 'delta_1', 'mae_mm', 'rmse_mm',
               'imae_1_km', 'irmse_1_km')

_DELTA_05 = 1.25 ** 0.5
_DELTA_1 = 1.25
_MIN_PRED_FOR_INVERSE = 1e-3  # metres; clamp for non-positive predictions in 1/d metrics


def _check_range(min_depth: float, max_depth: float) -> None:
    if not (math.isfinite(min_depth) and min_depth >= 0.0):
        raise InputError(f'min_depth must be finite and >= 0, got {min_depth}')
    if not (max_depth > min_depth):
        raise InputError(f'max_depth ({max_depth}) must be greater than min_depth ({min_depth})')


def valid_mask(gt_m: np.ndarray, min_depth: float = 0.0, max_depth: float = math.inf
               ) -> np.ndarray:
    """Return the mask of scorable reference pixels.

    Args:
        gt_m: (H, W) float metres, NaN / Inf / <= 0 = invalid.
        min_depth: lower bound of the depth-range mask, metres (inclusive).
        max_depth: upper bound of the depth-range mask, metres (inclusive).

    Returns:
        (H, W) bool, True where the reference is finite, > 0 and within [min_depth, max_depth].

    """
    gt = np.asarray(gt_m)
    if gt.ndim != 2:
        raise InputError(f'reference depth must be a 2-D (H, W) array, got shape {gt.shape}')
    _check_range(min_depth, max_depth)
    with np.errstate(invalid='ignore'):
        return np.isfinite(gt) & (gt > 0.0) & (gt >= min_depth) & (gt <= max_depth)


def _pairs(pred_m: np.ndarray, gt_m: np.ndarray, min_depth: float, max_depth: float,
           mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Return (d, g, n_reference) as float64 vectors over the valid set."""
    pred = np.asarray(pred_m)
    gt = np.asarray(gt_m)
    if pred.shape != gt.shape:
        raise InputError(f'prediction shape {pred.shape} does not match reference shape '
                         f'{gt.shape}')
    if not np.issubdtype(pred.dtype, np.floating) and not np.issubdtype(pred.dtype, np.integer):
        raise InputError(f'prediction must be numeric, got dtype {pred.dtype}')
    ref = valid_mask(gt, min_depth, max_depth)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != gt.shape or mask.dtype != bool:
            raise InputError(f'mask must be a bool array of shape {gt.shape}, got '
                             f'{mask.dtype} {mask.shape}')
        ref &= mask
    n_ref = int(ref.sum())
    sel = ref & np.isfinite(pred)
    return pred[sel].astype(np.float64), gt[sel].astype(np.float64), n_ref


def _sums(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Sufficient statistics: [n, sum|e|, sum e^2, sum|e|/g, n_d05, n_d1, sum|ie|, sum ie^2]."""
    err = d - g
    aerr = np.abs(err)
    d_pos = np.maximum(d, _MIN_PRED_FOR_INVERSE)
    with np.errstate(divide='ignore', invalid='ignore'):
        ratio = np.where(d > 0.0, np.maximum(d / g, g / d_pos), np.inf)
    ierr = 1000.0 / d_pos - 1000.0 / g  # 1/km
    return np.array([d.size, aerr.sum(), (err * err).sum(), (aerr / g).sum(),
                     np.count_nonzero(ratio < _DELTA_05), np.count_nonzero(ratio < _DELTA_1),
                     np.abs(ierr).sum(), (ierr * ierr).sum()], dtype=np.float64)


def _from_sums(s: np.ndarray) -> dict[str, float]:
    n = s[0]
    if n <= 0:
        return {k: math.nan for k in METRIC_KEYS}
    l1 = s[1] / n
    rmse = math.sqrt(s[2] / n)
    return {
        'l1': float(l1),
        'rmse': float(rmse),
        'absrel': float(s[3] / n),
        'delta_0.5': float(s[4] / n),
        'delta_1': float(s[5] / n),
        'mae_mm': float(l1 * 1000.0),
        'rmse_mm': float(rmse * 1000.0),
        'imae_1_km': float(s[6] / n),
        'irmse_1_km': float(math.sqrt(s[7] / n)),
    }


def depth_metrics(pred_m: np.ndarray, gt_m: np.ndarray, min_depth: float = 0.0,
                  max_depth: float = math.inf, mask: np.ndarray | None = None
                  ) -> dict[str, float]:
    """Compute every metric of :data:`METRIC_KEYS` for one frame.

    Args:
        pred_m: (H, W) float metres, NaN = no prediction.
        gt_m: (H, W) float metres, NaN / Inf / <= 0 = invalid reference.
        min_depth: depth-range mask lower bound on the reference, metres.
        max_depth: depth-range mask upper bound on the reference, metres.
        mask: optional (H, W) bool, extra pixels to score (ANDed with the reference mask).

    Returns:
        dict with the metric keys (NaN when nothing is valid), plus ``n_valid`` (scored pixels)
        and ``coverage`` (scored / valid reference pixels, NaN if there are none).

    Raises:
        InputError: shapes differ, arrays are not 2-D, or the depth range is invalid.

    """
    d, g, n_ref = _pairs(pred_m, gt_m, min_depth, max_depth, mask)
    out: dict[str, float] = _from_sums(_sums(d, g))
    out['n_valid'] = int(d.size)
    out['coverage'] = float(d.size / n_ref) if n_ref else math.nan
    return out


class MetricAccumulator:
    """Pixel-pooled metrics over many frames (every valid pixel weighted equally).

    Also keeps a histogram of the signed error d - g (metres) for plots.
    """

    def __init__(self, hist_range_m: float = 1.0, hist_bins: int = 200) -> None:
        if not hist_range_m > 0 or hist_bins < 2:
            raise InputError('histogram range must be > 0 and bins >= 2')
        self._sums = np.zeros(8, dtype=np.float64)
        self._n_ref = 0
        self.hist_edges = np.linspace(-hist_range_m, hist_range_m, hist_bins + 1)
        self.hist_counts = np.zeros(hist_bins, dtype=np.int64)
        self.hist_under = 0
        self.hist_over = 0

    def add(self, pred_m: np.ndarray, gt_m: np.ndarray, min_depth: float = 0.0,
            max_depth: float = math.inf, mask: np.ndarray | None = None) -> None:
        """Add one frame: pred_m / gt_m (H, W) float metres (same conventions as depth_metrics)."""
        d, g, n_ref = _pairs(pred_m, gt_m, min_depth, max_depth, mask)
        self._sums += _sums(d, g)
        self._n_ref += n_ref
        err = d - g
        self.hist_counts += np.histogram(err, bins=self.hist_edges)[0]
        self.hist_under += int(np.count_nonzero(err < self.hist_edges[0]))
        self.hist_over += int(np.count_nonzero(err > self.hist_edges[-1]))

    def result(self) -> dict[str, float]:
        """Return pooled metrics (same keys as :func:`depth_metrics`)."""
        out: dict[str, float] = _from_sums(self._sums)
        out['n_valid'] = int(self._sums[0])
        out['coverage'] = float(self._sums[0] / self._n_ref) if self._n_ref else math.nan
        return out


def aggregate_frames(frames: Iterable[Mapping[str, float]],
                     keys: Iterable[str] = METRIC_KEYS) -> dict[str, float]:
    """Mean of per-frame metrics over frames with ``n_valid > 0``.

    Args:
        frames: per-frame dicts as returned by :func:`depth_metrics` (extra keys allowed; a value
            that is None or NaN for a key is left out of that key's mean).
        keys: metric names to aggregate.

    Returns:
        dict key -> mean (NaN when no frame has a value), plus ``n_frames`` (frames scored).

    """
    frames = [f for f in frames if f.get('n_valid', 1) > 0]
    out: dict[str, float] = {}
    for key in keys:
        vals = np.array([float(f[key]) for f in frames
                         if f.get(key) is not None and math.isfinite(float(f[key]))])
        out[key] = float(vals.mean()) if vals.size else math.nan
    out['n_frames'] = len(frames)
    return out
