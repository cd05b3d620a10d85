# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Tests of LiDAR -> prompt-grid projection with a z-buffer."""

import numpy as np
import pytest

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.core.projection import check_prompt_aspect, project_to_grid
from promptda_ros.core.prompt import build_prompt, validate_prompt
from promptda_ros.core.transforms import make_transform, transform_points


def _point_at(cam, u, v, z):
    return [(u - cam.cx) * z / cam.fx, (v - cam.cy) * z / cam.fy, z]


def test_off_centre_principal_point_exact_pixels_and_depths():
    # Principal point far from the image centre (15.5, 11.5).
    cam = PinholeCamera.from_intrinsics(100.0, 80.0, 5.0, 18.0, 32, 24)
    pts = np.array([
        _point_at(cam, 5, 18, 2.0),      # on the optical axis -> cell (18, 5)
        _point_at(cam, 0, 0, 1.5),       # top-left cell
        _point_at(cam, 31, 23, 4.0),     # bottom-right cell
        _point_at(cam, 20, 3, 3.0),      # collision: farther point ...
        _point_at(cam, 20, 3, 2.5),      # ... nearer point in the same cell wins
        _point_at(cam, 20, 3, 2.75),     # ... and a middle one
        [0.1, 0.1, -2.0],                # behind the camera
        [0.0, 0.0, 0.0],                 # at the camera centre
        _point_at(cam, 40, 3, 2.0),      # right of the image
        _point_at(cam, -1, 3, 2.0),      # left of the image
        [np.nan, 0.0, 2.0],
        [0.0, np.inf, 2.0],
    ])
    grid = project_to_grid(pts, cam)
    assert grid.shape == (24, 32) and grid.dtype == np.float32
    expected = np.zeros((24, 32), np.float32)
    expected[18, 5] = 2.0
    expected[0, 0] = 1.5
    expected[23, 31] = 4.0
    expected[3, 20] = 2.5
    np.testing.assert_array_equal(grid, expected)


def test_projection_onto_scaled_grid_uses_pixel_edge_convention():
    cam = PinholeCamera.from_intrinsics(500.0, 500.0, 200.0, 300.0, 640, 480)
    # Full-res pixel (u, v) lands on grid cell round((u + 0.5) / 4 - 0.5).
    us = np.array([200.0, 1.5, 638.0, 401.7])
    vs = np.array([300.0, 2.0, 477.0, 100.2])
    pts = np.array([_point_at(cam, u, v, 1.0 + i) for i, (u, v) in enumerate(zip(us, vs))])
    grid = project_to_grid(pts, cam, grid_hw=(120, 160))
    cols = np.floor((us + 0.5) / 4 - 0.5 + 0.5).astype(int)
    rows = np.floor((vs + 0.5) / 4 - 0.5 + 0.5).astype(int)
    expected = np.zeros((120, 160), np.float32)
    expected[rows, cols] = 1.0 + np.arange(4)
    np.testing.assert_array_equal(grid, expected)


def test_zbuffer_matches_brute_force_reference():
    rng = np.random.default_rng(3)
    cam = PinholeCamera.from_intrinsics(60.0, 55.0, 9.3, 14.1, 24, 20)
    pts = rng.uniform([-0.8, -0.8, -1], [0.8, 0.8, 6], size=(3000, 3))
    grid = project_to_grid(pts, cam, min_depth=0.3, max_depth=5.0)
    ref = np.zeros((20, 24))
    for x, y, z in pts:  # reference implementation, deliberately a loop
        if not (0.3 < z <= 5.0):
            continue
        u = cam.fx * x / z + cam.cx
        v = cam.fy * y / z + cam.cy
        c, r = int(np.floor(u + 0.5)), int(np.floor(v + 0.5))
        if 0 <= c < 24 and 0 <= r < 20 and (ref[r, c] == 0 or z < ref[r, c]):
            ref[r, c] = z
    np.testing.assert_array_equal(grid, ref.astype(np.float32))
    assert 200 < np.count_nonzero(grid) < 2000  # many cells, with collisions


