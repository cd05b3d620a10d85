# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Flicker (temporal stability) and TSDF reconstruction scores on a synthetic room."""

import math

import numpy as np
import pytest

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import CalibrationError, InputError
from promptda_ros.eval.recon import recon_scores, TSDFFusion
from promptda_ros.eval.temporal import flicker

H, W = 60, 80
CAM = PinholeCamera.from_intrinsics(70.0, 70.0, 39.5, 29.5, W, H)
# Room planes n . X = d in world coordinates (world = first camera: x right, y down, z forward).
PLANES = [((0.0, 0.0, 1.0), 4.0),      # back wall
          ((0.0, 1.0, 0.0), 1.2),      # floor
          ((1.0, 0.0, 0.0), -1.8),     # left wall
          ((1.0, 0.0, 0.0), 2.0),      # right wall
          ((0.0, 1.0, 0.0), -1.5),     # ceiling
          ((0.3, 0.0, 1.0), 3.8)]      # slanted panel in front of the back wall


def pose(tx: float, yaw_deg: float = 0.0) -> np.ndarray:
    a = math.radians(yaw_deg)
    T = np.eye(4)
    T[:3, :3] = [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]
    T[0, 3] = tx
    return T


def render(T_world_cam: np.ndarray) -> np.ndarray:
    """Ray-cast the room: (H, W) float32 depth (z in the camera frame), metres."""
    rays = CAM.rays().reshape(-1, 3).astype(np.float64)           # camera frame, z = 1
    dirs = rays @ T_world_cam[:3, :3].T
    origin = T_world_cam[:3, 3]
    best = np.full(rays.shape[0], np.inf)
    for n, d in PLANES:
        n = np.asarray(n)
        denom = dirs @ n
        with np.errstate(divide='ignore', invalid='ignore'):
            t = (d - origin @ n) / denom
        t[~np.isfinite(t) | (t <= 0)] = np.inf
        best = np.minimum(best, t)
    return best.reshape(H, W).astype(np.float32)  # t along a z=1 ray is the z depth


def test_flicker_zero_for_perfect_prediction_and_positive_for_noise_static():
    gt = render(pose(0.0))
    val, n = flicker(gt, gt, gt, gt)
    assert val == 0.0 and n == H * W
    rng = np.random.default_rng(0)
    sigma = 0.02
    a = gt + rng.normal(0, sigma, gt.shape).astype(np.float32)
    b = gt + rng.normal(0, sigma, gt.shape).astype(np.float32)
    val, _ = flicker(a, b, gt, gt)
    assert val == pytest.approx(2 * sigma / math.sqrt(math.pi), rel=0.1)
    # a constant bias is stable: no flicker
    val, _ = flicker(gt + 0.3, gt + 0.3, gt, gt)
    assert val == pytest.approx(0.0, abs=1e-6)


def test_flicker_with_poses_follows_the_camera():
    Ta, Tb = pose(0.0), pose(0.08, yaw_deg=2.0)
    ga, gb = render(Ta), render(Tb)
    val, n = flicker(ga, gb, ga, gb, CAM, Ta, Tb)
    assert n > 0.6 * H * W
    assert val == pytest.approx(0.0, abs=1e-6)
    # a biased but geometrically consistent prediction is stable too
    val, _ = flicker(ga * 1.1, gb * 1.1, ga, gb, CAM, Ta, Tb)
    assert val < 0.02
    # a stale prediction (the previous depth image repeated) flickers in a moving camera
    stale, _ = flicker(ga, ga, ga, gb, CAM, Ta, Tb)
    assert stale > 0.01
    # without poses, the camera motion hides most pixels from the static test
    _, n_static = flicker(ga, gb, ga, gb)
    assert n_static < n


def test_flicker_errors():
    g = np.ones((4, 4))
    with pytest.raises(InputError):
        flicker(g, g, g, np.ones((4, 5)))
    with pytest.raises(CalibrationError, match='both poses'):
        flicker(g, g, g, g, CAM, np.eye(4), None)
    with pytest.raises(CalibrationError, match='intrinsics'):
        flicker(g, g, g, g, None, np.eye(4), np.eye(4))
    val, n = flicker(g, g, g * np.nan, g)
    assert n == 0 and math.isnan(val)


TRAJ = [pose(0.15 * i - 0.3, yaw_deg=6.0 * i - 12.0) for i in range(5)]


def _fuse(depths):
    fusion = TSDFFusion(voxel_length=0.04, sdf_trunc=0.12, depth_trunc=8.0)
    for d, T in zip(depths, TRAJ):
        fusion.integrate(d, CAM, T)
    assert fusion.n_frames == len(TRAJ)
    return fusion.extract_points()


def test_recon_identical_depth_scores_one_and_perturbed_lower():
    gts = [render(T) for T in TRAJ]
    ref = _fuse(gts)
    assert ref.shape[0] > 1000
    same = recon_scores(_fuse(gts), ref)
    assert same['fscore'] > 0.999 and same['acc'] < 1e-6 and same['comp'] < 1e-6
    rng = np.random.default_rng(0)
    noisy = recon_scores(_fuse([g + rng.normal(0, 0.05, g.shape).astype(np.float32)
                                for g in gts]), ref)
    shifted = recon_scores(_fuse([g * 1.1 for g in gts]), ref)
    assert shifted['fscore'] < noisy['fscore'] < same['fscore']
    assert shifted['acc'] > 0.1
    assert set(noisy) >= {'acc', 'comp', 'prec', 'recall', 'fscore'}


def test_recon_scores_hand_computed_and_errors():
    ref = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    pred = np.array([[0.0, 0, 0.01], [0.0, 0, 0.5]])
    s = recon_scores(pred, ref, tau=0.05)
    assert s['acc'] == pytest.approx((0.01 + 0.5) / 2)
    assert s['comp'] == pytest.approx((0.01 + math.sqrt(1 + 0.01 ** 2)) / 2)
    assert s['prec'] == 0.5 and s['recall'] == 0.5 and s['fscore'] == pytest.approx(0.5)
    empty = recon_scores(np.zeros((0, 3)), ref)
    assert empty['fscore'] == 0.0
    with pytest.raises(InputError, match='empty'):
        recon_scores(pred, np.zeros((0, 3)))
    with pytest.raises(CalibrationError):
        TSDFFusion().integrate(np.ones((H, W), np.float32), CAM, np.full((4, 4), np.nan))
    with pytest.raises(CalibrationError, match='camera'):
        TSDFFusion().integrate(np.ones((10, 10), np.float32), CAM, np.eye(4))
