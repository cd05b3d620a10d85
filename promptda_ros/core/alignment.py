# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Scale-and-shift alignment of relative depth to sparse metric measurements.

Two estimators of ``target ~= scale * relative + shift``:

* :func:`fit_scale_shift_lstsq` - ordinary least squares over all samples (the baseline the
  PromptDA paper compares against; any outlier pulls it).
* :func:`fit_scale_shift_ransac` - the RANSAC procedure of PromptDA supp. C.5: draw ``n_groups``
  groups of ``group_size`` random samples, fit scale/shift per group by least squares, let every
  sample vote for each group's model (inlier when its absolute residual is below a threshold set
  from the median absolute deviation of the targets, ``mad_scale * MAD(target)``, as scikit-learn's
  ``RANSACRegressor`` does by default), keep the group with the most inliers (ties: smaller inlier
  residual sum), and refit by least squares on its inlier set (then once more on the inliers of the
  refit model).

Alignment space (:func:`align_relative_depth`, ``space``):

* ``'inverse'`` (default, for Depth-Anything-style *relative disparity*): the fit is
  ``1 / depth ~= s * rel + t`` and the output is ``1 / (s * rel + t)``;
* ``'depth'`` (for affine-invariant *depth*): ``depth ~= s * rel + t``.

Non-positive results are invalid (NaN) in the output.

