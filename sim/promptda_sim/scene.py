# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The grasping scene as MJCF: table, box, one object, an H1-like right arm with a gripper.

World frame: x forward, y left, z up, metres; the table top is z = 0. The arm has the four
joints and position limits of the Unitree H1 right arm
(``promptda_policy.control.arm_profiles``) plus a parallel gripper whose joint is the opening of
each finger (m). A head camera looks at the table; a LiDAR sits 6 cm to its left with the same
orientation.

Episodes are described by :class:`EpisodeConfig` (seed, object, position); the seed jitters
the object's place by a few centimetres and everything else is fixed, so a seeded scene is
deterministic. The model holds every object; those not in the episode wait behind the robot.
"""

from dataclasses import dataclass

import numpy as np

from promptda_policy.control.arm_profiles import (
    H1_GRIPPER_JOINT,
    H1_GRIPPER_RANGE,
    H1_RIGHT_ARM_JOINTS,
    H1_RIGHT_ARM_LOWER,
    H1_RIGHT_ARM_UPPER,
)
from promptda_ros.core.errors import InputError

ARM_JOINTS = tuple(H1_RIGHT_ARM_JOINTS)
JOINT_NAMES = ARM_JOINTS + (H1_GRIPPER_JOINT,)
GRIPPER_OPEN = float(H1_GRIPPER_RANGE[1])   # m, finger opening
GRIPPER_CLOSED = float(H1_GRIPPER_RANGE[0])
# Arm pose at reset (rad) and gripper open: upper arm forward-down, forearm forward.
HOME = np.array([-0.24, 0.08, -0.30, 2.3, GRIPPER_OPEN])

OBJECTS = ('red_can', 'green_can', 'glass_bottle', 'mirror_object')
POSITIONS = ('near', 'middle', 'far')
# Object centre x (m, forward of the shoulder) per position; y centre; jitter half-ranges.
POSITION_X = {'near': 0.23, 'middle': 0.32, 'far': 0.41}
OBJECT_Y = -0.12
JITTER_XY = (0.015, 0.025)

SHOULDER = np.array([0.0, -0.15, 0.50])    # right shoulder, m
HAND_BEND = 0.8                            # rad, fixed wrist extension (hand tilts down)
BOX_CENTER = np.array([0.17, -0.40])       # the box (bin) the object is dropped into, m
BOX_INNER_HALF = 0.085                     # inner half-width of the box, m
BOX_WALL_HEIGHT = 0.07                     # m
CAMERA_POS = np.array([-0.14, -0.02, 0.86])
CAMERA_TARGET = np.array([0.27, -0.24, 0.0])
CAMERA_FOVY_DEG = 45.0
LIDAR_OFFSET_LEFT = 0.06                   # m, LiDAR beside the camera (world +y side)
GLASS_GROUP = 3                            # geom group the LiDAR does not see (transparent)


@dataclass(frozen=True)
class ObjectSpec:
    """One graspable object.

    Attributes:
        name: one of :data:`OBJECTS`.
        radius: cylinder radius, m.
        half_height: cylinder half height, m.
        mass: kg.
        rgba: colour (alpha < 1 renders transparent).
        material: 'diffuse', 'transparent' (the LiDAR sees through it) or 'specular'
            (mirror-like: most LiDAR returns drop out, the others come back too far).
    """

    name: str
    radius: float
    half_height: float
    mass: float
    rgba: tuple
    material: str


OBJECT_SPECS = {
    'red_can': ObjectSpec('red_can', 0.030, 0.060, 0.12, (0.80, 0.10, 0.08, 1.0), 'diffuse'),
    'green_can': ObjectSpec('green_can', 0.030, 0.060, 0.12, (0.15, 0.65, 0.20, 1.0),
                            'diffuse'),
    'glass_bottle': ObjectSpec('glass_bottle', 0.031, 0.075, 0.15, (0.75, 0.90, 0.95, 0.25),
                               'transparent'),
    'mirror_object': ObjectSpec('mirror_object', 0.030, 0.060, 0.12, (0.85, 0.85, 0.88, 1.0),
                                'specular'),
}


@dataclass(frozen=True)
class EpisodeConfig:
    """One episode: ``seed`` (int >= 0), ``object`` in OBJECTS, ``position`` in POSITIONS."""

    seed: int = 0
    object: str = 'red_can'
    position: str = 'middle'

    def __post_init__(self) -> None:
        if self.object not in OBJECTS:
            raise InputError('unknown object %r; known: %s' % (self.object, ', '.join(OBJECTS)))
        if self.position not in POSITIONS:
            raise InputError('unknown position %r; known: %s'
                             % (self.position, ', '.join(POSITIONS)))
        if int(self.seed) != self.seed or self.seed < 0:
            raise InputError('seed must be an integer >= 0, got %r' % (self.seed,))

    @property
    def spec(self) -> ObjectSpec:
        """The object's :class:`ObjectSpec`."""
        return OBJECT_SPECS[self.object]

    def object_xy(self) -> np.ndarray:
        """(2,) float64 m: where the object stands on the table (seeded jitter)."""
        rng = np.random.default_rng([int(self.seed), OBJECTS.index(self.object),
                                     POSITIONS.index(self.position)])
        jitter = rng.uniform(-1.0, 1.0, 2) * np.asarray(JITTER_XY)
        return np.array([POSITION_X[self.position], OBJECT_Y]) + jitter