def test_lidar_frame_points_through_extrinsic():
    cam = PinholeCamera.from_intrinsics(50.0, 50.0, 20.0, 10.0, 40, 30)
    # LiDAR x forward, camera z forward: T_cam_lidar rotates x->z, y->-x, z->-y.
    R = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    from promptda_ros.core.transforms import matrix_to_quat
    T_cam_lidar = make_transform([0.0, 0.1, 0.0], matrix_to_quat(R))
    pts_lidar = np.array([[3.0, 0.0, 0.1]])  # 3 m ahead, 0.1 m up -> camera y = -0.1 + 0.1
    grid = project_to_grid(transform_points(T_cam_lidar, pts_lidar), cam)
    assert grid[10, 20] == pytest.approx(3.0)
    assert np.count_nonzero(grid) == 1


def test_empty_and_invalid_only_clouds_give_empty_grid_then_prompt_error():
    cam = PinholeCamera.from_intrinsics(50.0, 50.0, 20.0, 10.0, 40, 30)
    for pts in (np.zeros((0, 3)), np.full((10, 3), np.nan), np.array([[0.0, 0.0, -1.0]] * 5),
                np.array([[np.inf, -np.inf, 1.0]])):
        grid = project_to_grid(pts, cam)
        assert grid.shape == (30, 40) and not np.any(grid)
        with pytest.raises(PromptError, match='too few valid cells'):
            validate_prompt(grid)
        with pytest.raises(PromptError, match='too few valid cells'):
            build_prompt(pts, cam, (15, 20))


@pytest.mark.parametrize('pts, kwargs, fragment', [
    (np.zeros((5, 2)), {}, r'\(N, 3\)'),
    (np.zeros(3), {}, r'\(N, 3\)'),
    (np.array([['a', 'b', 'c']]), {}, 'numeric'),
    (np.zeros((5, 3)), dict(grid_hw=(0, 10)), 'positive'),
    (np.zeros((5, 3)), dict(grid_hw=(10,)), 'grid_hw'),
    (np.zeros((5, 3)), dict(min_depth=-1.0), 'min_depth'),
    (np.zeros((5, 3)), dict(min_depth=2.0, max_depth=1.0), 'max_depth'),
])
def test_bad_projection_input_raises(pts, kwargs, fragment):
    cam = PinholeCamera.from_intrinsics(50.0, 50.0, 20.0, 10.0, 40, 30)
    with pytest.raises(InputError, match=fragment):
        project_to_grid(pts, cam, **kwargs)


def test_camera_type_checked():
    with pytest.raises(InputError, match='PinholeCamera'):
        project_to_grid(np.zeros((1, 3)), object())


def test_organized_cloud_accepted_and_distortion_option():
    cam = PinholeCamera(width=40, height=30, K=[[50.0, 0, 20], [0, 50.0, 15], [0, 0, 1]],
                        D=[0.3, 0.0, 0.0, 0.0, 0.0])
    pts = np.array([[[0.36, 0.2, 1.0]]])  # (1, 1, 3) organized
    rect = project_to_grid(pts, cam)
    raw = project_to_grid(pts, cam, use_distortion=True)
    assert np.argwhere(rect > 0).tolist() == [[25, 38]]
    # k1 = 0.3, r^2 = 0.1696: radial factor 1.05088 -> u = 38.92, v = 25.51.
    assert np.argwhere(raw > 0).tolist() == [[26, 39]]


def test_prompt_aspect_within_five_percent_and_transposed_refused():
    check_prompt_aspect((480, 640), (192, 256))
    check_prompt_aspect((1440, 1920), (190, 256))  # 1 % off: a rounded grid
    check_prompt_aspect((352, 1216), (352, 1216))
    with pytest.raises(InputError, match="does not have the image's aspect ratio"):
        check_prompt_aspect((480, 640), (256, 192))
    with pytest.raises(InputError, match="does not have the image's aspect ratio"):
        check_prompt_aspect((480, 640), (192, 192))