It sits in the core because serving uses it as well as scoring: the ``starrygazer`` backend's
refiner aligns the relative map to the prompt with it on every frame
(:mod:`promptda_ros.backends.starrygazer_refiner`), as the evaluation's ``ransac_*`` /
``lstsq_*`` methods do (:mod:`promptda_ros.eval.methods`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promptda_ros.core.errors import InputError, PromptError

SPACES = ('inverse', 'depth')


@dataclass(frozen=True)
class AlignmentResult:
    """Result of a scale/shift fit: ``target ~= scale * relative + shift``."""

    scale: float
    shift: float
    inliers: np.ndarray  # (N,) bool over the samples given to the fit
    threshold: float     # inlier threshold on |residual| in target units (inf for lstsq)

    @property
    def n_inliers(self) -> int:
        """Return the number of inlier samples."""
        return int(self.inliers.sum())


def _check_samples(x: np.ndarray, y: np.ndarray, min_samples: int = 2
                   ) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InputError(f'relative and target samples differ in size: {x.size} vs {y.size}')
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError('alignment samples contain NaN / Inf')
    if x.size < min_samples:
        raise PromptError(f'alignment needs at least {min_samples} samples, got {x.size}')
    if np.ptp(x) <= 0.0:
        raise PromptError('relative depth is constant over the samples; scale is undefined')
    return x, y


def _lstsq(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Closed-form 1-D least squares on centred data: (N,) x, (N,) y -> (scale, shift)."""
    mx = x.mean()
    my = y.mean()
    dx = x - mx
    var = float(dx @ dx)
    if var <= 0.0:
        raise PromptError('relative depth is constant over the inlier samples')
    s = float(dx @ (y - my)) / var
    return s, float(my - s * mx)


def fit_scale_shift_lstsq(relative: np.ndarray, target: np.ndarray) -> AlignmentResult:
    """Least-squares scale and shift.

    Args:
        relative: (N,) float relative values (any units).
        target: (N,) float target values (metres or 1/metres, matching the alignment space).

    Returns:
        AlignmentResult with every sample an inlier and threshold = inf.

    Raises:
        InputError: size mismatch or non-finite samples.
        PromptError: fewer than 2 samples or constant relative values.

    """
    x, y = _check_samples(relative, target)
    s, t = _lstsq(x, y)
    return AlignmentResult(s, t, np.ones(x.size, dtype=bool), float('inf'))


def fit_scale_shift_ransac(relative: np.ndarray, target: np.ndarray, n_groups: int = 200,
                           group_size: int = 5, mad_scale: float = 1.0,
                           threshold: float | None = None, max_vote_samples: int = 20000,
                           refine: bool = True, refine_k: float = 3.0, seed: int = 0
                           ) -> AlignmentResult:
    """RANSAC scale and shift as in PromptDA supp. C.5 (see the module docstring).

    Args:
        relative: (N,) float relative values.
        target: (N,) float target values (same space as the fit).
        n_groups: number of random groups (hypotheses).
        group_size: samples per group (>= 2), each group fitted by least squares.
        mad_scale: inlier threshold = mad_scale * median(|target - median(target)|).
        threshold: explicit inlier threshold in target units (overrides mad_scale).
        max_vote_samples: voting uses at most this many samples (a fixed random subset) to bound
            cost; the final refit always uses every sample.
        refine: tighten the threshold to refine_k robust sigmas of the inlier residuals and refit.
        refine_k: multiple of the robust residual sigma used by the refinement.
        seed: random seed (results are deterministic for a given seed).

    Returns:
        AlignmentResult with the inlier mask of the final model over all N samples.

    Raises:
        InputError: bad sizes / parameters or non-finite samples.
        PromptError: too few samples or degenerate relative values.

    """
    if n_groups < 1 or group_size < 2:
        raise InputError(f'need n_groups >= 1 and group_size >= 2, got {n_groups}, {group_size}')
    x, y = _check_samples(relative, target, min_samples=group_size)
    if threshold is None:
        if not mad_scale > 0:
            raise InputError(f'mad_scale must be > 0, got {mad_scale}')
        mad = float(np.median(np.abs(y - np.median(y))))
        if mad <= 0.0:  # more than half the targets identical: fall back to a scale-aware floor
            mad = max(1e-6, 1e-3 * float(np.median(np.abs(y))))
        thr = mad_scale * mad
    else:
        if not threshold > 0:
            raise InputError(f'threshold must be > 0, got {threshold}')
        thr = float(threshold)

    rng = np.random.default_rng(seed)
    n = x.size
    # (G, k) sample indices without replacement inside each group.
    idx = np.argsort(rng.random((n_groups, n)), axis=1)[:, :group_size] if n <= 256 else \
        rng.integers(0, n, size=(n_groups, group_size))
    gx = x[idx]
    gy = y[idx]
    mx = gx.mean(axis=1, keepdims=True)
    my = gy.mean(axis=1, keepdims=True)
    dx = gx - mx
    var = (dx * dx).sum(axis=1)
    ok = var > 0.0
    if not np.any(ok):
        raise PromptError('every RANSAC group has constant relative values')
    s = np.where(ok, (dx * (gy - my)).sum(axis=1) / np.where(ok, var, 1.0), 0.0)
    t = my[:, 0] - s * mx[:, 0]

    if n > max_vote_samples:
        vote = rng.choice(n, size=max_vote_samples, replace=False)
        vx, vy = x[vote], y[vote]
    else:
        vx, vy = x, y
    # Vote in chunks of hypotheses to bound memory: (chunk, M) residual matrices.
    best_count = -1
    best_cost = np.inf
    best = 0
    chunk = max(1, 2_000_000 // max(1, vx.size))
    for g0 in range(0, n_groups, chunk):
        sl = slice(g0, g0 + chunk)
        res = np.abs(s[sl, None] * vx[None, :] + t[sl, None] - vy[None, :])
        inl = res < thr
        count = inl.sum(axis=1)
        count[~ok[sl]] = -1
        cost = np.where(inl, res, 0.0).sum(axis=1)
        order = np.lexsort((cost, -count))  # most inliers, then smallest inlier residual
        j = int(order[0])
        if count[j] > best_count or (count[j] == best_count and cost[j] < best_cost):
            best_count, best_cost, best = int(count[j]), float(cost[j]), g0 + j

    scale, shift = float(s[best]), float(t[best])
    inliers = np.abs(scale * x + shift - y) < thr
    if inliers.sum() >= 2 and np.ptp(x[inliers]) > 0.0:
        scale, shift = _lstsq(x[inliers], y[inliers])
    final_thr = thr
    for _ in range(3 if refine else 0):
        res = np.abs(scale * x + shift - y)
        sigma = 1.4826 * float(np.median(res[inliers])) if inliers.any() else 0.0
        final_thr = min(thr, max(refine_k * sigma, 1e-12))
        new = res < final_thr
        if new.sum() < 2 or np.ptp(x[new]) <= 0.0 or np.array_equal(new, inliers):
            break
        inliers = new
        scale, shift = _lstsq(x[inliers], y[inliers])
    inliers = np.abs(scale * x + shift - y) < final_thr
    return AlignmentResult(scale, shift, inliers, final_thr)


def sample_at_grid(relative: np.ndarray, grid_hw: tuple[int, int]) -> np.ndarray:
    """Sample a full-resolution map at the centres of a coarser grid (bilinear).

    Uses the pixel-edge convention of ``PinholeCamera.scaled``: the centre of grid cell (i, j)
    lies at full-resolution pixel coordinates ((j + 0.5) * W / w - 0.5, (i + 0.5) * H / h - 0.5).
    A NaN among the four neighbours gives NaN.

    Args:
        relative: (H, W) float map.
        grid_hw: (h, w) target grid size.

    Returns:
        (h, w) float64 samples.

    """
    rel = np.asarray(relative, dtype=np.float64)
    h, w = int(grid_hw[0]), int(grid_hw[1])
    H, W = rel.shape
    if (h, w) == (H, W):
        return rel.copy()
    if h < 1 or w < 1:
        raise InputError(f'grid size must be positive, got {grid_hw}')
    ys = np.clip((np.arange(h) + 0.5) * H / h - 0.5, 0.0, H - 1.0)
    xs = np.clip((np.arange(w) + 0.5) * W / w - 0.5, 0.0, W - 1.0)
    y0 = np.minimum(np.floor(ys).astype(np.intp), max(H - 2, 0))
    x0 = np.minimum(np.floor(xs).astype(np.intp), max(W - 2, 0))
    y1 = np.minimum(y0 + 1, H - 1)
    x1 = np.minimum(x0 + 1, W - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    top = rel[np.ix_(y0, x0)] * (1 - fx) + rel[np.ix_(y0, x1)] * fx
    bot = rel[np.ix_(y1, x0)] * (1 - fx) + rel[np.ix_(y1, x1)] * fx
    return top * (1 - fy) + bot * fy


def align_relative_depth(relative: np.ndarray, prompt_m: np.ndarray, method: str = 'ransac',
                         space: str = 'inverse', min_samples: int = 16,
                         **ransac_options) -> tuple[np.ndarray, AlignmentResult]:
    """Align a relative depth/disparity map to sparse metric depth.

    Args:
        relative: (H, W) float relative map (disparity-like for space='inverse', depth-like for
            space='depth'); NaN / Inf = invalid.
        prompt_m: (h, w) float32 metres, 0 / NaN = no measurement; any resolution, sampled at the
            matching full-resolution pixel (see :func:`sample_at_grid`).
        method: 'ransac' or 'lstsq'.
        space: 'inverse' or 'depth' (see module docstring).
        min_samples: minimum number of valid measurement/relative pairs.
        **ransac_options: forwarded to :func:`fit_scale_shift_ransac`.

    Returns:
        ((H, W) float32 metric depth in metres with NaN = invalid, AlignmentResult).

    Raises:
        InputError: wrong shapes, unknown method or space.
        PromptError: not enough valid samples to fit.

    """
    rel = np.asarray(relative, dtype=np.float64)
    prompt = np.asarray(prompt_m, dtype=np.float64)
    if rel.ndim != 2 or prompt.ndim != 2:
        raise InputError(f'relative map and prompt must be 2-D, got {rel.shape} and '
                         f'{prompt.shape}')
    if method not in ('ransac', 'lstsq'):
        raise InputError(f"unknown alignment method '{method}' (use 'ransac' or 'lstsq')")
    if space not in SPACES:
        raise InputError(f"unknown alignment space '{space}' (use 'inverse' or 'depth')")
    rel_s = sample_at_grid(rel, (prompt.shape[0], prompt.shape[1]))
    with np.errstate(invalid='ignore'):
        ok = np.isfinite(prompt) & (prompt > 0.0) & np.isfinite(rel_s)
    if int(ok.sum()) < min_samples:
        raise PromptError(f'only {int(ok.sum())} valid prompt samples for alignment '
                          f'(need {min_samples})')
    target = 1.0 / prompt[ok] if space == 'inverse' else prompt[ok]
    if method == 'ransac':
        fit = fit_scale_shift_ransac(rel_s[ok], target, **ransac_options)
    else:
        fit = fit_scale_shift_lstsq(rel_s[ok], target)
    with np.errstate(invalid='ignore', divide='ignore', over='ignore'):
        val = fit.scale * rel + fit.shift
        if space == 'inverse':
            depth = np.where(val > 0.0, 1.0 / val, np.nan)
        else:
            depth = np.where(val > 0.0, val, np.nan)
    depth[~np.isfinite(depth)] = np.nan
    return depth.astype(np.float32), fit
