# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth error on the object's pixels: constructed cases, the real scene, promptda-sim-eval."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from promptda_ros.core.camera import PinholeCamera
from promptda_sim import scene
from promptda_sim.depth_error import (
    cylinder_pixel_mask,
    depth_error_table,
    episode_object_error,
    object_depth_error,
    summarise,
)
from promptda_sim.render import make_renderer, mujoco
from promptda_sim.world import SimWorld

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOMAIN_ID = 81
CAMERA = PinholeCamera.from_intrinsics(100.0, 100.0, 29.5, 19.5, 60, 40)
# Camera 1 m above the table looking straight down (optical z = world -z, x = world x).
T_WORLD_CAMERA = np.array([[1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, -1.0, 1.0], [0, 0, 0, 1.0]])
RADIUS, HALF_HEIGHT = 0.05, 0.1
CENTRE = np.array([0.1, 0.0, HALF_HEIGHT])      # a can standing on the table (z = 0)


def _constructed():
    """(true depth (40, 60) m, the can's top-disk pixels (40, 60) bool, T_world_object)."""
    u, v = np.meshgrid(np.arange(60.0), np.arange(40.0))
    x, y = (u - CAMERA.cx) / CAMERA.fx, (v - CAMERA.cy) / CAMERA.fy
    top = 1.0 - 2 * HALF_HEIGHT                               # camera depth of the can's top
    disk = (x * top - CENTRE[0]) ** 2 + (-y * top - CENTRE[1]) ** 2 <= RADIUS ** 2
    true = np.where(disk, top, 1.0).astype(np.float32)
    T_world_object = np.eye(4)
    T_world_object[:3, 3] = CENTRE
    return true, disk, T_world_object


def test_mask_is_the_visible_surface_and_leaves_out_the_table():
    true, disk, T = _constructed()
    mask = cylinder_pixel_mask(true, CAMERA, T_WORLD_CAMERA, T, RADIUS, HALF_HEIGHT)
    assert disk.sum() > 50 and np.array_equal(mask, disk)
    # Moved 20 cm, the same depth is the table and the can's top hangs in the air: no pixel.
    T[:3, 3] += [0.2, 0.0, 0.0]
    assert not cylinder_pixel_mask(true, CAMERA, T_WORLD_CAMERA, T, RADIUS, HALF_HEIGHT).any()


def test_object_error_counts_holes_and_upsamples_a_smaller_depth():
    true, disk, _ = _constructed()
    rng = np.random.default_rng(0)
    served = true.copy()
    idx = np.flatnonzero(disk)
    rng.shuffle(idx)
    quarter = len(idx) // 4
    served.flat[idx[:quarter]] = 0.0                  # a 16UC1 hole
    served.flat[idx[quarter:2 * quarter]] = np.nan    # a NaN hole
    served.flat[idx[2 * quarter:3 * quarter]] += 0.1
    served[~disk] = 5.0                               # the background does not count
    e = object_depth_error(served, true, disk)
    assert e['pixels'] == len(idx)
    assert e['finite_share'] == pytest.approx((len(idx) - 2 * quarter) / len(idx))
    assert e['l1_m'] == pytest.approx(0.1 * quarter / (len(idx) - 2 * quarter), rel=1e-5)
    # 20 x 30 served depth: scored on its grid, against every other true pixel (nearest).
    e = object_depth_error(np.full((20, 30), 0.9, np.float32), true, disk)
    assert e['l1_m'] == pytest.approx(0.1, rel=1e-5) and e['finite_share'] == 1.0
    assert e['pixels'] == disk[::2, ::2].sum()
    e = object_depth_error(true[::2, ::2], true, disk)          # a perfect depth, downsized
    assert e['l1_m'] == 0.0 and e['finite_share'] == 1.0
    e = object_depth_error(np.zeros((40, 60), np.float32), true, disk)
    assert math.isnan(e['l1_m']) and e['finite_share'] == 0.0