def look_at_axes(pos: np.ndarray, target: np.ndarray) -> tuple:
    """Return MuJoCo camera ``xyaxes`` (right, up) for a camera at ``pos`` looking at ``target``.

    Args:
        pos: (3,) m camera position; target: (3,) m point to look at.

    Returns:
        (right (3,), up (3,)) unit vectors in the world frame.
    """
    f = np.asarray(target, np.float64) - np.asarray(pos, np.float64)
    f /= np.linalg.norm(f)
    right = np.cross(f, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, f)
    return right, up


def _vec(v) -> str:
    return ' '.join('%.6g' % float(x) for x in v)


def parked_position(name: str) -> np.ndarray:
    """(3,) m where an object waits while another one is on the table (behind the robot)."""
    spec = OBJECT_SPECS[name]
    return np.array([-1.5, 1.0 + 0.3 * OBJECTS.index(name), spec.half_height + 0.0005 - 0.75])


def _object_xml(spec: ObjectSpec) -> str:
    group = GLASS_GROUP if spec.material == 'transparent' else 0
    material = {'diffuse': '', 'transparent': ' material="glass"',
                'specular': ' material="chrome"'}[spec.material]
    return ('<body name="%s" pos="%s">\n'
            '  <freejoint name="%s_free"/>\n'
            '  <geom name="%s_geom" type="cylinder" size="%.4f %.4f" mass="%.3f" rgba="%s"'
            ' group="%d" friction="1.0 0.02 0.001" condim="4"%s/>\n'
            '</body>' % (spec.name, _vec(parked_position(spec.name)), spec.name, spec.name,
                         spec.radius, spec.half_height, spec.mass, _vec(spec.rgba), group,
                         material))


def _box_xml() -> str:
    half, wall, h = BOX_INNER_HALF, 0.006, BOX_WALL_HEIGHT
    cx, cy = BOX_CENTER
    o = half + wall
    walls = [((cx + o, cy, h / 2), (wall, o + wall, h / 2)),
             ((cx - o, cy, h / 2), (wall, o + wall, h / 2)),
             ((cx, cy + o, h / 2), (o + wall, wall, h / 2)),
             ((cx, cy - o, h / 2), (o + wall, wall, h / 2)),
             ((cx, cy, 0.003), (o, o, 0.003))]
    return '\n'.join('<geom name="box_%d" type="box" pos="%s" size="%s" rgba="0.55 0.4 0.25 1"/>'
                     % (i, _vec(p), _vec(s)) for i, (p, s) in enumerate(walls))


