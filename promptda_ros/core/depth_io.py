# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth files with units in the names.

* ``*.png``: single-channel uint16 millimetres, 0 = invalid (REP 118 16UC1 on disk).
* ``*.npy``: (H, W) float32 metres, NaN = invalid.

A float file or 32FC1 message carries no unit, so :func:`check_metres` refuses depth whose values
only make sense in another unit (millimetres written as metres).
"""

import os

import cv2
import numpy as np

from promptda_ros.core.depth_units import metres_to_mm, mm_to_metres
from promptda_ros.core.errors import InputError

MAX_PNG_DEPTH_M = 65.535
MAX_MEDIAN_DEPTH_M = 200.0
"""Largest median of measured depth read as metres; beyond it the data is in another unit."""


def _depth_array(depth_m) -> np.ndarray:
    depth = np.asarray(depth_m)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2 or depth.size == 0:
        raise InputError(f'depth_m must be a non-empty (H, W) array, got shape {depth.shape}')
    if not (np.issubdtype(depth.dtype, np.floating) or np.issubdtype(depth.dtype, np.integer)):
        raise InputError(f'depth_m must be numeric, got dtype {depth.dtype}')
    return depth.astype(np.float32, copy=False)


def save_depth_png_mm(path, depth_m) -> None:
    """Save metres as a uint16 millimetre PNG.

    Args:
        path: ``.png`` file.
        depth_m: (H, W) float metres; NaN, Inf and values <= 0 are stored as 0 (invalid).

    Raises:
        InputError: bad array, or depths above 65.535 m (not representable in uint16 mm).
        OSError: the file cannot be written.
    """
    mm, too_far = metres_to_mm(_depth_array(depth_m))
    if too_far:
        raise InputError(f'{too_far} pixels exceed {MAX_PNG_DEPTH_M} m, the uint16 millimetre '
                         'PNG range; save as .npy metres instead')
    path = os.fspath(path)
    if not path.lower().endswith('.png'):
        raise InputError(f'depth PNG path must end with .png, got {path!r}')
    if not cv2.imwrite(path, mm):
        raise OSError(f'cannot write depth PNG {path!r}')


def load_depth_png_mm(path, sparse: bool = False) -> np.ndarray:
    """Load a uint16 millimetre PNG as metres.

    Args:
        path: ``.png`` file (single channel, 16-bit).
        sparse: map 0 mm to 0.0 (prompt convention) instead of NaN (output convention).

    Returns:
        (H, W) float32 metres.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'depth PNG not found: {path!r}')
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f'cannot decode {path!r} as an image')
    if img.ndim != 2 or img.dtype != np.uint16:
        raise InputError(f'{path!r} is not a single-channel uint16 millimetre PNG '
                         f'(shape {img.shape}, dtype {img.dtype})')
    depth = mm_to_metres(img)
    if not sparse:
        depth[img == 0] = np.nan
    return depth


def save_depth_npy_m(path, depth_m) -> None:
    """Save (H, W) float metres as a float32 ``.npy`` (NaN = invalid kept as is)."""
    depth = _depth_array(depth_m)
    path = os.fspath(path)
    if not path.lower().endswith('.npy'):
        raise InputError(f'depth NPY path must end with .npy, got {path!r}')
    np.save(path, np.ascontiguousarray(depth, dtype=np.float32), allow_pickle=False)


def load_depth_npy_m(path) -> np.ndarray:
    """Load a ``.npy`` of metres as (H, W) float32 (no pickles)."""
    path = os.fspath(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except EOFError:  # an empty (0-byte) or truncated file
        raise InputError(f'{path!r} is empty or truncated: no .npy array in it') from None
    except ValueError as exc:
        raise InputError(f'cannot load {path!r} as a numeric array: {exc}') from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f'{path!r} holds several arrays; expected one (H, W) depth array')
    return _depth_array(arr).copy()


def load_depth(path) -> np.ndarray:
    """Load a depth file by extension (``.png`` uint16 mm or ``.npy`` float m).

    Returns:
        (H, W) float32 metres with every invalid value (0 mm, NaN, Inf, <= 0) as 0.0 —
        the prompt convention.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext == '.png':
        return load_depth_png_mm(p, sparse=True)
    if ext == '.npy':
        depth = load_depth_npy_m(p)
        with np.errstate(invalid='ignore'):
            good = np.isfinite(depth) & (depth > 0)
        return np.where(good, depth, np.float32(0.0)).astype(np.float32)
    raise InputError(f'unknown depth file type {ext!r} for {p!r}; use .png (mm) or .npy (m)')


def check_metres(depth_m, what: str = 'depth') -> None:
    """Refuse depth whose values only make sense in another unit than metres.

    Depth sensors and LiDARs measure up to a few hundred metres, so a median above
    :data:`MAX_MEDIAN_DEPTH_M` is not metres; when the values divided by 1000 are plausible the
    message names millimetres (a 16UC1 image saved or published as float).

    Args:
        depth_m: (H, W) or (N,) float depth; finite values > 0 are measurements.
        what: name of the data in the message (e.g. ``'reference gt/000042.npy'``).

    Raises:
        InputError: one line naming the median, the range and the likely unit.
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    with np.errstate(invalid='ignore'):
        values = depth[np.isfinite(depth) & (depth > 0)]
    if values.size == 0:
        return
    median = float(np.median(values))
    if median <= MAX_MEDIAN_DEPTH_M:
        return
    if median / 1000.0 <= MAX_MEDIAN_DEPTH_M:
        hint = 'it looks like millimetres: divide by 1000 or store a uint16 millimetre PNG'
    else:
        hint = f'no depth sensor measures a median beyond {MAX_MEDIAN_DEPTH_M:g} m'
    raise InputError(f'{what} is not in metres (median {median:.6g}, range '
                     f'{float(values.min()):.6g}..{float(values.max()):.6g}): {hint}')
