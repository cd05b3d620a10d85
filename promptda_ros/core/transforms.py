# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Quaternions (x, y, z, w as in ``geometry_msgs/Quaternion``) and 4x4 rigid transforms.

Convention: ``T_a_b`` maps points expressed in frame ``b`` into frame ``a``
(what ROS TF returns for ``lookup_transform(a, b)``): ``p_a = T_a_b @ p_b``.
"""

import numpy as np

from promptda_ros.core.errors import CalibrationError, InputError

_ROT_TOL = 1e-5


def _finite_array(value, shape, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f'{name} is not numeric: {exc}') from None
    if arr.shape != shape:
        raise CalibrationError(f'{name} must have shape {shape}, got {arr.shape}')
    if not np.all(np.isfinite(arr)):
        raise CalibrationError(f'{name} contains NaN or Inf: {arr.tolist()}')
    return arr


def quat_to_matrix(q_xyzw) -> np.ndarray:
    """Convert a quaternion to a rotation matrix.

    Args:
        q_xyzw: (4,) quaternion ``x, y, z, w``; normalised here (any non-zero norm).

    Returns:
        (3, 3) float64 rotation matrix.

    Raises:
        CalibrationError: wrong shape, NaN/Inf or (near) zero norm.
    """
    q = _finite_array(q_xyzw, (4,), 'quaternion')
    n = np.linalg.norm(q)
    if n < 1e-9:
        raise CalibrationError(f'quaternion has zero norm: {q.tolist()}')
    x, y, z, w = q / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def check_rotation(R, name: str = 'rotation') -> np.ndarray:
    """Return ``R`` as (3, 3) float64; raise :class:`CalibrationError` if not a rotation."""
    R = _finite_array(R, (3, 3), name)
    if not np.allclose(R @ R.T, np.eye(3), atol=_ROT_TOL) or np.linalg.det(R) < 0.5:
        raise CalibrationError(f'{name} is not a proper rotation matrix (R R^T != I or det != 1)')
    return R


def matrix_to_quat(R) -> np.ndarray:
    """Convert a rotation matrix to a quaternion.

    Args:
        R: (3, 3) proper rotation matrix.

    Returns:
        (4,) float64 unit quaternion ``x, y, z, w`` with ``w >= 0``.
    """
    m = check_rotation(R)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    # Shepperd's method: divide by the largest of the four candidate magnitudes.
    candidates = np.array([trace, m[0, 0], m[1, 1], m[2, 2]])
    i = int(np.argmax(candidates))
    if i == 0:
        s = 2.0 * np.sqrt(max(1.0 + trace, 0.0))
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    elif i == 1:
        s = 2.0 * np.sqrt(max(1.0 + m[0, 0] - m[1, 1] - m[2, 2], 0.0))
        q = [s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif i == 2:
        s = 2.0 * np.sqrt(max(1.0 + m[1, 1] - m[0, 0] - m[2, 2], 0.0))
        q = [(m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(max(1.0 + m[2, 2] - m[0, 0] - m[1, 1], 0.0))
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4, (m[1, 0] - m[0, 1]) / s]
    quat = np.asarray(q, dtype=np.float64)
    quat /= np.linalg.norm(quat)
    if quat[3] < 0:
        quat = -quat
    return quat


def make_transform(translation, quat_xyzw) -> np.ndarray:
    """Build a rigid transform.

    Args:
        translation: (3,) metres.
        quat_xyzw: (4,) rotation quaternion ``x, y, z, w``.

    Returns:
        (4, 4) float64 homogeneous transform.
    """
    t = _finite_array(translation, (3,), 'translation')
    T = np.eye(4)
    T[:3, :3] = quat_to_matrix(quat_xyzw)
    T[:3, 3] = t
    return T


def check_transform(T, name: str = 'transform') -> np.ndarray:
    """Return ``T`` as (4, 4) float64, raising :class:`CalibrationError` if not rigid."""
    T = _finite_array(T, (4, 4), name)
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0]):
        raise CalibrationError(f'{name} last row must be [0, 0, 0, 1], got {T[3].tolist()}')
    check_rotation(T[:3, :3], f'{name} rotation')
    return T


def split_transform(T) -> tuple:
    """Split a rigid transform into ``(translation (3,) m, quat_xyzw (4,))``."""
    T = check_transform(T)
    return T[:3, 3].copy(), matrix_to_quat(T[:3, :3])


def invert_transform(T) -> np.ndarray:
    """Invert a rigid transform exactly (``R^T, -R^T t``): ``T_b_a`` from ``T_a_b``.

    Args:
        T: (4, 4) rigid transform.

    Returns:
        (4, 4) float64 inverse.
    """
    T = check_transform(T)
    out = np.eye(4)
    Rt = T[:3, :3].T
    out[:3, :3] = Rt
    out[:3, 3] = -Rt @ T[:3, 3]
    return out


def transform_points(T, points) -> np.ndarray:
    """Apply a rigid transform to points: ``p_a = T_a_b @ p_b``.

    Args:
        T: (4, 4) rigid transform ``T_a_b``.
        points: (N, 3) metres in frame b (NaN rows stay NaN).

    Returns:
        (N, 3) metres in frame a; float32 for float32 input, else float64.
    """
    T = check_transform(T)
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f'points must have shape (N, 3), got {pts.shape}')
    if not np.issubdtype(pts.dtype, np.number):
        raise InputError(f'points must be numeric, got dtype {pts.dtype}')
    out_dtype = np.float32 if pts.dtype == np.float32 else np.float64
    pts = pts.astype(out_dtype, copy=False)
    R = T[:3, :3].astype(out_dtype)
    t = T[:3, 3].astype(out_dtype)
    out = np.empty(pts.shape, dtype=out_dtype)
    x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
    # Column arithmetic: numpy's (N, 3) @ (3, 3) matmul is several times slower for large N.
    for i in range(3):
        out[:, i] = R[i, 0] * x + R[i, 1] * y + R[i, 2] * z + t[i]
    return out
