# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Arm profiles: joint names, units, position limits and per-joint velocity caps.

A profile is the contract between the policy and the robot: the order of ``joint_names`` is the
order of the state and action vectors, and the safety filter clamps every command to
``lower``/``upper`` and ``max_velocity``. Each joint has its unit: ``'rad'`` (revolute; limits
in rad, cap in rad/s) or ``'m'`` (prismatic, e.g. a gripper's finger opening; m, m/s). One
velocity value for all joints is accepted only when they share a unit. :func:`order_joints`
reads named joint values (a message's) in a profile's order.
"""

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from promptda_ros.core.errors import InputError

JOINT_UNITS = ('rad', 'm')


@dataclass(frozen=True)
class ArmProfile:
    """Joint names and limits of one arm.

    Attributes:
        name: profile name (e.g. ``'unitree_h1_right_arm'``).
        joint_names: ordered joint names; the order of state and action vectors.
        lower: (J,) float64, lower position limits (rad or m, see ``units``).
        upper: (J,) float64, upper position limits (rad or m).
        max_velocity: (J,) float64, velocity caps applied to commands (rad/s or m/s).
        units: (J,) each joint's unit, ``'rad'`` or ``'m'``.
    """

    name: str
    joint_names: tuple
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    units: tuple = ()

    @property
    def num_joints(self) -> int:
        """Number of joints J."""
        return len(self.joint_names)

    def clamp(self, positions: np.ndarray) -> np.ndarray:
        """Clamp positions to the joint limits.

        Args:
            positions: (J,) rad.

        Returns:
            (J,) float64 rad inside ``[lower, upper]``.
        """
        return np.clip(np.asarray(positions, dtype=np.float64), self.lower, self.upper)

    def within_limits(self, positions: np.ndarray, tol: float = 1e-9) -> bool:
        """Return True when every finite position lies inside the limits ((J,) rad)."""
        p = np.asarray(positions, dtype=np.float64)
        return bool(np.all(np.isfinite(p)) and np.all(p >= self.lower - tol)
                    and np.all(p <= self.upper + tol))


def make_profile(name: str, joint_names: Sequence[str], lower: Sequence[float],
                 upper: Sequence[float], max_velocity: Sequence[float] | float,
                 units: Sequence[str] | None = None) -> ArmProfile:
    """Build and validate an arm profile (e.g. from ROS parameters).

    Args:
        name: profile name.
        joint_names: J unique, non-empty joint names.
        lower: (J,) lower limits, rad or m (``units``).
        upper: (J,) upper limits, each > lower.
        max_velocity: (J,) caps, rad/s or m/s, each > 0; or one value for all joints, only
            when they all have the same unit.
        units: (J,) ``'rad'`` / ``'m'`` per joint; None = all ``'rad'``.

    Raises:
        InputError: on empty or duplicate names, mismatched lengths, non-finite values,
            upper <= lower, non-positive velocity limits, unknown units, or one velocity for
            joints of different units.
    """
    names = tuple(str(n) for n in joint_names)
    if not names:
        raise InputError('arm profile %r: joint_names is empty' % name)
    if any(not n for n in names):
        raise InputError('arm profile %r: empty joint name in %r' % (name, names))
    if len(set(names)) != len(names):
        raise InputError('arm profile %r: duplicate joint names in %r' % (name, names))
    j = len(names)
    lo = np.asarray(lower, dtype=np.float64).reshape(-1)
    hi = np.asarray(upper, dtype=np.float64).reshape(-1)
    unit = ('rad',) * j if units is None else tuple(str(u) for u in units)
    if len(unit) != j or any(u not in JOINT_UNITS for u in unit):
        raise InputError('arm profile %r: units must be one of %s per joint, got %r'
                         % (name, JOINT_UNITS, unit))
    vel = np.asarray(max_velocity, dtype=np.float64).reshape(-1)
    if vel.size == 1 and j > 1:
        if len(set(unit)) > 1:
            raise InputError(
                'arm profile %r: one max_velocity (%g) for joints of different units; give '
                'one value per joint (%s)' % (name, float(vel[0]), ', '.join(
                    '%s %s/s' % (n, u) for n, u in zip(names, unit))))
        vel = np.full(j, float(vel[0]))
    for label, arr in (('lower', lo), ('upper', hi), ('max_velocity', vel)):
        if arr.size != j:
            raise InputError('arm profile %r: %s has %d values for %d joints'
                             % (name, label, arr.size, j))
        if not np.all(np.isfinite(arr)):
            raise InputError('arm profile %r: %s has non-finite values %s' % (name, label, arr))
    bad = np.nonzero(hi <= lo)[0]
    if bad.size:
        raise InputError('arm profile %r: upper <= lower for joint %s'
                         % (name, names[int(bad[0])]))
    if np.any(vel <= 0):
        raise InputError('arm profile %r: max_velocity must be > 0, got %s' % (name, vel))
    for arr in (lo, hi, vel):
        arr.setflags(write=False)
    return ArmProfile(name=name, joint_names=names, lower=lo, upper=hi, max_velocity=vel,
                      units=unit)


# Unitree H1 right arm (URDF position limits, rad). The velocity limit is a conservative
# commanded-speed cap for learned policies, well under the motors' rating; raise it deliberately.
H1_RIGHT_ARM_JOINTS = ('right_shoulder_pitch_joint', 'right_shoulder_roll_joint',
                       'right_shoulder_yaw_joint', 'right_elbow_joint')
H1_RIGHT_ARM_LOWER = (-2.87, -3.11, -4.45, -1.25)
H1_RIGHT_ARM_UPPER = (2.87, 0.34, 1.30, 2.61)
DEFAULT_MAX_VELOCITY = 1.0  # rad/s
# The same arm with a one-DOF parallel gripper (the simulated arm, promptda_sim): the
# gripper joint is the opening of each finger in metres (0 = closed), speed in m/s.
H1_GRIPPER_JOINT = 'right_gripper_joint'
H1_GRIPPER_RANGE = (0.0, 0.05)  # m
H1_GRIPPER_MAX_VELOCITY = 0.1   # m/s

PROFILES = {
    'unitree_h1_right_arm': lambda: make_profile(
        'unitree_h1_right_arm', H1_RIGHT_ARM_JOINTS, H1_RIGHT_ARM_LOWER, H1_RIGHT_ARM_UPPER,
        DEFAULT_MAX_VELOCITY),
    'unitree_h1_right_arm_gripper': lambda: make_profile(
        'unitree_h1_right_arm_gripper', H1_RIGHT_ARM_JOINTS + (H1_GRIPPER_JOINT,),
        H1_RIGHT_ARM_LOWER + (H1_GRIPPER_RANGE[0],), H1_RIGHT_ARM_UPPER + (H1_GRIPPER_RANGE[1],),
        (DEFAULT_MAX_VELOCITY,) * len(H1_RIGHT_ARM_JOINTS) + (H1_GRIPPER_MAX_VELOCITY,),
        ('rad',) * len(H1_RIGHT_ARM_JOINTS) + ('m',)),
}


def get_profile(name: str, max_velocity: Sequence[float] | float | None = None) -> ArmProfile:
    """Return a built-in profile by name, optionally with other velocity caps.

    Args:
        name: a key of ``PROFILES``.
        max_velocity: None or empty = the profile's own caps; (J,) one per joint in each
            joint's unit per second; one value only for a profile whose joints share a unit.

    Raises:
        InputError: an unknown name, or caps that do not fit the profile's joints.
    """
    if name not in PROFILES:
        raise InputError('unknown arm profile %r; known: %s (or use profile "generic" with '
                         'joint_names / lower / upper parameters)' % (name, sorted(PROFILES)))
    prof = PROFILES[name]()
    if max_velocity is None or np.size(max_velocity) == 0:
        return prof
    return make_profile(prof.name, prof.joint_names, prof.lower.tolist(), prof.upper.tolist(),
                        max_velocity, prof.units)


def order_joints(names: list, values: list, wanted: tuple) -> np.ndarray | None:
    """Reorder named joint values into the profile order.

    Args:
        names: joint names of a message (any order, may hold extra joints).
        values: one value per name (rad).
        wanted: the profile's J joint names.

    Returns:
        (J,) float64 in ``wanted`` order, or None when a wanted joint is absent or the message
        has fewer values than names.
    """
    if len(values) < len(names):
        return None
    index = {str(n): i for i, n in enumerate(names)}
    try:
        idx = [index[w] for w in wanted]
    except KeyError:
        return None
    return np.asarray(values, dtype=np.float64)[idx]
