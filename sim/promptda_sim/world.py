# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The simulated world: physics in sim time, head camera, low-cost LiDAR, success check (no ROS).

:class:`SimWorld` owns a MuJoCo model built from an :class:`~promptda_sim.scene.EpisodeConfig`.
Commands are joint position targets in the order of :data:`~promptda_sim.scene.JOINT_NAMES`
(four arm joints in rad, the gripper opening in m), clamped to the joint limits. Physics steps at
a fixed ``timestep`` (2 ms), so a run depends only on the commands and the seed, never on the
machine's speed.

Sensors:
* head camera: RGB (H, W, 3) uint8 and the true depth (H, W) float32 m along the optical axis
  (the glass bottle is solid in the true depth);
* LiDAR: a grid of beams (``lidar_hw``) rendered from its own pose; range noise
  ``sigma = lidar_noise_m + lidar_noise_rel * r``, random dropouts, the glass bottle is seen
  through (the beam returns from what is behind it), the mirror-like object returns nothing for
  most beams and too-far ranges (reflections) for the others. Points are in the ``lidar`` frame
  (x forward, y left, z up), m;
* prompt grid: :meth:`SimWorld.prompt_grid` projects a sweep into the grid the perception
  node builds (:func:`promptda_ros.pipeline.lidar_prompt_grid`), for the node's
  ``prompt_depth`` topic and the training frames of :mod:`promptda_sim.frames`.

