# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Temporal stability ("flicker") of a depth method over consecutive frames.

Definition, for a pair of consecutive frames (previous ``a``, current ``b``), predicted depth
``D`` and reference depth ``G`` (metres):

1. **Correspondence.**  For every pixel p of frame b whose reference ``G_b(p)`` is valid (finite,
   > 0, inside the depth range):

   * with camera poses ``T_world_a``, ``T_world_b`` (and intrinsics): back-project p with
     ``G_b(p)``, move the 3-D point into camera a (``T_a_b = inv(T_world_a) @ T_world_b``) and
     project it to the nearest pixel q of frame a; its depth there is ``z_a``;
   * without poses: q = p (a static camera is assumed) and ``z_a = G_b(p)``.

2. **Static region.**  The pair (p, q) is kept when q is inside the image, ``G_a(q)`` is valid and
   ``|G_a(q) - z_a| <= abs_tol + rel_tol * z_a`` (the point is visible in both frames and did not
   move: occluded, disoccluded and moving pixels fail this test), and both predictions
   ``D_b(p)`` and ``D_a(q)`` are finite.

3. **Flicker** = mean over kept pairs of ``|(D_b(p) - D_a(q)) - (G_b(p) - G_a(q))|`` in metres:
   the change of the prediction that the true geometry does not explain.  A prediction equal to
   the reference scores exactly 0; a static scene predicted with independent per-frame noise
   scores about ``sqrt(2) * sigma * sqrt(2 / pi)`` (for Gaussian noise of std ``sigma``).

The per-sequence value is the mean of the per-pair values (the first frame has none).
"""

from __future__ import annotations

import math

import numpy as np

from promptda_ros.core.errors import CalibrationError, InputError
from promptda_ros.eval.metrics import valid_mask


def _check_pose(T: np.ndarray, name: str) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise CalibrationError(f'{name} must be a finite 4x4 transform, got shape {T.shape}')
    return T


def flicker(pred_prev: np.ndarray, pred_cur: np.ndarray, gt_prev: np.ndarray,
            gt_cur: np.ndarray, camera=None, T_world_prev: np.ndarray | None = None,
            T_world_cur: np.ndarray | None = None, min_depth: float = 0.0,
            max_depth: float = math.inf, abs_tol: float = 0.01, rel_tol: float = 0.02
            ) -> tuple[float, int]:
    """Flicker of one consecutive frame pair (see the module docstring for the definition).

    Args:
        pred_prev: (H, W) float metres, previous frame prediction, NaN = invalid.
        pred_cur: (H, W) float metres, current frame prediction, NaN = invalid.
        gt_prev: (H, W) float metres, previous reference depth, NaN / <= 0 = invalid.
        gt_cur: (H, W) float metres, current reference depth.
        camera: PinholeCamera of the (H, W) images (needed only with poses).
        T_world_prev: (4, 4) camera-to-world pose of the previous frame, or None.
        T_world_cur: (4, 4) camera-to-world pose of the current frame, or None.
        min_depth: depth-range lower bound on the reference, metres.
        max_depth: depth-range upper bound on the reference, metres.
        abs_tol: static test absolute tolerance, metres.
        rel_tol: static test relative tolerance (fraction of depth).

    Returns:
        (flicker in metres - NaN when no static pixel is found, number of static pixels used).

    Raises:
        InputError: shape mismatch.
        CalibrationError: poses given without a camera, or malformed poses / camera size.

    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (pred_prev, pred_cur, gt_prev, gt_cur)]
    shape = arrays[3].shape
    if len(shape) != 2 or any(a.shape != shape for a in arrays):
        raise InputError('flicker needs four 2-D arrays of one shape, got '
                         + ', '.join(str(a.shape) for a in arrays))
    d_a, d_b, g_a, g_b = arrays
    ok_b = valid_mask(g_b, min_depth, max_depth)
    ok_a = valid_mask(g_a, min_depth, max_depth)
    H, W = shape
    if (T_world_prev is None) != (T_world_cur is None):
        raise CalibrationError('flicker needs both poses or neither')
    if T_world_prev is None or T_world_cur is None:  # neither (checked above)
        sel = ok_b & ok_a
        z_a = g_b[sel]
        ga_q = g_a[sel]
        da_q = d_a[sel]
        db_p = d_b[sel]
        gb_p = g_b[sel]
    else:
        if camera is None:
            raise CalibrationError('flicker with poses needs the camera intrinsics')
        if (int(camera.height), int(camera.width)) != (H, W):
            raise CalibrationError(f'camera is {camera.width}x{camera.height} but depth is '
                                   f'{W}x{H}')
        T_a_b = np.linalg.inv(_check_pose(T_world_prev, 'T_world_prev')) @ \
            _check_pose(T_world_cur, 'T_world_cur')
        vs, us = np.nonzero(ok_b)
        z = g_b[vs, us]
        fx, fy, cx, cy = float(camera.fx), float(camera.fy), float(camera.cx), float(camera.cy)
        pts = np.stack([(us - cx) / fx * z, (vs - cy) / fy * z, z], axis=1)
        pa = pts @ T_a_b[:3, :3].T + T_a_b[:3, 3]
        za = pa[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            ua = np.rint(fx * pa[:, 0] / za + cx)
            va = np.rint(fy * pa[:, 1] / za + cy)
        inside = (za > 0) & (ua >= 0) & (ua <= W - 1) & (va >= 0) & (va <= H - 1)
        qa_u = ua[inside].astype(np.intp)
        qa_v = va[inside].astype(np.intp)
        vis = ok_a[qa_v, qa_u]
        qa_u, qa_v = qa_u[vis], qa_v[vis]
        z_a = za[inside][vis]
        ga_q = g_a[qa_v, qa_u]
        da_q = d_a[qa_v, qa_u]
        pv, pu = vs[inside][vis], us[inside][vis]
        db_p = d_b[pv, pu]
        gb_p = g_b[pv, pu]
    keep = (np.abs(ga_q - z_a) <= abs_tol + rel_tol * z_a) & np.isfinite(da_q) & np.isfinite(db_p)
    n = int(keep.sum())
    if n == 0:
        return math.nan, 0
    val = np.abs((db_p[keep] - da_q[keep]) - (gb_p[keep] - ga_q[keep])).mean()
    return float(val), n