def test_summary_and_table():
    errors = {'true': {'red_can': [{'l1_m': 0.0, 'finite_share': 1.0},
                                   {'l1_m': 0.002, 'finite_share': 0.5}]},
              'bilinear': {'glass_bottle': [{'l1_m': math.nan, 'finite_share': 0.0}]}}
    summary = summarise(errors)
    assert summary['true']['red_can'] == {'l1_m': pytest.approx(0.001),
                                          'finite_share': 0.75, 'episodes': 2}
    table = depth_error_table(summary, ['red_can', 'glass_bottle'])
    assert table.splitlines()[2] == '| true | 0.1 cm (75 %) | - |'
    assert table.splitlines()[3] == '| bilinear | - | no depth (0 %) |'


@pytest.mark.parametrize('obj', ['red_can', 'glass_bottle', 'mirror_object'])
def test_mask_matches_mujoco_segmentation_in_the_scene(obj):
    episode = scene.EpisodeConfig(2, obj, 'middle')
    world = SimWorld(episode)
    renderer = make_renderer(world.model, 120, 160)
    try:
        rgb, true = world.render_camera()
        option = mujoco.MjvOption()
        option.geomgroup[scene.GLASS_GROUP] = 1
        renderer.enable_segmentation_rendering()
        renderer.update_scene(world.data, 'head', scene_option=option)
        seg = renderer.render()
    finally:
        renderer.close()
        world.close()
    geom = mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_GEOM, obj + '_geom')
    on_object = (seg[:, :, 0] == geom) & (seg[:, :, 1] == int(mujoco.mjtObj.mjOBJ_GEOM))
    e = episode_object_error(episode, true, true)       # the pose from a physics-only reset
    assert e['l1_m'] == 0.0 and e['finite_share'] == 1.0
    mask = cylinder_pixel_mask(true, world.camera, world.T_world_camera(), world.object_pose(),
                               episode.spec.radius, episode.spec.half_height)
    assert e['pixels'] == mask.sum() > 100
    assert not (mask & ~on_object).any()                       # never off the object
    assert mask.sum() >= 0.95 * on_object.sum()                # all but its bottom rim


def test_sim_eval_reports_object_depth_per_source(tmp_path):
    """promptda-sim-eval through the real nodes: true depth is exact, LiDAR sees through glass."""
    from promptda_policy.synthetic import make_stats, save_untrained_policy
    stats = make_stats(5, depth_mean=0.9, depth_std=0.3, joint_mean=scene.HOME,
                       joint_std=np.array([0.5, 0.5, 0.5, 0.5, 0.02]))
    policy = save_untrained_policy(str(tmp_path / 'policy'), 60, 80, 5, stats=stats,
                                   joint_names=list(scene.JOINT_NAMES), dim_model=32,
                                   n_heads=2, dim_feedforward=64, n_encoder_layers=1,
                                   n_decoder_layers=1, chunk_size=10, n_action_steps=10)
    out = str(tmp_path / 'eval')
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID), HF_HUB_OFFLINE='1',
               PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, 'policy'),
                                           os.path.join(ROOT, 'sim')]))
    proc = subprocess.run(
        [sys.executable, '-c', 'import sys; from promptda_sim.graph import main; '
         'sys.exit(main())', policy, '--out', out, '--objects', 'red_can,glass_bottle',
         '--positions', 'far', '--depth-sources', 'true,bilinear', '--episodes', '1',
         '--timeout-s', '0.3', '--real-time-factor', '0'],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(os.path.join(out, 'success.json'), encoding='utf-8') as f:
        depth = json.load(f)['object_depth']
    for obj in ('red_can', 'glass_bottle'):
        assert depth['true'][obj]['l1_m'] == 0.0 and depth['true'][obj]['finite_share'] == 1.0
    # LiDAR on the can: a few cm; through the glass, the table behind it: over twice that.
    can, glass = depth['bilinear']['red_can']['l1_m'], depth['bilinear']['glass_bottle']['l1_m']
    assert can < 0.08 and glass > max(2 * can, 0.08), (can, glass)
    with open(os.path.join(out, 'success.md'), encoding='utf-8') as f:
        text = f.read()
    assert "Depth error on the object's pixels" in text and '| true | 0.0 cm (100 %)' in text