For training frames the scene's lights can be changed (:meth:`SimWorld.set_lighting`; they stay
until changed again, a reset keeps them) and the arm placed at any pose without physics
(:meth:`SimWorld.pose_arm`).
"""

from dataclasses import dataclass
import threading

import numpy as np

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.core.pointcloud import depth_to_points
from promptda_ros.core.transforms import invert_transform, transform_points
from promptda_ros.pipeline import lidar_prompt_grid, PipelineConfig
from promptda_sim import scene
from promptda_sim.render import make_renderer, mujoco

# Camera optical frame (z forward, x right, y down) from MuJoCo's camera frame (-z forward, y up).
_OPTICAL_FROM_MJ = np.diag([1.0, -1.0, -1.0])
# LiDAR body frame (x forward, y left, z up) from the optical frame.
R_OPTICAL_LIDAR = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


@dataclass(frozen=True)
class SensorConfig:
    """Sensor settings.

    Attributes:
        camera_hw: (H, W) head camera pixels.
        lidar_hw: (rows, columns) of LiDAR beams.
        lidar_noise_m: range noise floor, m (1 sigma).
        lidar_noise_rel: range noise per metre of range (1 sigma).
        lidar_dropout: probability that a beam returns nothing.
        mirror_dropout: probability that a beam on the mirror-like object returns nothing.
        max_range_m: LiDAR maximum range, m.
    """

    camera_hw: tuple = (120, 160)
    lidar_hw: tuple = (24, 32)
    lidar_noise_m: float = 0.005
    lidar_noise_rel: float = 0.01
    lidar_dropout: float = 0.08
    mirror_dropout: float = 0.85
    max_range_m: float = 4.0

    def __post_init__(self) -> None:
        for name in ('camera_hw', 'lidar_hw'):
            hw = getattr(self, name)
            if len(hw) != 2 or min(hw) < 2 or max(hw) > 480:
                raise InputError('%s must be (H, W) between 2 and 480 px, got %r' % (name, hw))
        if not 0.0 <= self.lidar_dropout < 1.0 or not 0.0 <= self.mirror_dropout <= 1.0:
            raise InputError('dropout probabilities must lie in [0, 1)')
        if self.lidar_noise_m < 0 or self.lidar_noise_rel < 0 or self.max_range_m <= 0:
            raise InputError('LiDAR noise must be >= 0 and max_range_m > 0')


def camera_model(model, name: str, height: int, width: int) -> PinholeCamera:
    """Pinhole model of a MuJoCo camera rendered at (height, width) pixels (square pixels).

    MuJoCo centres the image on the optical axis: cx = (W - 1) / 2 with pixel centres on
    integers.
    """
    cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
    fovy = np.deg2rad(float(model.cam_fovy[cam_id]))
    f = 0.5 * height / np.tan(0.5 * fovy)
    return PinholeCamera.from_intrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0,
                                         width, height)


class SimWorld:
    """One episode of the grasping scene; see the module docstring.

    Args:
        episode: what to simulate (seed, object, position).
        sensors: camera / LiDAR settings.
        render: False for physics only (no OpenGL needed).
    """

    def __init__(self, episode: scene.EpisodeConfig | None = None,
                 sensors: SensorConfig | None = None, render: bool = True) -> None:
        self.sensors = sensors or SensorConfig()
        self.render_enabled = bool(render)
        self._renderers: dict | None = None
        self._render_thread: int | None = None
        self._orphans: list = []
        self.reset(episode or scene.EpisodeConfig())

    # ------------------------------------------------------------------ episode
    def reset(self, episode: scene.EpisodeConfig) -> None:
        """Start ``episode``: its object on the table, the arm at HOME (gripper open), t = 0."""
        if not isinstance(episode, scene.EpisodeConfig):
            raise InputError('episode must be an EpisodeConfig, got %r' % (episode,))
        if not hasattr(self, 'model'):
            self._build()
        m = self.model
        self.episode = episode
        mujoco.mj_resetData(m, self.data)
        for name in scene.OBJECTS:
            adr = m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name + '_free')]
            pos = scene.parked_position(name)
            if name == episode.object:
                pos[:2] = episode.object_xy()
                pos[2] = episode.spec.half_height + 0.0005
            self.data.qpos[adr:adr + 7] = np.concatenate([pos, [1.0, 0.0, 0.0, 0.0]])
        self._object_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, episode.object)
        self._object_geom = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM,
                                              episode.object + '_geom')
        self.data.qpos[self._qpos_adr] = scene.HOME
        self.data.qpos[self._mimic_adr] = scene.HOME[-1]
        self.command = scene.HOME.copy()
        self._apply_command()
        mujoco.mj_forward(m, self.data)
        self._rng = np.random.default_rng([int(episode.seed), 7])
        # Let the object settle on the table.
        self.step(0.2)
        self.data.time = 0.0

    def _build(self) -> None:
        self.model = mujoco.MjModel.from_xml_string(scene.build_mjcf())
        self.data = mujoco.MjData(self.model)
        m = self.model
        joint_ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in scene.JOINT_NAMES]
        self._qpos_adr = np.array([m.jnt_qposadr[j] for j in joint_ids])
        self._dof_adr = np.array([m.jnt_dofadr[j] for j in joint_ids])
        mimic = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, 'right_gripper_mimic_joint')
        self._mimic_adr = m.jnt_qposadr[mimic]
        self.lower = np.array([m.jnt_range[j][0] for j in joint_ids])
        self.upper = np.array([m.jnt_range[j][1] for j in joint_ids])
        h, w = self.sensors.camera_hw
        self.camera = camera_model(m, 'head', h, w)
        lh, lw = self.sensors.lidar_hw
        self.lidar_camera = camera_model(m, 'lidar', lh, lw)
        self._lights0 = (m.light_diffuse.copy(), m.light_pos.copy(),
                         np.array(m.vis.headlight.ambient), np.array(m.vis.headlight.diffuse))
        shoulder = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, 'shoulder_pitch_link')
        self._arm_geoms = {g for g in range(m.ngeom)
                           if m.body_rootid[m.geom_bodyid[g]] == shoulder}

    @property
    def time_s(self) -> float:
        """Simulated time since the reset, s."""
        return float(self.data.time)

    def set_command(self, targets: np.ndarray) -> np.ndarray:
        """Set joint position targets.

        Args:
            targets: (5,) float, four arm joints (rad) then the gripper opening (m).

        Returns:
            (5,) float64 the targets applied (clamped to the joint limits).
        """
        t = np.asarray(targets, dtype=np.float64).reshape(-1)
        if t.size != len(scene.JOINT_NAMES) or not np.all(np.isfinite(t)):
            raise InputError('command must hold %d finite values (%s), got %r'
                             % (len(scene.JOINT_NAMES), ', '.join(scene.JOINT_NAMES), targets))
        self.command = np.clip(t, self.lower, self.upper)
        self._apply_command()
        return self.command.copy()

    def _apply_command(self) -> None:
        self.data.ctrl[:4] = self.command[:4]
        self.data.ctrl[4] = self.command[4]
        self.data.ctrl[5] = self.command[4]

    def step(self, duration_s: float) -> None:
        """Advance physics by ``duration_s`` seconds (rounded to whole 2 ms steps)."""
        n = int(round(float(duration_s) / self.model.opt.timestep))
        for _ in range(max(n, 0)):
            mujoco.mj_step(self.model, self.data)

    def joint_positions(self) -> np.ndarray:
        """(5,) float64 measured joint positions: arm rad, gripper opening m."""
        return self.data.qpos[self._qpos_adr].astype(np.float64)

    def joint_velocities(self) -> np.ndarray:
        """(5,) float64 joint velocities: arm rad/s, gripper m/s."""
        return self.data.qvel[self._dof_adr].astype(np.float64)

    def object_position(self) -> np.ndarray:
        """(3,) float64 m, the object's centre in the world."""
        return self.data.xpos[self._object_body].astype(np.float64)

    def object_pose(self) -> np.ndarray:
        """(4, 4) float64 pose of the object in the world (its cylinder's axis is the z axis)."""
        T = np.eye(4)
        T[:3, :3] = self.data.xmat[self._object_body].reshape(3, 3)
        T[:3, 3] = self.data.xpos[self._object_body]
        return T

    def success(self) -> bool:
        """Return True when the object's centre is inside the box (below its rim), not held."""
        p = self.object_position()
        d = np.abs(p[:2] - scene.BOX_CENTER)
        inside = bool(np.all(d < scene.BOX_INNER_HALF) and p[2] < scene.BOX_WALL_HEIGHT + 0.04)
        return inside and not self.object_in_gripper()

    def object_in_gripper(self) -> bool:
        """Return True while both fingers touch the object."""
        m, d = self.model, self.data
        fingers = {mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, 'finger_left_geom'),
                   mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, 'finger_right_geom')}
        touching = set()
        for i in range(d.ncon):
            c = d.contact[i]
            pair = {int(c.geom1), int(c.geom2)}
            if self._object_geom in pair:
                touching |= pair & fingers
        return touching == fingers

    def pose_arm(self, q: np.ndarray) -> bool:
        """Place the arm at joint positions without physics (training frames), held there.

        Args:
            q: (5,) float, four arm joints (rad) then the gripper opening (m); clamped to the
                joint limits and also set as the command.

        Returns:
            True when no arm geom penetrates another geom (table, object, box) by over 2 mm.
        """
        self.set_command(q)
        self.data.qpos[self._qpos_adr] = self.command
        self.data.qpos[self._mimic_adr] = self.command[4]
        self.data.qvel[:] = 0.0
        mujoco.mj_forward(self.model, self.data)
        for i in range(self.data.ncon):
            c = self.data.contact[i]
            if c.dist < -0.002 and ({int(c.geom1), int(c.geom2)} & self._arm_geoms):
                return False
        return True

    def set_lighting(self, diffuse_gain=None, shift_m=None, headlight=None) -> None:
        """Change the scene's lights (RGB only: depth, LiDAR and segmentation do not see light).

        Args:
            diffuse_gain: (L, 3) float gains on each scene light's diffuse RGB, or None = 1.
            shift_m: (L, 3) float metres added to each light's position, or None = 0.
            headlight: (ambient, diffuse) grey levels of the viewer's headlight in [0, 1], or
                None = the scene's.
            With every argument None the scene's own lighting is restored.
        """
        m = self.model
        diffuse0, pos0, ambient0, head0 = self._lights0
        gain = np.ones_like(diffuse0) if diffuse_gain is None else np.asarray(diffuse_gain)
        shift = np.zeros_like(pos0) if shift_m is None else np.asarray(shift_m)
        if gain.shape != diffuse0.shape or shift.shape != pos0.shape:
            raise InputError('lighting: gains and shifts must be (%d, 3), got %s and %s'
                             % (m.nlight, gain.shape, shift.shape))
        m.light_diffuse[:] = np.clip(diffuse0 * gain, 0.0, 1.0)
        m.light_pos[:] = pos0 + shift
        ambient, head = (ambient0, head0) if headlight is None else (
            np.full(3, float(headlight[0])), np.full(3, float(headlight[1])))
        m.vis.headlight.ambient[:] = np.clip(ambient, 0.0, 1.0)
        m.vis.headlight.diffuse[:] = np.clip(head, 0.0, 1.0)
        mujoco.mj_forward(m, self.data)   # light positions in the world (data.light_xpos)

    # ------------------------------------------------------------------ frames
    def T_world_camera(self, name: str = 'head') -> np.ndarray:
        """(4, 4) float64 pose of a camera's optical frame in the world."""
        cid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, name)
        T = np.eye(4)
        T[:3, :3] = self.data.cam_xmat[cid].reshape(3, 3) @ _OPTICAL_FROM_MJ
        T[:3, 3] = self.data.cam_xpos[cid]
        return T

    def T_world_lidar(self) -> np.ndarray:
        """(4, 4) float64 pose of the LiDAR frame (x forward, y left, z up) in the world."""
        T = self.T_world_camera('lidar')
        T[:3, :3] = T[:3, :3] @ R_OPTICAL_LIDAR
        return T

    def T_camera_lidar(self) -> np.ndarray:
        """(4, 4) float64 LiDAR frame -> head camera optical frame."""
        return invert_transform(self.T_world_camera('head')) @ self.T_world_lidar()

    # ------------------------------------------------------------------ sensors
    def _renderer(self, key: str):
        if not self.render_enabled:
            raise InputError('this SimWorld was created with render=False')
        if self._renderers is None:
            h, w = self.sensors.camera_hw
            lh, lw = self.sensors.lidar_hw
            self._renderers = {'camera': make_renderer(self.model, h, w),
                               'lidar': make_renderer(self.model, lh, lw)}
            self._render_thread = threading.get_ident()
        return self._renderers[key]

    def render_camera(self) -> tuple:
        """Render the head camera.

        Returns:
            rgb (H, W, 3) uint8; depth (H, W) float32 metres along the optical axis, true
            depth of every surface (the glass bottle included).
        """
        r = self._renderer('camera')
        option = mujoco.MjvOption()
        option.geomgroup[scene.GLASS_GROUP] = 1       # the camera sees the glass
        r.disable_depth_rendering()
        r.update_scene(self.data, 'head', scene_option=option)
        rgb = r.render().copy()
        alpha = self.model.geom_rgba[self._object_geom, 3]
        self.model.geom_rgba[self._object_geom, 3] = 1.0   # solid in the true depth
        try:
            r.enable_depth_rendering()
            r.update_scene(self.data, 'head', scene_option=option)
            depth = r.render().astype(np.float32)
        finally:
            self.model.geom_rgba[self._object_geom, 3] = alpha
            r.disable_depth_rendering()
        return rgb, depth

    def lidar_points(self) -> np.ndarray:
        """One LiDAR sweep: (N, 3) float32 metres in the ``lidar`` frame (see the module doc)."""
        cfg = self.sensors
        r = self._renderer('lidar')
        option = mujoco.MjvOption()
        option.geomgroup[scene.GLASS_GROUP] = 0       # transparent: the beams pass through
        r.enable_depth_rendering()
        r.update_scene(self.data, 'lidar', scene_option=option)
        depth = r.render().astype(np.float64)
        r.disable_depth_rendering()
        r.enable_segmentation_rendering()
        r.update_scene(self.data, 'lidar', scene_option=option)
        seg = r.render()
        r.disable_segmentation_rendering()
        rays = depth_to_points(np.ones_like(depth, dtype=np.float32), self.lidar_camera)
        rng_m = depth * np.linalg.norm(rays, axis=2)          # range along each beam, m
        sigma = cfg.lidar_noise_m + cfg.lidar_noise_rel * rng_m
        noisy = rng_m + self._rng.normal(0.0, 1.0, rng_m.shape) * sigma
        keep = self._rng.uniform(0.0, 1.0, rng_m.shape) >= cfg.lidar_dropout
        if self.episode.spec.material == 'specular':
            on_mirror = (seg[:, :, 1] == int(mujoco.mjtObj.mjOBJ_GEOM)) & \
                (seg[:, :, 0] == self._object_geom)
            u = self._rng.uniform(0.0, 1.0, rng_m.shape)
            keep &= ~(on_mirror & (u < cfg.mirror_dropout))
            noisy = np.where(on_mirror, noisy * self._rng.uniform(1.3, 2.5, rng_m.shape), noisy)
        keep &= (noisy > 0.05) & (noisy <= cfg.max_range_m)
        directions = rays / np.linalg.norm(rays, axis=2, keepdims=True)
        pts_optical = directions[keep] * noisy[keep, None]
        return (pts_optical @ R_OPTICAL_LIDAR).astype(np.float32)

    def prompt_grid(self, points_lidar: np.ndarray, prompt_hw: tuple) -> np.ndarray:
        """Project a sweep into the perception node's prompt grid for this head camera.

        Args:
            points_lidar: (N, 3) float32 metres in the ``lidar`` frame (:meth:`lidar_points`).
            prompt_hw: (h, w) grid cells.

        Returns:
            (h, w) float32 metres, 0 = no return (z-buffered: the nearest return wins); the
            node's :func:`~promptda_ros.pipeline.lidar_prompt_grid` with its default depth range.
        """
        config = PipelineConfig.with_prompt_hw((int(prompt_hw[0]), int(prompt_hw[1])))
        return lidar_prompt_grid(points_lidar, self.T_camera_lidar(), self.camera, config)

    def points_in_camera(self, points_lidar: np.ndarray) -> np.ndarray:
        """(N, 3) LiDAR-frame points (m) -> (N, 3) float64 m in the head camera optical frame."""
        return transform_points(self.T_camera_lidar(), points_lidar)

    def close(self) -> None:
        """Release the renderers (OpenGL contexts).

        An EGL context can only be released by the thread that made it current; called from
        another thread, the renderers are dropped and the process frees them at exit.
        """
        renderers, self._renderers = self._renderers, None
        if renderers is None:
            return
        if threading.get_ident() != self._render_thread:
            self._orphans.extend(renderers.values())   # keep them alive: no __del__ close
            return
        for r in renderers.values():
            r.close()
