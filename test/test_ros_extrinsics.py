# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The extrinsics policy as a plain object: same frame, tf2 lookup, static parameters, none."""

import numpy as np
import pytest

from promptda_ros.core.errors import CalibrationError, PromptDAError
from promptda_ros.core.transforms import make_transform
from promptda_ros.ros.extrinsics import Extrinsics
from promptda_ros.ros.params import PerceptionParams
from promptda_ros.serving import Rejected

CAMERA, LIDAR = 'camera_optical_frame', 'lidar'


def _policy(lookup=None, **params):
    statuses = []
    current = PerceptionParams(**params)
    return Extrinsics(lambda: current, lookup, statuses.append), statuses


def test_same_frame_needs_no_transform():
    policy, statuses = _policy()
    assert policy.transform(CAMERA, CAMERA, 0) is None
    assert statuses == ['same frame']
    assert policy.mode == 'static parameters if set, else none (frames must match)'


def test_another_frame_without_any_source_is_refused_not_guessed():
    policy, statuses = _policy()
    with pytest.raises(Rejected) as info:
        policy.transform(LIDAR, CAMERA, 0)
    assert info.value.kind == 'extrinsics' and statuses[-1].startswith('no extrinsics')


def test_static_parameters_when_set_or_asked_for():
    t, q = [0.1, -0.2, 0.3], [0.0, 0.0, 0.70710678, 0.70710678]
    policy, statuses = _policy(lidar_to_camera_translation=t, lidar_to_camera_rotation_xyzw=q)
    np.testing.assert_allclose(policy.transform(LIDAR, CAMERA, 5), make_transform(t, q))
    assert statuses == [f'static {LIDAR} -> {CAMERA}']
    identity, _ = _policy(extrinsics_source='static')
    assert identity.mode == 'static parameters'
    np.testing.assert_array_equal(identity.transform(LIDAR, CAMERA, 5), np.eye(4))


def test_tf2_lookup_at_the_sweep_stamp_with_the_current_timeout():
    calls = []

    def lookup(target, source, stamp_ns, timeout_s):
        calls.append((target, source, stamp_ns, timeout_s))
        if source != LIDAR:
            raise CalibrationError(f'no frame {source}')
        return (1.0, 2.0, 3.0), (0.0, 0.0, 0.0, 1.0)

    policy, statuses = _policy(lookup, tf_timeout_s=0.2,
                               lidar_to_camera_translation=[9.0, 9.0, 9.0])
    assert policy.mode == 'tf2'
    T = policy.transform(LIDAR, CAMERA, 1_700_000_000_123_456_789)
    np.testing.assert_array_equal(T[:3, 3], [1.0, 2.0, 3.0])  # tf2 wins over parameters
    assert calls == [(CAMERA, LIDAR, 1_700_000_000_123_456_789, 0.2)]
    with pytest.raises(Rejected) as info:
        policy.transform('nowhere', CAMERA, 7)
    assert info.value.kind == 'tf' and statuses[-1] == 'lookup failed: no frame nowhere'


def test_tf_source_without_tf2_is_a_configuration_error():
    with pytest.raises(PromptDAError, match='tf2_ros'):
        _policy(extrinsics_source='tf')
