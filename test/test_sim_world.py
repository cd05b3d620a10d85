# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The MuJoCo grasping scene without ROS: determinism, sensors, rendering errors, the expert."""

import os
import subprocess
import sys

import numpy as np
import pytest

from promptda_policy.control.arm_profiles import get_profile
from promptda_ros.core.errors import InputError
from promptda_ros.core.projection import project_to_grid
from promptda_sim import scene
from promptda_sim.expert import run_expert_episode, ScriptedExpert
from promptda_sim.render import mujoco
from promptda_sim.world import SimWorld

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(world: SimWorld, steps: int = 20) -> None:
    """Drive the arm with a fixed command sequence at 30 Hz."""
    for k in range(steps):
        q = scene.HOME.copy()
        q[0] += 0.01 * k
        q[4] = scene.GRIPPER_OPEN * (1.0 - k / steps)
        world.set_command(q)
        world.step(1.0 / 30.0)


def test_seeded_scene_is_deterministic():
    a = SimWorld(scene.EpisodeConfig(5, 'green_can', 'far'))
    b = SimWorld(scene.EpisodeConfig(5, 'green_can', 'far'))
    _run(a)
    _run(b)
    assert np.array_equal(a.data.qpos, b.data.qpos)
    rgb_a, depth_a = a.render_camera()
    rgb_b, depth_b = b.render_camera()
    assert np.array_equal(rgb_a, rgb_b) and np.array_equal(depth_a, depth_b)
    assert np.array_equal(a.lidar_points(), b.lidar_points())
    other = SimWorld(scene.EpisodeConfig(6, 'green_can', 'far'), render=False)
    assert np.linalg.norm(other.object_position()[:2] - a.episode.object_xy()) > 1e-3
    a.close()
    b.close()


def test_arm_matches_the_h1_profile_and_limits_are_enforced():
    profile = get_profile('unitree_h1_right_arm_gripper')
    world = SimWorld(render=False)
    assert profile.joint_names == scene.JOINT_NAMES
    assert np.allclose(world.lower, profile.lower) and np.allclose(world.upper, profile.upper)
    applied = world.set_command([10.0, -10.0, 5.0, -5.0, 1.0])
    assert np.allclose(applied, np.clip([10.0, -10.0, 5.0, -5.0, 1.0], profile.lower,
                                        profile.upper))
    with pytest.raises(InputError, match='5 finite values'):
        world.set_command([0.0, 0.0, 0.0, 0.0])


def test_bad_episode_names_are_refused():
    with pytest.raises(InputError, match="unknown object 'cup'"):
        scene.EpisodeConfig(0, 'cup', 'near')
    with pytest.raises(InputError, match="unknown position 'close'"):
        scene.EpisodeConfig(0, 'red_can', 'close')


def test_camera_geometry_and_lidar_effects():
    # The object's centre projects where the true depth sees a surface at about its distance,
    # and the LiDAR agrees with the true depth on diffuse surfaces.
    can = SimWorld(scene.EpisodeConfig(0, 'red_can', 'middle'))
    rgb, depth = can.render_camera()
    assert rgb.shape == (120, 160, 3) and depth.dtype == np.float32
    p = np.linalg.inv(can.T_world_camera()) @ np.append(can.object_position(), 1.0)
    u = can.camera.fx * p[0] / p[2] + can.camera.cx
    v = can.camera.fy * p[1] / p[2] + can.camera.cy
    # The camera looks down ~45 deg: the ray to the centre hits the can's front / top first.
    assert p[2] - 0.08 < depth[int(round(v)), int(round(u))] < p[2]
    assert rgb[int(round(v)), int(round(u)), 0] > 2 * rgb[int(round(v)), int(round(u)), 1]
    grid = project_to_grid(can.points_in_camera(can.lidar_points()), can.camera)
    hit = grid > 0
    assert 0.3 * 24 * 32 < hit.sum() <= 24 * 32
    assert np.median(np.abs(grid[hit] - depth[hit])) < 0.03
    can.close()

    def object_returns(obj):
        """(LiDAR cells on the object within 3 cm of the true depth, cells further away)."""
        w = SimWorld(scene.EpisodeConfig(0, obj, 'middle'))
        _, d = w.render_camera()
        g = project_to_grid(w.points_in_camera(w.lidar_points()), w.camera)
        r = w._renderer('camera')
        option = mujoco.MjvOption()
        option.geomgroup[scene.GLASS_GROUP] = 1
        r.enable_segmentation_rendering()
        r.update_scene(w.data, 'head', scene_option=option)
        seg = r.render()
        r.disable_segmentation_rendering()
        w.close()
        on_object = ((seg[:, :, 0] == w._object_geom)
                     & (seg[:, :, 1] == int(mujoco.mjtObj.mjOBJ_GEOM)))
        hits = on_object & (g > 0)
        right = hits & (np.abs(g - d) < 0.03)
        return int(right.sum()), int((hits & (g > d + 0.03)).sum())

    can_right, _ = object_returns('red_can')
    glass_right, glass_behind = object_returns('glass_bottle')
    mirror_right, _ = object_returns('mirror_object')
    print('LiDAR cells on the object (right, behind): can %d, glass %d/%d, mirror %d'
          % (can_right, glass_right, glass_behind, mirror_right))
    assert can_right >= 3
    # The beams pass through the glass (a cell at its foot may meet the table within 3 cm).
    assert glass_behind >= 3 and glass_right <= glass_behind // 3
    assert mirror_right <= can_right // 3           # dropouts or too-far reflections


