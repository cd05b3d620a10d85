# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Tests of quaternions and rigid transforms."""

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from promptda_ros.core.errors import CalibrationError, InputError
from promptda_ros.core.transforms import (
    invert_transform,
    make_transform,
    matrix_to_quat,
    quat_to_matrix,
    split_transform,
    transform_points,
)

_finite = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)
quaternions = st.tuples(_finite, _finite, _finite, _finite).filter(
    lambda q: np.linalg.norm(q) > 1e-3)


@settings(max_examples=300, deadline=None)
@given(quaternions)
def test_quaternion_matrix_round_trip(q):
    q = np.asarray(q) / np.linalg.norm(q)
    R = quat_to_matrix(q)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    q2 = matrix_to_quat(R)
    assert q2[3] >= 0.0
    assert np.linalg.norm(q2) == pytest.approx(1.0)
    # q and -q are the same rotation; the result is the w >= 0 representative.
    expected = q if q[3] >= 0 else -q
    if abs(q[3]) > 1e-9:
        np.testing.assert_allclose(q2, expected, atol=1e-9)
    np.testing.assert_allclose(quat_to_matrix(q2), R, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(quaternions, st.tuples(_finite, _finite, _finite))
def test_transform_inverse_round_trip(q, t):
    T = make_transform(np.asarray(t) * 10.0, q)
    pts = np.random.default_rng(0).normal(size=(20, 3))
    back = transform_points(invert_transform(T), transform_points(T, pts))
    np.testing.assert_allclose(back, pts, atol=1e-9)
    np.testing.assert_allclose(T @ invert_transform(T), np.eye(4), atol=1e-12)
    t2, q2 = split_transform(T)
    np.testing.assert_allclose(make_transform(t2, q2), T, atol=1e-12)


def test_known_rotation_and_convention():
    # 90 deg about z: x axis of frame b points along y of frame a.
    q = [0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]
    T_a_b = make_transform([1.0, 2.0, 3.0], q)
    np.testing.assert_allclose(transform_points(T_a_b, [[1.0, 0.0, 0.0]]), [[1.0, 3.0, 3.0]],
                               atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix([0, 0, 0, 2.0]), np.eye(3))
    np.testing.assert_allclose(matrix_to_quat(np.diag([1.0, -1.0, -1.0])), [1, 0, 0, 0],
                               atol=1e-12)


def test_float32_points_stay_float32():
    T = make_transform([0.5, 0, 0], [0, 0, 0, 1])
    out = transform_points(T, np.ones((4, 3), dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[1.5, 1, 1]] * 4)


@pytest.mark.parametrize('call, fragment', [
    (lambda: quat_to_matrix([0, 0, 0, 0]), 'zero norm'),
    (lambda: quat_to_matrix([0, 0, np.nan, 1]), 'NaN'),
    (lambda: quat_to_matrix([0, 0, 1]), 'shape'),
    (lambda: matrix_to_quat(np.ones((3, 3))), 'rotation'),
    (lambda: matrix_to_quat(np.diag([1.0, 1.0, -1.0])), 'rotation'),
    (lambda: make_transform([0, 0], [0, 0, 0, 1]), 'translation'),
    (lambda: invert_transform(np.ones((4, 4))), 'last row'),
    (lambda: invert_transform(np.eye(3)), 'shape'),
])
def test_bad_transforms_raise(call, fragment):
    with pytest.raises(CalibrationError, match=fragment):
        call()


def test_bad_points_raise_input_error():
    with pytest.raises(InputError, match=r'\(N, 3\)'):
        transform_points(np.eye(4), np.zeros((5, 2)))
