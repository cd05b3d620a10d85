# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Pinhole camera model with ROS ``CameraInfo`` semantics.

Conventions (as ``image_geometry`` / ``depth_image_proc``):

* ``K`` and ``D`` describe the raw (distorted) image; ``P`` describes the rectified image and
  is what :meth:`PinholeCamera.project` and the ``fx, fy, cx, cy`` properties use.
* ``R`` rotates the camera frame into the rectified camera frame (identity for a monocular camera).
* Pixel ``(u, v)`` = ``(column, row)``; integer coordinates are pixel *centres*, so pixel ``i``
  covers ``[i - 0.5, i + 0.5)``. Resizing therefore maps ``c' = (c + 0.5) * s - 0.5``.
* Distortion: ``plumb_bob`` (``k1 k2 t1 t2 k3``) or ``rational_polynomial``
  (``k1 k2 t1 t2 k3 k4 k5 k6``) applied to normalised coordinates.

Some drivers publish a ``CameraInfo`` whose ``P`` is all zeros; the constructor then falls
back to ``P = [K | 0]`` (the raw image is treated as the rectified one); an all-zero ``R``
likewise becomes the identity.
"""

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from promptda_ros.core.errors import CalibrationError, InputError

SUPPORTED_DISTORTION_MODELS = ('plumb_bob', 'rational_polynomial')


def _as_matrix(value, shape, name: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f'camera {name} is not numeric: {exc}') from None
    if arr.size != int(np.prod(shape)):
        raise CalibrationError(
            f'camera {name} must have {int(np.prod(shape))} elements {shape}, '
            f'got shape {arr.shape}')
    arr = arr.reshape(shape)
    arr.setflags(write=False)
    return arr


def _as_points(points, dims: int, name: str) -> np.ndarray:
    arr = np.asarray(points)
    if arr.ndim != 2 or arr.shape[1] != dims:
        raise InputError(f'{name} must have shape (N, {dims}), got {arr.shape}')
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f'{name} must be numeric, got dtype {arr.dtype}')
    return arr.astype(np.float64, copy=False)


def _unset() -> np.ndarray:
    """Return the empty (0,) array standing for an unset D, P or R."""
    return np.empty(0)


@dataclass(frozen=True, eq=False)
class PinholeCamera:
    """Immutable pinhole camera (intrinsics, distortion, rectification).

    Attributes:
        width: image width in pixels.
        height: image height in pixels.
        K: (3, 3) float64 raw-image intrinsics, pixels.
        D: (5,) float64 plumb_bob ``k1 k2 t1 t2 k3`` (8 for rational_polynomial); zeros = none.
        P: (3, 4) float64 rectified projection; ``fx, fy, cx, cy`` are read from it.
        R: (3, 3) float64 rectification rotation, identity by default.
        distortion_model: ``'plumb_bob'`` (default) or ``'rational_polynomial'``.

    The constructor validates shapes and values and raises :class:`CalibrationError`. D, P and R
    may be left out (or given as None or empty): after construction all three are arrays.
    """

    width: int
    height: int
    K: np.ndarray
    D: np.ndarray = field(default_factory=_unset)
    P: np.ndarray = field(default_factory=_unset)
    R: np.ndarray = field(default_factory=_unset)
    distortion_model: str = 'plumb_bob'

    def __post_init__(self) -> None:
        for name in ('width', 'height'):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                if isinstance(value, (float, np.floating)) and float(value).is_integer():
                    value = int(value)
                else:
                    raise CalibrationError(f'camera {name} must be an integer, got {value!r}')
            object.__setattr__(self, name, int(value))
        K = _as_matrix(self.K, (3, 3), 'K')
        model = str(self.distortion_model or 'plumb_bob')
        D: np.ndarray
        if self.D is None or np.size(self.D) == 0:
            D = np.zeros(8 if model == 'rational_polynomial' else 5)
        else:
            D = np.array(self.D, dtype=np.float64).ravel()
        if model not in SUPPORTED_DISTORTION_MODELS:
            if np.any(D != 0):
                raise CalibrationError(
                    f'unsupported distortion model {model!r} with non-zero coefficients; '
                    f'supported: {", ".join(SUPPORTED_DISTORTION_MODELS)}')
            model = 'plumb_bob'
            D = np.zeros(5)
        expected = 8 if model == 'rational_polynomial' else 5
        if D.size < expected:
            D = np.concatenate([D, np.zeros(expected - D.size)])
        if D.size != expected:
            raise CalibrationError(
                f'{model} distortion needs {expected} coefficients, got {D.size}')
        D.setflags(write=False)
        P: Optional[np.ndarray]
        if self.P is None or np.size(self.P) == 0:
            P = None
        else:
            P = _as_matrix(self.P, (3, 4), 'P')
        if P is None or not np.any(P):
            P = np.zeros((3, 4))
            P[:, :3] = K
            P.setflags(write=False)
        unset_r = self.R is None or np.size(self.R) == 0
        R = np.eye(3) if unset_r else _as_matrix(self.R, (3, 3), 'R')
        if not np.any(R):
            R = np.eye(3)
        R = np.array(R)
        R.setflags(write=False)
        object.__setattr__(self, 'K', K)
        object.__setattr__(self, 'D', D)
        object.__setattr__(self, 'P', P)
        object.__setattr__(self, 'R', R)
        object.__setattr__(self, 'distortion_model', model)
        self.validate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_intrinsics(cls, fx: float, fy: float, cx: float, cy: float,
                        width: int, height: int) -> 'PinholeCamera':
        """Build an undistorted camera with ``K = P[:, :3]`` from focal lengths and centre (px)."""
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)
        P = np.zeros((3, 4))
        P[:, :3] = K
        return cls(width=width, height=height, K=K, P=P)

    # ------------------------------------------------------------------ properties
    @property
    def fx(self) -> float:
        """Rectified focal length along x, pixels (``P[0, 0]``)."""
        return float(self.P[0, 0])

    @property
    def fy(self) -> float:
        """Rectified focal length along y, pixels (``P[1, 1]``)."""
        return float(self.P[1, 1])

    @property
    def cx(self) -> float:
        """Rectified principal point column, pixels (``P[0, 2]``)."""
        return float(self.P[0, 2])

    @property
    def cy(self) -> float:
        """Rectified principal point row, pixels (``P[1, 2]``)."""
        return float(self.P[1, 2])

    @property
    def size_hw(self) -> tuple:
        """Image size as ``(height, width)``."""
        return (self.height, self.width)

    @property
    def is_distorted(self) -> bool:
        """True when any distortion coefficient is non-zero."""
        return bool(np.any(self.D != 0))

    def __eq__(self, other) -> bool:
        if not isinstance(other, PinholeCamera):
            return NotImplemented
        return (self.width == other.width and self.height == other.height
                and self.distortion_model == other.distortion_model
                and np.array_equal(self.K, other.K) and np.array_equal(self.D, other.D)
                and np.array_equal(self.P, other.P) and np.array_equal(self.R, other.R))

    def __reduce__(self):
        # Rebuild through the constructor so copies and unpickled cameras stay read-only.
        return (PinholeCamera, (self.width, self.height, np.array(self.K), np.array(self.D),
                                np.array(self.P), np.array(self.R), self.distortion_model))

    def __hash__(self) -> int:
        return hash((self.width, self.height, self.distortion_model, self.K.tobytes(),
                     self.D.tobytes(), self.P.tobytes(), self.R.tobytes()))

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`CalibrationError` naming the first problem with the calibration."""
        if self.width <= 0 or self.height <= 0:
            raise CalibrationError(
                f'camera size must be positive, got width={self.width} height={self.height}')
        for name in ('K', 'D', 'P', 'R'):
            if not np.all(np.isfinite(getattr(self, name))):
                raise CalibrationError(f'camera {name} contains NaN or Inf')
        if not (self.K[0, 0] > 0 and self.K[1, 1] > 0):
            raise CalibrationError(
                f'camera K focal lengths must be > 0, got fx={self.K[0, 0]} fy={self.K[1, 1]} '
                '(an all-zero K means the camera is uncalibrated)')
        if not (self.fx > 0 and self.fy > 0):
            raise CalibrationError(
                f'camera P focal lengths must be > 0, got fx={self.fx} fy={self.fy}')
        if not np.allclose(self.P[2], [0.0, 0.0, 1.0, 0.0]):
            raise CalibrationError(f'camera P last row must be [0, 0, 1, 0], got {self.P[2]}')
        if not np.allclose(self.K[2], [0.0, 0.0, 1.0]):
            raise CalibrationError(f'camera K last row must be [0, 0, 1], got {self.K[2]}')
        if not np.allclose(self.R @ self.R.T, np.eye(3), atol=1e-6) or np.linalg.det(self.R) <= 0:
            raise CalibrationError('camera R must be a proper rotation matrix')

    # ------------------------------------------------------------------ derived cameras
    def scaled(self, width: int, height: int) -> 'PinholeCamera':
        """Return the camera of the image resized to ``width`` x ``height`` pixels.

        Pixel-edge convention: ``f' = f * s`` and ``c' = (c + 0.5) * s - 0.5`` with
        ``s = new / old`` per axis, applied to both K and P. D and R are unchanged.
        """
        width, height = _positive_size(width, height)
        sx = width / self.width
        sy = height / self.height
        K = np.array(self.K)
        P = np.array(self.P)
        for M in (K, P):
            # Row 0 -> u, row 1 -> v. (c + 0.5) * s - 0.5 == c * s + 0.5 * (s - 1) * w-row.
            M[0] = M[0] * sx + 0.5 * (sx - 1.0) * M[2]
            M[1] = M[1] * sy + 0.5 * (sy - 1.0) * M[2]
        return PinholeCamera(width=width, height=height, K=K, D=self.D, P=P, R=self.R,
                             distortion_model=self.distortion_model)

    def cropped(self, x0: int, y0: int, width: int, height: int) -> 'PinholeCamera':
        """Return the camera of the sub-image ``[y0:y0+height, x0:x0+width]`` (pixels).

        Raises:
            InputError: when the crop window does not lie inside the image.
        """
        width, height = _positive_size(width, height)
        x0, y0 = int(x0), int(y0)
        if x0 < 0 or y0 < 0 or x0 + width > self.width or y0 + height > self.height:
            raise InputError(
                f'crop x0={x0} y0={y0} width={width} height={height} lies outside the '
                f'{self.width}x{self.height} image')
        K = np.array(self.K)
        P = np.array(self.P)
        for M in (K, P):
            M[0] = M[0] - x0 * M[2]
            M[1] = M[1] - y0 * M[2]
        return PinholeCamera(width=width, height=height, K=K, D=self.D, P=P, R=self.R,
                             distortion_model=self.distortion_model)

    def rectified(self) -> 'PinholeCamera':
        """Return the camera of the rectified image: ``K = P[:, :3]``, no distortion, R = I."""
        return PinholeCamera(width=self.width, height=self.height, K=self.P[:, :3],
                             P=self.P, distortion_model='plumb_bob')

    # ------------------------------------------------------------------ projection
    def project(self, points_cam) -> tuple:
        """Project 3-D points into the rectified image with P.

        Args:
            points_cam: (N, 3) float metres in the (rectified) camera optical frame.

        Returns:
            uv: (N, 2) float64 pixels (column, row); NaN where ``z <= 0`` or not finite.
            z: (N,) float64 metres, depth along the optical axis.
        """
        pts = _as_points(points_cam, 3, 'points_cam')
        x, y, z = pts[:, 0], pts[:, 1], pts[:, 2].copy()
        P = self.P
        uv = np.empty((pts.shape[0], 2), dtype=np.float64)
        # Explicit column arithmetic: (N, 3) @ (3, 3) matmul is far slower for large N.
        with np.errstate(divide='ignore', invalid='ignore'):
            inv_w = 1.0 / (P[2, 0] * x + P[2, 1] * y + P[2, 2] * z + P[2, 3])
            uv[:, 0] = (P[0, 0] * x + P[0, 1] * y + P[0, 2] * z + P[0, 3]) * inv_w
            uv[:, 1] = (P[1, 0] * x + P[1, 1] * y + P[1, 2] * z + P[1, 3]) * inv_w
            bad = ~(z > 0) | ~np.isfinite(uv[:, 0]) | ~np.isfinite(uv[:, 1])
        uv[bad] = np.nan
        return uv, z

    def project_raw(self, points_cam) -> tuple:
        """Project 3-D points into the raw (distorted) image with R, D and K.

        Args:
            points_cam: (N, 3) float metres in the camera optical frame.

        Returns:
            uv: (N, 2) float64 raw-image pixels; NaN where ``z <= 0`` or not finite.
            z: (N,) float64 metres, depth along the optical axis.
        """
        pts = _as_points(points_cam, 3, 'points_cam')
        z = pts[:, 2].copy()
        with np.errstate(divide='ignore', invalid='ignore'):
            xy = pts[:, :2] / z[:, None]
        uv = self._apply_k(self.distort_normalized(xy))
        bad = ~(z > 0) | ~np.all(np.isfinite(uv), axis=1)
        uv[bad] = np.nan
        return uv, z

    def distort_normalized(self, xy) -> np.ndarray:
        """Apply the lens distortion to normalised coordinates.

        Args:
            xy: (N, 2) float undistorted normalised coordinates ``(X/Z, Y/Z)``.

        Returns:
            (N, 2) float64 distorted normalised coordinates.
        """
        xy = _as_points(xy, 2, 'xy')
        if not self.is_distorted:
            return np.array(xy)
        x, y = xy[:, 0], xy[:, 1]
        radial, tx, ty = self._distortion_terms(x, y)
        return np.stack([x * radial + tx, y * radial + ty], axis=1)

    def undistort_normalized(self, xy_distorted, iterations: int = 20) -> np.ndarray:
        """Invert :meth:`distort_normalized` by fixed-point iteration (as OpenCV does).

        Args:
            xy_distorted: (N, 2) float distorted normalised coordinates.
            iterations: number of fixed-point iterations.

        Returns:
            (N, 2) float64 undistorted normalised coordinates.
        """
        xy_d = _as_points(xy_distorted, 2, 'xy_distorted')
        if not self.is_distorted:
            return np.array(xy_d)
        x, y = xy_d[:, 0].copy(), xy_d[:, 1].copy()
        for _ in range(int(iterations)):
            radial, tx, ty = self._distortion_terms(x, y)
            with np.errstate(divide='ignore', invalid='ignore'):
                x = (xy_d[:, 0] - tx) / radial
                y = (xy_d[:, 1] - ty) / radial
        return np.stack([x, y], axis=1)

    def undistort_points(self, uv_raw, iterations: int = 20) -> np.ndarray:
        """Map raw-image pixels to rectified-image pixels (like ``cv2.undistortPoints`` with R, P).

        Args:
            uv_raw: (N, 2) float raw-image pixels.
            iterations: fixed-point iterations of the undistortion.

        Returns:
            (N, 2) float64 rectified-image pixels.
        """
        uv = _as_points(uv_raw, 2, 'uv_raw')
        fx, fy, cx, cy, skew = (self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2],
                                self.K[0, 1])
        y_d = (uv[:, 1] - cy) / fy
        x_d = (uv[:, 0] - cx - skew * y_d) / fx
        xy = self.undistort_normalized(np.stack([x_d, y_d], axis=1), iterations)
        ray = np.concatenate([xy, np.ones((len(xy), 1))], axis=1) @ self.R.T
        hom = ray @ self.P[:, :3].T
        with np.errstate(divide='ignore', invalid='ignore'):
            return hom[:, :2] / hom[:, 2:3]

    def distort_points(self, uv_rect) -> np.ndarray:
        """Map rectified-image pixels to raw-image pixels (inverse of :meth:`undistort_points`).

        Args:
            uv_rect: (N, 2) float rectified-image pixels.

        Returns:
            (N, 2) float64 raw-image pixels.
        """
        uv = _as_points(uv_rect, 2, 'uv_rect')
        hom = np.concatenate([uv, np.ones((len(uv), 1))], axis=1)
        ray = hom @ np.linalg.inv(self.P[:, :3]).T
        ray = ray @ self.R  # R^T applied to row vectors
        with np.errstate(divide='ignore', invalid='ignore'):
            xy = ray[:, :2] / ray[:, 2:3]
        return self._apply_k(self.distort_normalized(xy))

    def rays(self) -> np.ndarray:
        """Return per-pixel rays of the rectified image.

        Returns:
            (H, W, 3) float32 ray directions ``((u - cx) / fx, (v - cy) / fy, 1)`` (unit z),
            so ``rays * depth_m[..., None]`` are the 3-D points in metres.
        """
        u = (np.arange(self.width, dtype=np.float64) - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float64) - self.cy) / self.fy
        out = np.empty((self.height, self.width, 3), dtype=np.float32)
        out[..., 0] = u[None, :]
        out[..., 1] = v[:, None]
        out[..., 2] = 1.0
        return out

    # ------------------------------------------------------------------ helpers
    def _apply_k(self, xy: np.ndarray) -> np.ndarray:
        K = self.K
        uv = np.empty_like(xy)
        uv[:, 0] = K[0, 0] * xy[:, 0] + K[0, 1] * xy[:, 1] + K[0, 2]
        uv[:, 1] = K[1, 1] * xy[:, 1] + K[1, 2]
        return uv

    def _distortion_terms(self, x: np.ndarray, y: np.ndarray) -> tuple:
        d = self.D
        r2 = x * x + y * y
        r4 = r2 * r2
        r6 = r4 * r2
        radial = 1.0 + d[0] * r2 + d[1] * r4 + d[4] * r6
        if self.distortion_model == 'rational_polynomial':
            radial = radial / (1.0 + d[5] * r2 + d[6] * r4 + d[7] * r6)
        tx = 2.0 * d[2] * x * y + d[3] * (r2 + 2.0 * x * x)
        ty = d[2] * (r2 + 2.0 * y * y) + 2.0 * d[3] * x * y
        return radial, tx, ty


def _positive_size(width, height) -> tuple:
    try:
        w, h = int(width), int(height)
    except (TypeError, ValueError):
        raise InputError(f'image size must be integers, got width={width!r} '
                         f'height={height!r}') from None
    if w != width or h != height or w <= 0 or h <= 0:
        raise InputError(f'image size must be positive integers, got width={width!r} '
                         f'height={height!r}')
    return w, h
