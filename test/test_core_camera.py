# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Tests of the pinhole camera model."""

import copy
import pickle

import cv2
import numpy as np
import pytest

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import CalibrationError, InputError, PromptDAError


def _camera(D=None, P=None):
    K = [[500.0, 0.0, 300.5], [0.0, 510.0, 250.25], [0.0, 0.0, 1.0]]
    return PinholeCamera(width=640, height=480, K=K, D=D, P=P)


def test_from_intrinsics_properties_and_p_from_k():
    cam = PinholeCamera.from_intrinsics(400.0, 410.0, 330.0, 200.0, 640, 480)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (400.0, 410.0, 330.0, 200.0)
    np.testing.assert_array_equal(cam.P[:, :3], cam.K)
    np.testing.assert_array_equal(cam.R, np.eye(3))
    assert cam.D.shape == (5,) and not cam.is_distorted
    assert cam.size_hw == (480, 640)


def test_intrinsics_read_from_p_not_k():
    K = [[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]
    P = [[450.0, 0, 310, 0], [0, 455.0, 235, 0], [0, 0, 1, 0]]
    cam = PinholeCamera(width=640, height=480, K=K, P=P, D=[0.1, 0, 0, 0, 0])
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (450.0, 455.0, 310.0, 235.0)


def test_all_zero_p_falls_back_to_k():
    cam = _camera(P=np.zeros(12))
    np.testing.assert_array_equal(cam.P[:, :3], cam.K)
    np.testing.assert_array_equal(cam.P[:, 3], 0.0)
    assert cam.cx == 300.5


def test_camera_is_immutable_and_comparable():
    cam = _camera()
    with pytest.raises(ValueError):
        cam.K[0, 0] = 1.0
    with pytest.raises(AttributeError):
        cam.width = 3
    assert cam == _camera()
    assert cam != cam.scaled(320, 240)
    assert hash(cam) == hash(_camera())
    for clone in (pickle.loads(pickle.dumps(cam)), copy.deepcopy(cam), copy.copy(cam)):
        assert clone == cam
        with pytest.raises(ValueError):
            clone.P[0, 0] = 1.0


@pytest.mark.parametrize('kwargs, fragment', [
    (dict(K=np.zeros((3, 3))), 'uncalibrated'),
    (dict(K=[[-5.0, 0, 1], [0, 5.0, 1], [0, 0, 1]]), 'focal'),
    (dict(K=[[np.nan, 0, 1], [0, 5.0, 1], [0, 0, 1]]), 'NaN'),
    (dict(K=np.eye(2)), 'K must have 9'),
    (dict(K=np.eye(3), width=0), 'size must be positive'),
    (dict(K=np.eye(3), width=2.5), 'width must be an integer'),
    (dict(K=np.eye(3), D=[0.1, 0.2, 0.0]), None),
    (dict(K=np.eye(3), D=np.ones(7)), 'coefficients'),
    (dict(K=np.eye(3), distortion_model='equidistant', D=[0.1, 0, 0, 0]), 'unsupported'),
    (dict(K=np.eye(3), R=np.diag([1.0, 1.0, -1.0])), 'rotation'),
    (dict(K=np.eye(3), P=[[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 2.0, 0]]), 'last row'),
])
def test_bad_intrinsics_raise_calibration_error(kwargs, fragment):
    args = dict(width=64, height=48)
    args.update(kwargs)
    if fragment is None:  # short D is zero-padded (ROS drivers send 4 or 5 coefficients)
        cam = PinholeCamera(**args)
        np.testing.assert_array_equal(cam.D, [0.1, 0.2, 0.0, 0.0, 0.0])
        return
    with pytest.raises(CalibrationError, match=fragment):
        PinholeCamera(**args)
    assert issubclass(CalibrationError, PromptDAError)


def test_scaled_pixel_edge_convention():
    cam = _camera()
    half = cam.scaled(320, 240)
    assert half.fx == pytest.approx(250.0)
    assert half.fy == pytest.approx(255.0)
    assert half.cx == pytest.approx((300.5 + 0.5) * 0.5 - 0.5)
    assert half.cy == pytest.approx((250.25 + 0.5) * 0.5 - 0.5)
    np.testing.assert_allclose(half.K, half.P[:, :3])
    # The centre of the image maps to the centre of the resized image.
    small = PinholeCamera.from_intrinsics(100.0, 100.0, 319.5, 239.5, 640, 480).scaled(64, 48)
    assert (small.cx, small.cy) == pytest.approx((31.5, 23.5))
    # Round trip.
    back = half.scaled(640, 480)
    np.testing.assert_allclose(back.P, cam.P, atol=1e-12)


def test_scaled_projection_is_consistent_with_resizing():
    cam = _camera()
    rng = np.random.default_rng(0)
    pts = rng.uniform([-1, -1, 1], [1, 1, 5], size=(200, 3))
    uv, _ = cam.project(pts)
    for w, h in [(320, 240), (256, 192), (1280, 960), (100, 37)]:
        uv_s, z_s = cam.scaled(w, h).project(pts)
        sx, sy = w / 640, h / 480
        expected = np.stack([(uv[:, 0] + 0.5) * sx - 0.5, (uv[:, 1] + 0.5) * sy - 0.5], axis=1)
        np.testing.assert_allclose(uv_s, expected, atol=1e-9)
        np.testing.assert_array_equal(z_s, pts[:, 2])


def test_cropped_shifts_principal_point_and_checks_bounds():
    cam = _camera()
    crop = cam.cropped(10, 20, 300, 200)
    assert (crop.cx, crop.cy, crop.width, crop.height) == (290.5, 230.25, 300, 200)
    pts = np.array([[0.1, -0.2, 2.0]])
    np.testing.assert_allclose(crop.project(pts)[0], cam.project(pts)[0] - [10, 20])
    with pytest.raises(InputError, match='outside'):
        cam.cropped(400, 0, 300, 10)
    with pytest.raises(InputError, match='positive'):
        cam.cropped(0, 0, 0, 10)


def test_project_off_centre_and_behind():
    cam = PinholeCamera.from_intrinsics(100.0, 200.0, 10.0, 20.0, 64, 48)
    pts = np.array([[0.0, 0.0, 2.0], [1.0, 0.5, 2.0], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0],
                    [np.nan, 0.0, 1.0]])
    uv, z = cam.project(pts)
    np.testing.assert_allclose(uv[0], [10.0, 20.0])
    np.testing.assert_allclose(uv[1], [10.0 + 100.0 * 0.5, 20.0 + 200.0 * 0.25])
    assert np.all(np.isnan(uv[2:]))
    np.testing.assert_array_equal(z[:4], [2.0, 2.0, -1.0, 0.0])
    with pytest.raises(InputError, match=r'\(N, 3\)'):
        cam.project(np.zeros((3, 2)))


