# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Tests of depth back-projection, rgb packing and PLY IO."""

import numpy as np
import pytest

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.core.pointcloud import (
    depth_to_points,
    pack_rgb,
    read_ply,
    unpack_rgb,
    write_ply,
)
from promptda_ros.core.projection import project_to_grid


def test_back_projection_about_principal_point():
    cam = PinholeCamera.from_intrinsics(100.0, 200.0, 3.0, 1.0, 8, 6)
    depth = np.full((6, 8), 2.0, np.float32)
    depth[0, 0] = np.nan
    depth[0, 1] = 0.0
    depth[0, 2] = -1.0
    depth[0, 3] = np.inf
    pts = depth_to_points(depth, cam)
    assert pts.shape == (6, 8, 3) and pts.dtype == np.float32
    assert np.all(np.isnan(pts[0, :4]))
    np.testing.assert_allclose(pts[1, 3], [0.0, 0.0, 2.0])          # (cx, cy) -> optical axis
    np.testing.assert_allclose(pts[5, 7], [(7 - 3) * 2 / 100, (5 - 1) * 2 / 200, 2.0],
                               rtol=1e-6)


def test_back_projection_inverts_projection():
    cam = PinholeCamera.from_intrinsics(40.0, 42.0, 11.3, 5.7, 24, 16)
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 4.0, (16, 24)).astype(np.float32)
    pts = depth_to_points(depth, cam)
    np.testing.assert_array_equal(project_to_grid(pts.reshape(-1, 3), cam), depth)


def test_depth_camera_size_mismatch_raises():
    cam = PinholeCamera.from_intrinsics(40.0, 42.0, 11.3, 5.7, 24, 16)
    with pytest.raises(InputError, match='does not match the camera 24x16'):
        depth_to_points(np.ones((16, 23), np.float32), cam)
    with pytest.raises(InputError, match=r'\(H, W\)'):
        depth_to_points(np.ones(5), cam)


def test_pack_rgb_matches_ros_bit_layout():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [1, 2, 3]]], np.uint8)
    packed = pack_rgb(rgb)
    assert packed.dtype == np.float32 and packed.shape == (1, 4)
    np.testing.assert_array_equal(packed.view(np.uint32),
                                  [[0xFF0000, 0x00FF00, 0x0000FF, 0x010203]])
    np.testing.assert_array_equal(unpack_rgb(packed), rgb)
    with pytest.raises(InputError, match='uint8'):
        pack_rgb(np.zeros((2, 2, 3), np.float32))


def test_ply_round_trip_skips_nan(tmp_path):
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(4, 5, 3)).astype(np.float32)
    pts[1, 2] = np.nan
    colors = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    path = tmp_path / 'cloud.ply'
    assert write_ply(path, pts, colors) == 19
    head = path.read_bytes()[:200]
    assert head.startswith(b'ply\nformat binary_little_endian 1.0\n')
    back, back_colors = read_ply(path)
    keep = np.ones((4, 5), bool)
    keep[1, 2] = False
    np.testing.assert_array_equal(back, pts[keep])
    np.testing.assert_array_equal(back_colors, colors[keep])
    write_ply(tmp_path / 'plain.ply', pts.reshape(-1, 3))
    plain, none = read_ply(tmp_path / 'plain.ply')
    assert none is None and plain.shape == (19, 3)


def test_ply_bad_input(tmp_path):
    with pytest.raises(InputError, match='colors'):
        write_ply(tmp_path / 'x.ply', np.zeros((3, 3)), np.zeros((2, 3), np.uint8))
    with pytest.raises(InputError, match=r'\(N, 3\)'):
        write_ply(tmp_path / 'x.ply', np.zeros((3, 2)))
    (tmp_path / 'bad.ply').write_bytes(b'not a ply')
    with pytest.raises(InputError, match='not a PLY'):
        read_ply(tmp_path / 'bad.ply')