def test_rendering_unavailable_names_the_missing_library():
    code = ('from promptda_sim.world import SimWorld\n'
            'from promptda_ros.core.errors import PromptDAError\n'
            'try:\n'
            '    SimWorld().render_camera()\n'
            'except PromptDAError as exc:\n'
            '    print("error: %s" % exc)\n')
    env = dict(os.environ, MUJOCO_GL='egl', __EGL_VENDOR_LIBRARY_DIRS='/nonexistent')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert 'libEGL_mesa.so.0' in out.stdout and 'libegl-mesa0' in out.stdout, out
    env = dict(os.environ, MUJOCO_GL='osmesa')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert 'MUJOCO_GL=osmesa' in out.stdout + out.stderr, out


def test_one_expert_episode_succeeds():
    episode = scene.EpisodeConfig(3, 'red_can', 'far')
    result = run_expert_episode(episode)
    assert result['success'], result
    world = SimWorld(episode, render=False)
    expert = ScriptedExpert(world.model, episode, world.joint_positions())
    profile = get_profile('unitree_h1_right_arm_gripper')
    times = np.arange(0.0, expert.duration_s, 1.0 / 30.0)
    cmds = np.stack([expert.command_at(t) for t in times])
    assert np.all(cmds >= profile.lower - 1e-9) and np.all(cmds <= profile.upper + 1e-9)
    speed = np.abs(np.diff(cmds, axis=0)) * 30.0
    assert np.all(speed <= profile.max_velocity + 1e-6)


def test_sim_yaml_and_launch_file_match_the_code():
    import ast

    import yaml

    from promptda_ros.core.transforms import matrix_to_quat
    from promptda_sim.node import SIM_SPECS
    with open(os.path.join(ROOT, 'config', 'sim.yaml'), encoding='utf-8') as f:
        data = yaml.safe_load(f)
    params = data['/**/promptda_sim']['ros__parameters']
    assert set(params) == {s.name for s in SIM_SPECS}
    for spec in SIM_SPECS:
        assert params[spec.name] == pytest.approx(spec.default), spec.name
    perception = data['/**/promptda_perception']['ros__parameters']
    T = SimWorld(render=False).T_camera_lidar()
    assert np.allclose(perception['lidar_to_camera_translation'], T[:3, 3], atol=1e-5)
    q = matrix_to_quat(T[:3, :3])
    q_yaml = np.asarray(perception['lidar_to_camera_rotation_xyzw'])
    assert min(np.abs(q - q_yaml).max(), np.abs(q + q_yaml).max()) < 1e-5
    assert data['/**/promptda_policy']['ros__parameters']['profile'] == \
        'unitree_h1_right_arm_gripper'
    path = os.path.join(ROOT, 'launch', 'sim_grasp.launch.py')
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    compile(tree, path, 'exec')
    declared = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, 'id', '') == 'DeclareLaunchArgument'}
    used = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', '') == 'arg' and n.args}
    assert {'policy_path', 'depth_source', 'object', 'position'} <= declared
    assert used <= declared, used - declared