def build_mjcf() -> str:
    """Return the MJCF text of the scene: every object parked behind the robot.

    One model serves every episode (a reset moves the episode's object onto the table), so
    renderers survive resets and the expert plans on the very same model.
    """
    right, up = look_at_axes(CAMERA_POS, CAMERA_TARGET)
    lidar_pos = CAMERA_POS + np.array([0.0, LIDAR_OFFSET_LEFT, 0.0])
    j = ARM_JOINTS
    lo, hi = H1_RIGHT_ARM_LOWER, H1_RIGHT_ARM_UPPER
    arm_kp = 60.0
    return """<mujoco model="promptda_sim_grasp">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" integrator="implicitfast" cone="elliptic" impratio="5"/>
  <visual>
    <global offwidth="640" offheight="480"/>
    <map znear="0.02" zfar="20"/>
    <quality shadowsize="0"/>
  </visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.62 0.55 0.45"
             rgb2="0.55 0.48 0.40" width="64" height="64"/>
    <material name="table" texture="grid" texrepeat="8 8"/>
    <material name="glass" specular="1" shininess="1" reflectance="0.2"/>
    <material name="chrome" specular="1" shininess="1" reflectance="0.9"/>
  </asset>
  <worldbody>
    <light pos="0.3 0.2 1.6" dir="0 -0.2 -1" diffuse="0.8 0.8 0.8"/>
    <light pos="-0.5 -0.6 1.2" dir="0.4 0.3 -1" diffuse="0.4 0.4 0.4"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="3 3 0.1" rgba="0.3 0.3 0.32 1"/>
    <geom name="table" type="box" pos="0.35 -0.1 -0.02" size="0.45 0.6 0.02" material="table"
          friction="0.8 0.02 0.001"/>
    <geom name="torso" type="box" pos="-0.24 0 0.2" size="0.06 0.12 0.3"
          rgba="0.25 0.25 0.3 1" contype="0" conaffinity="0"/>
    <camera name="head" pos="%(cam)s" xyaxes="%(right)s %(up)s" fovy="%(fovy).3f"/>
    <camera name="lidar" pos="%(lidar)s" xyaxes="%(right)s %(up)s" fovy="%(fovy).3f"/>
    %(box)s
    %(object)s
    <body name="shoulder_pitch_link" pos="%(shoulder)s" gravcomp="1">
      <joint name="%(j0)s" axis="0 -1 0" range="%(lo0)g %(hi0)g" damping="2" armature="0.02"/>
      <geom type="sphere" size="0.03" mass="0.3" rgba="0.2 0.2 0.22 1" contype="0"
            conaffinity="0"/>
      <body name="shoulder_roll_link" gravcomp="1">
        <joint name="%(j1)s" axis="1 0 0" range="%(lo1)g %(hi1)g" damping="2" armature="0.02"/>
        <geom type="sphere" size="0.028" mass="0.3" rgba="0.2 0.2 0.22 1" contype="0"
              conaffinity="0"/>
        <body name="shoulder_yaw_link" gravcomp="1">
          <joint name="%(j2)s" axis="0 0 1" range="%(lo2)g %(hi2)g" damping="1.5"
                 armature="0.01"/>
          <geom type="capsule" fromto="0 0 0 0 0 -0.30" size="0.03" mass="0.8"
                rgba="0.75 0.75 0.78 1"/>
          <body name="elbow_link" pos="0 0 -0.30" gravcomp="1">
            <joint name="%(j3)s" axis="0 -1 0" range="%(lo3)g %(hi3)g" damping="1.5"
                   armature="0.01"/>
            <geom type="capsule" fromto="0 0 0 0 0 -0.25" size="0.025" mass="0.5"
                  rgba="0.75 0.75 0.78 1"/>
            <body name="hand" pos="0 0 -0.25" euler="0 %(bend)g 0" gravcomp="1">
              <geom name="palm" type="box" pos="0 0 -0.015" size="0.025 0.065 0.015"
                    mass="0.2" rgba="0.2 0.2 0.22 1"/>
              <site name="grip" pos="0 0 -0.09" size="0.005"/>
              <body name="finger_left" pos="0 0.007 -0.03" gravcomp="1">
                <joint name="%(jg)s" type="slide" axis="0 1 0" range="0 %(gopen)g"
                       damping="5" armature="0.05"/>
                <geom name="finger_left_geom" type="box" pos="0 0.006 -0.04"
                      size="0.012 0.006 0.04" mass="0.05" rgba="0.15 0.15 0.15 1"
                      friction="2.0 0.05 0.002" condim="4"/>
              </body>
              <body name="finger_right" pos="0 -0.007 -0.03" gravcomp="1">
                <joint name="right_gripper_mimic_joint" type="slide" axis="0 -1 0"
                       range="0 %(gopen)g" damping="5" armature="0.05"/>
                <geom name="finger_right_geom" type="box" pos="0 -0.006 -0.04"
                      size="0.012 0.006 0.04" mass="0.05" rgba="0.15 0.15 0.15 1"
                      friction="2.0 0.05 0.002" condim="4"/>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <contact>
    <exclude body1="hand" body2="finger_left"/>
    <exclude body1="hand" body2="finger_right"/>
    <exclude body1="finger_left" body2="finger_right"/>
  </contact>
  <actuator>
    <position name="a0" joint="%(j0)s" kp="%(kp)g" forcerange="-40 40"/>
    <position name="a1" joint="%(j1)s" kp="%(kp)g" forcerange="-40 40"/>
    <position name="a2" joint="%(j2)s" kp="%(kp)g" forcerange="-30 30"/>
    <position name="a3" joint="%(j3)s" kp="%(kp)g" forcerange="-30 30"/>
    <position name="grip_left" joint="%(jg)s" kp="400" forcerange="-12 12"/>
    <position name="grip_right" joint="right_gripper_mimic_joint" kp="400"
              forcerange="-12 12"/>
  </actuator>
</mujoco>
""" % {'cam': _vec(CAMERA_POS), 'lidar': _vec(lidar_pos), 'right': _vec(right),
       'up': _vec(up), 'fovy': CAMERA_FOVY_DEG, 'box': _box_xml(),
       'object': '\n'.join(_object_xml(OBJECT_SPECS[n]) for n in OBJECTS),
       'shoulder': _vec(SHOULDER),
       'j0': j[0], 'j1': j[1], 'j2': j[2], 'j3': j[3], 'jg': H1_GRIPPER_JOINT,
       'lo0': lo[0], 'hi0': hi[0], 'lo1': lo[1], 'hi1': hi[1], 'lo2': lo[2], 'hi2': hi[2],
       'lo3': lo[3], 'hi3': hi[3], 'bend': HAND_BEND, 'gopen': GRIPPER_OPEN, 'kp': arm_kp}