def test_distortion_matches_opencv_and_round_trips():
    D = [0.12, -0.05, 0.001, -0.002, 0.01]
    P = [[480.0, 0, 310.0, 0], [0, 490.0, 245.0, 0], [0, 0, 1, 0]]
    cam = _camera(D=D, P=P)
    rng = np.random.default_rng(1)
    pts = rng.uniform([-0.6, -0.4, 1.0], [0.6, 0.4, 3.0], size=(300, 3))
    uv_raw, _ = cam.project_raw(pts)
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), cam.K, cam.D)
    np.testing.assert_allclose(uv_raw, ref.reshape(-1, 2), atol=1e-6)
    uv_rect = cam.undistort_points(uv_raw)
    np.testing.assert_allclose(uv_rect, cam.project(pts)[0], atol=1e-6)
    np.testing.assert_allclose(cam.distort_points(uv_rect), uv_raw, atol=1e-6)
    ref_rect = cv2.undistortPointsIter(
        uv_raw.reshape(-1, 1, 2), cam.K, cam.D, cam.R, cam.P[:, :3],
        (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)).reshape(-1, 2)
    np.testing.assert_allclose(uv_rect, ref_rect, atol=1e-6)


def test_rational_polynomial_round_trip():
    D = [0.1, -0.02, 0.001, 0.001, 0.0, 0.05, 0.01, 0.0]
    cam = PinholeCamera(width=640, height=480, K=[[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]],
                        D=D, distortion_model='rational_polynomial')
    pts = np.array([[0.3, -0.2, 1.5], [-0.4, 0.3, 2.0]])
    uv_raw, _ = cam.project_raw(pts)
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), cam.K, cam.D)
    np.testing.assert_allclose(uv_raw, ref.reshape(-1, 2), atol=1e-6)
    np.testing.assert_allclose(cam.undistort_points(uv_raw), cam.project(pts)[0], atol=1e-6)


def test_rays_use_principal_point():
    cam = PinholeCamera.from_intrinsics(100.0, 50.0, 12.0, 7.0, 32, 24)
    rays = cam.rays()
    assert rays.shape == (24, 32, 3) and rays.dtype == np.float32
    np.testing.assert_allclose(rays[7, 12], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(rays[0, 0], [-0.12, -0.14, 1.0], rtol=1e-6)
    # A ray scaled by depth re-projects onto its own pixel.
    pts = (rays * 3.0).reshape(-1, 3)
    uv, _ = cam.project(pts)
    vv, uu = np.mgrid[0:24, 0:32]
    np.testing.assert_allclose(uv, np.stack([uu.ravel(), vv.ravel()], axis=1), atol=1e-4)
