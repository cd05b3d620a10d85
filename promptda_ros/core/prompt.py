# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth-prompt validation, hole filling and construction from LiDAR points.

The PromptDA network min/max-normalises the prompt with no epsilon, so a prompt with
too few valid cells or with ``max <= min`` must be rejected before inference; and it
expects a dense prompt, so holes are filled: a push-pull pyramid of the measurements (the
pipeline's default, chosen on real frames), KNN with k=4 as PromptDA does for vehicle LiDAR, or
an IP-Basic-style morphological completion. Every fill keeps the filled values within the range
of the measured cells.

A prompt is an (h, w) float32 array in metres where 0 marks a cell without measurement.
"""

from dataclasses import dataclass
import math

import cv2
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.core.projection import project_to_grid

FILL_METHODS = ('pyramid', 'knn', 'morph', 'none')

# Kernels of IP-Basic (Ku, Harakeh, Waslander, CRV 2018).
_DIAMOND_5 = np.array([[0, 0, 1, 0, 0],
                       [0, 1, 1, 1, 0],
                       [1, 1, 1, 1, 1],
                       [0, 1, 1, 1, 0],
                       [0, 0, 1, 0, 0]], dtype=np.uint8)
_FULL_5 = np.ones((5, 5), dtype=np.uint8)
_FULL_7 = np.ones((7, 7), dtype=np.uint8)
_FULL_31 = np.ones((31, 31), dtype=np.uint8)
# Neighbours of a cell, weighted 1 (edge) and 0.5 (corner), for the first step of fill_pyramid.
_NEIGHBOURS = np.array([[0.5, 1.0, 0.5],
                        [1.0, 0.0, 1.0],
                        [0.5, 1.0, 0.5]], dtype=np.float32)


@dataclass(frozen=True)
class PromptStats:
    """Summary of a prompt: fraction/number of valid cells and their depth range (metres).

    ``min_m`` and ``max_m`` are NaN when no cell is valid.
    """

    valid_fraction: float
    n_valid: int
    min_m: float
    max_m: float


def _as_prompt(prompt_m, name: str = 'prompt_m') -> np.ndarray:
    arr = np.asarray(prompt_m)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise InputError(f'{name} must be a 2-D (h, w) array, got shape {arr.shape}')
    if arr.size == 0:
        raise InputError(f'{name} is empty (shape {arr.shape})')
    if np.issubdtype(arr.dtype, np.integer):
        # An integer grid is almost always a 16UC1 depth image in millimetres: reading it as
        # metres would scale the whole output by 1000, so make the caller convert explicitly.
        raise InputError(f'{name} must be float metres, got integer dtype {arr.dtype} (a 16UC1 '
                         'image is millimetres: use depth_io.load_depth or divide by 1000)')
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f'{name} must be float metres, got dtype {arr.dtype}')
    return arr.astype(np.float32, copy=False)


def _valid_mask(prompt: np.ndarray) -> np.ndarray:
    return np.isfinite(prompt) & (prompt > 0)


def prompt_stats(prompt_m) -> PromptStats:
    """Compute :class:`PromptStats`.

    Args:
        prompt_m: (h, w) float32 metres, 0 (or NaN) = invalid.
    """
    prompt = _as_prompt(prompt_m)
    valid = _valid_mask(prompt)
    n_valid = int(np.count_nonzero(valid))
    if n_valid:
        values = prompt[valid]
        lo, hi = float(values.min()), float(values.max())
    else:
        lo = hi = math.nan
    return PromptStats(valid_fraction=n_valid / prompt.size, n_valid=n_valid, min_m=lo, max_m=hi)


def validate_prompt(prompt_m, min_valid_fraction: float = 0.001,
                    min_valid: int = 16) -> PromptStats:
    """Check that a prompt can be fed to the network.

    Args:
        prompt_m: (h, w) float32 metres, 0 = invalid.
        min_valid_fraction: minimum fraction of valid cells.
        min_valid: minimum number of valid cells.

    Returns:
        :class:`PromptStats` of the prompt.

    A constant prompt (``max == min``: a flat wall, which 16UC1 quantises to one millimetre
    value) is valid: the weights-free backends return it as it is and the network path guards
    its min/max normalisation (:func:`promptda_ros.model.processing.prepare_prompt`).

    Raises:
        PromptError: NaN, Inf or negative values, or too few valid cells.
        InputError: not a 2-D numeric array.
    """
    prompt = _as_prompt(prompt_m)
    n_nan = int(np.count_nonzero(np.isnan(prompt)))
    if n_nan:
        raise PromptError(f'prompt has {n_nan} NaN cells; mark missing measurements with 0')
    n_inf = int(np.count_nonzero(np.isinf(prompt)))
    if n_inf:
        raise PromptError(f'prompt has {n_inf} infinite cells; mark missing measurements with 0')
    n_neg = int(np.count_nonzero(prompt < 0))
    if n_neg:
        raise PromptError(
            f'prompt has {n_neg} negative depths (min {float(prompt.min()):.3f} m); '
            'depth must be >= 0 m')
    stats = prompt_stats(prompt)
    needed = max(int(min_valid), int(math.ceil(float(min_valid_fraction) * prompt.size)))
    if stats.n_valid < needed:
        raise PromptError(
            f'prompt has too few valid cells: {stats.n_valid} of {prompt.size} '
            f'({100.0 * stats.valid_fraction:.3f} %), need at least {needed}')
    return stats


def _check_fill_input(prompt_m) -> tuple:
    prompt = _as_prompt(prompt_m)
    with np.errstate(invalid='ignore'):
        n_neg = int(np.count_nonzero(prompt < 0))
    if n_neg:
        raise PromptError(f'prompt has {n_neg} negative depths; depth must be >= 0 m')
    valid = _valid_mask(prompt)
    if not np.any(valid):
        raise PromptError('prompt has no valid cells to fill from')
    out = np.where(valid, prompt, np.float32(0.0)).astype(np.float32)
    return out, valid


def fill_knn(prompt_m, k: int = 4) -> np.ndarray:
    """Fill every invalid cell with the mean depth of its ``k`` nearest valid cells.

    Valid cells are returned unchanged. Distances are measured between cell centres
    (KD-tree over valid cells). Every filled value is a mean of measured values, so the output
    stays within their range. The KD-tree query is the cost: ~20-70 ms for the ~40,000 holes
    of a sparse 192x256 grid (``bench/bench_realdata.py`` prints it); :func:`fill_pyramid`
    takes ~1-3 ms.

    Args:
        prompt_m: (h, w) float32 metres, 0 / NaN / Inf = invalid.
        k: number of neighbours (fewer if fewer valid cells exist).

    Returns:
        (h, w) float32 metres, fully dense.

    Raises:
        PromptError: no valid cell or negative depths.
    """
    if int(k) < 1:
        raise InputError(f'k must be >= 1, got {k}')
    out, valid = _check_fill_input(prompt_m)
    holes = ~valid
    if not np.any(holes):
        return out
    valid_rc = np.argwhere(valid)
    hole_rc = np.argwhere(holes)
    values = out[valid].astype(np.float64)  # same row-major order as argwhere
    k_eff = min(int(k), valid_rc.shape[0])
    tree = cKDTree(valid_rc)
    _, idx = tree.query(hole_rc, k=k_eff)
    if k_eff == 1:
        idx = idx[:, None]
    out[holes] = values[idx].mean(axis=1).astype(np.float32)
    return out


def fill_pyramid(prompt_m) -> np.ndarray:
    """Fill the holes of a prompt from an image pyramid of its measurements (push-pull).

    Push: the measured values and a 0/1 weight are averaged over 2 x 2 blocks, level after
    level, until every cell of a level has a measurement in its block (or the level is 1 cell
    high or wide; cells still empty there take their nearest filled cell). Pull: from the
    coarsest level down, each level's cells with a measurement keep the mean of their
    measurements and the others take the bilinear upsampling of the level above. Finally a hole
    next to a measured cell takes the weighted mean of its measured neighbours (edge 1,
    corner 0.5), as a nearest-neighbour mean would. Every value is a weighted mean of
    measurements, so the output stays within their range.

    On the real frames of ``bench/bench_realdata.py`` bilinear upsampling of this fill has a
    lower held-out L1 than of :func:`fill_knn` on every row (up to 2x lower on sparse LiDAR),
    at ~1-3 ms for a 192x256 grid instead of ~20-70 ms.

    Args:
        prompt_m: (h, w) float32 metres, 0 / NaN / Inf = invalid.

    Returns:
        (h, w) float32 metres, fully dense; measured cells unchanged.

    Raises:
        PromptError: no valid cell or negative depths.
    """
    prompt, valid = _check_fill_input(prompt_m)
    if valid.all():
        return prompt
    weight = valid.astype(np.float32)
    levels = [(prompt, weight)]
    value = prompt
    while weight.min() <= 0.0 and min(value.shape) > 1:
        size = ((value.shape[1] + 1) // 2, (value.shape[0] + 1) // 2)
        value = cv2.resize(value, size, interpolation=cv2.INTER_AREA)
        weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
        levels.append((value, weight))
    with np.errstate(invalid='ignore', divide='ignore'):
        est = np.where(weight > 0.0, value / weight, np.float32(0.0)).astype(np.float32)
        if np.any(weight <= 0.0):
            _, (ri, ci) = ndimage.distance_transform_edt(weight <= 0.0, return_indices=True)
            est = est[ri, ci]
        for value, weight in reversed(levels[:-1]):
            up = cv2.resize(est, (value.shape[1], value.shape[0]),
                            interpolation=cv2.INTER_LINEAR)
            est = np.where(weight > 0.0, value / weight, up).astype(np.float32)
    num = cv2.filter2D(prompt, -1, _NEIGHBOURS, borderType=cv2.BORDER_CONSTANT)
    den = cv2.filter2D(valid.astype(np.float32), -1, _NEIGHBOURS,
                       borderType=cv2.BORDER_CONSTANT)
    near = ~valid & (den > 0.0)
    est[near] = num[near] / den[near]
    lo, hi = float(prompt[valid].min()), float(prompt[valid].max())
    np.clip(est, lo, hi, out=est)  # against float rounding of the means
    est[valid] = prompt[valid]
    return est


def _normalized_blur(depth: np.ndarray, filled: np.ndarray, ksize: int) -> np.ndarray:
    """Gaussian blur of ``depth`` over the ``filled`` cells only (normalized convolution).

    Every output value is a weighted mean of filled cells, so it stays within their range:
    empty cells (0) are never averaged in.

    Args:
        depth: (h, w) float32, any unit; values outside ``filled`` are ignored.
        filled: (h, w) bool, the cells that hold a value.
        ksize: odd Gaussian kernel size in cells.

    Returns:
        (h, w) float32; cells with no filled cell in reach keep ``depth``.
    """
    weight = filled.astype(np.float32)
    num = cv2.GaussianBlur(np.where(filled, depth, np.float32(0.0)), (ksize, ksize), 0)
    den = cv2.GaussianBlur(weight, (ksize, ksize), 0)
    with np.errstate(invalid='ignore', divide='ignore'):
        out = num / den
    return np.where(den > 1e-6, out, depth).astype(np.float32)


def fill_morphological(prompt_m, max_depth: float = 100.0, extend_to_top: bool = False,
                       blur: str = 'gaussian', keep_measured: bool = True) -> np.ndarray:
    """Complete a sparse prompt with IP-Basic-style morphology (Ku et al., CRV 2018).

    Steps: invert depth (``max_depth - d``) so dilation prefers near points; dilate with a
    5x5 diamond; close holes (5x5); fill small holes by 7x7 dilation; optionally extend the
    topmost value of each column to the top of the image; fill large holes by 31x31 dilation;
    median 5x5 and (optional) Gaussian 5x5 blur of the filled cells, the Gaussian one
    normalized over filled cells (:func:`_normalized_blur`: IP-Basic's plain blur averages
    the empty cells' inverted 0, i.e. ``max_depth``, into the cells next to a hole and
    invents depth up to ``max_depth``); invert back. Any cell still empty then takes the value
    of its nearest filled cell so the output is dense.

    Every step either copies a measured value (dilation, closing, median, nearest) or takes a
    weighted mean of them, so the output stays within ``[min, max]`` of the valid cells; it is
    clipped to that range against float rounding of the inversion.

    Args:
        prompt_m: (h, w) float32 metres, 0 / NaN / Inf = invalid.
        max_depth: inversion constant, metres; must exceed the prompt's maximum.
        extend_to_top: extend the topmost measurement of each column upwards (IP-Basic's
            sky handling: a band of copied depth above the LiDAR's field of view; off by
            default, the pipeline marks that region unsupported instead).
        blur: ``'gaussian'``, ``'median'`` (median only) or ``'none'``.
        keep_measured: restore measured cells to their original value at the end.

    Returns:
        (h, w) float32 metres, fully dense, within the valid cells' range.

    Raises:
        PromptError: no valid cell, negative depths, or values >= max_depth.
    """
    if blur not in ('gaussian', 'median', 'none'):
        raise InputError(f"blur must be 'gaussian', 'median' or 'none', got {blur!r}")
    prompt, measured = _check_fill_input(prompt_m)
    max_depth = float(max_depth)
    values = prompt[measured]
    lo, top = float(values.min()), float(values.max())
    if not top < max_depth:
        raise PromptError(
            f'prompt maximum {top:.3f} m is not below max_depth {max_depth:.3f} m; '
            'pass a larger max_depth')
    depth = prompt.copy()
    depth[measured] = max_depth - depth[measured]

    depth = cv2.dilate(depth, _DIAMOND_5)
    depth = cv2.morphologyEx(depth, cv2.MORPH_CLOSE, _FULL_5)
    empty = depth < 0.1
    dilated = cv2.dilate(depth, _FULL_7)
    depth[empty] = dilated[empty]

    if extend_to_top:
        filled = depth > 0.1
        h = depth.shape[0]
        has_any = filled.any(axis=0)
        top_row = np.argmax(filled, axis=0)
        cols = np.nonzero(has_any)[0]
        rows = np.arange(h)[:, None]
        above = (rows < top_row[None, :]) & has_any[None, :]
        top_values = np.zeros(depth.shape[1], dtype=np.float32)
        top_values[cols] = depth[top_row[cols], cols]
        depth = np.where(above, top_values[None, :], depth)

    empty = depth < 0.1
    dilated = cv2.dilate(depth, _FULL_31)
    depth[empty] = dilated[empty]

    filled = depth > 0.1
    if blur != 'none':
        blurred = cv2.medianBlur(depth, 5)
        keep = filled & (blurred > 0.1)  # a median over mostly empty cells is empty
        depth[keep] = blurred[keep]
    if blur == 'gaussian':
        blurred = _normalized_blur(depth, filled, 5)
        depth[filled] = blurred[filled]

    out = np.zeros_like(depth)
    out[filled] = max_depth - depth[filled]
    if not np.all(filled):
        # Nearest filled cell for whatever the morphology could not reach.
        _, (ri, ci) = ndimage.distance_transform_edt(~filled, return_indices=True)
        out = out[ri, ci]
    np.clip(out, lo, top, out=out)
    if keep_measured:
        out[measured] = prompt[measured]
    return out.astype(np.float32)


def fill_prompt(prompt_m, method: str = 'knn', **options) -> np.ndarray:
    """Fill a prompt's holes.

    Args:
        prompt_m: (h, w) float32 metres, 0 = invalid.
        method: ``'pyramid'`` (:func:`fill_pyramid`), ``'knn'`` (:func:`fill_knn`),
            ``'morph'`` (:func:`fill_morphological`) or ``'none'`` (returned as float32, holes
            stay 0).
        **options: passed to the fill function.

    Returns:
        (h, w) float32 metres.
    """
    if method == 'pyramid':
        return fill_pyramid(prompt_m, **options)
    if method == 'knn':
        return fill_knn(prompt_m, **options)
    if method == 'morph':
        return fill_morphological(prompt_m, **options)
    if method == 'none':
        return np.array(_as_prompt(prompt_m), dtype=np.float32)
    raise InputError(f'unknown prompt fill method {method!r}; choose one of {FILL_METHODS}')


def build_prompt(points_cam, camera, grid_hw, fill: str = 'knn', min_depth: float = 0.0,
                 max_depth: float = math.inf, min_valid_fraction: float = 0.001,
                 min_valid: int = 16) -> tuple:
    """Project points onto the prompt grid, validate and fill it.

    Args:
        points_cam: (N, 3) float metres in the camera optical frame.
        camera: :class:`~promptda_ros.core.camera.PinholeCamera` of the full image.
        grid_hw: (h, w) prompt grid size; None = camera resolution.
        fill: ``'knn'``, ``'morph'`` or ``'none'``.
        min_depth: drop points with ``z <= min_depth`` metres.
        max_depth: drop points with ``z > max_depth`` metres.
        min_valid_fraction: minimum fraction of cells with a return.
        min_valid: minimum number of cells with a return.

    Returns:
        filled: (h, w) float32 metres (dense unless ``fill='none'``).
        sparse: (h, w) float32 metres, 0 = no return.
        stats: :class:`PromptStats` of the sparse prompt.

    Raises:
        PromptError: the projected prompt is unusable (too few returns, constant depth).
        InputError: malformed points, grid size or fill method.
    """
    if fill not in FILL_METHODS:
        raise InputError(f'unknown prompt fill method {fill!r}; choose one of {FILL_METHODS}')
    sparse = project_to_grid(points_cam, camera, grid_hw, min_depth=min_depth,
                             max_depth=max_depth)
    stats = validate_prompt(sparse, min_valid_fraction=min_valid_fraction, min_valid=min_valid)
    if fill == 'morph':
        inversion = max(100.0, 2.0 * stats.max_m)
        filled = fill_morphological(sparse, max_depth=inversion)
    else:
        filled = fill_prompt(sparse, fill)
    return filled, sparse, stats
