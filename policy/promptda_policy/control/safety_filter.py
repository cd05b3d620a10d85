# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Command safety filter: pure, deterministic, no ROS and no torch.

Every command the policy node publishes goes through :meth:`SafetyFilter.step`:

* **disabled** (the start state) -> nothing is published; another controller keeps the arm;
* **e-stop input unheard** -> enabling is refused until the e-stop input has been heard: at
  least one ``False`` (``estop_required``, the default), or with ``estop_timeout_s > 0`` a
  ``False`` no older than that (a heartbeat; its silence while enabled latches an e-stop). With
  ``estop_required=False`` and no timeout, enabling before anything is heard is allowed;
* **e-stop** latches: the arm holds the pose it had when the stop arrived until the stop input
  is released, :meth:`SafetyFilter.reset_estop` is called *and* the filter is enabled again;
* **stale** depth or joint state (older than the configured age), or no action available ->
  hold the last command (latched when the hold began; the measured pose when nothing was
  commanded since enabling): the arm settles where it was last sent, so no published command
  steps further than the velocity limit allows, as in every mode but e-stop and fault. The
  tracking-error check goes on during a hold;
* **active** -> the policy target clamped to the joint limits, then rate-limited so no joint
  moves faster than its velocity limit between two commands, then clamped again;
* **fault**: while active, a measured pose further than ``max_tracking_error_rad`` from the
  last command (arm blocked, controller not following) -> one hold command at the measured
  pose, then the filter disables itself until enabled again.
"""

from dataclasses import dataclass
import enum

import numpy as np

from promptda_ros.core.errors import InputError

from .arm_profiles import ArmProfile


class Mode(str, enum.Enum):
    """Why the filter produced its command."""

    DISABLED = 'disabled'
    ESTOP = 'estop'
    STALE = 'stale'
    HOLD = 'hold'
    FAULT = 'fault'
    ACTIVE = 'active'


@dataclass(frozen=True)
class SafetyConfig:
    """Safety thresholds.

    Attributes:
        max_depth_age_s: hold when the newest depth image is older than this (s).
        max_joint_state_age_s: hold when the newest joint state is older than this (s).
        control_period_s: nominal time between two commands (s); sets the per-command step
            allowed by the velocity limits.
        max_tracking_error_rad: fault when any joint is further than this from the last
            command (rad); 0 turns the check off.
        estop_required: refuse to enable until the e-stop input was heard (at least one
            message, and the newest one ``False``); False lets the filter enable before any
            e-stop message (fails open: only for setups without an e-stop publisher).
        estop_timeout_s: > 0 makes the e-stop input a heartbeat: enabling needs a message no
            older than this (s), and silence longer than this while enabled latches an e-stop.
            0 = no heartbeat.
    """

    max_depth_age_s: float = 0.5
    max_joint_state_age_s: float = 0.2
    control_period_s: float = 1.0 / 30.0
    max_tracking_error_rad: float = 0.5
    estop_required: bool = True
    estop_timeout_s: float = 0.0

    def __post_init__(self):
        for name in ('max_depth_age_s', 'max_joint_state_age_s', 'control_period_s'):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InputError('safety %s must be a finite number > 0, got %r' % (name, value))
        if not np.isfinite(self.max_tracking_error_rad) or self.max_tracking_error_rad < 0:
            raise InputError('safety max_tracking_error_rad must be >= 0 (0 = off), got %r'
                             % (self.max_tracking_error_rad,))
        if not np.isfinite(self.estop_timeout_s) or self.estop_timeout_s < 0:
            raise InputError('safety estop_timeout_s must be >= 0 (0 = no heartbeat), got %r'
                             % (self.estop_timeout_s,))


@dataclass(frozen=True)
class Decision:
    """Outcome of one control step.

    Attributes:
        mode: the filter state that produced the command.
        positions: (J,) float64 rad to command, or None to publish nothing.
        reason: human-readable reason (empty when active).
    """

    mode: Mode
    positions: np.ndarray | None
    reason: str = ''


class SafetyFilter:
    """Clamp, rate-limit and gate joint position commands for one arm profile."""

    def __init__(self, profile: ArmProfile, config: SafetyConfig | None = None):
        self.profile = profile
        self.config = config or SafetyConfig()
        self._enabled = False
        self._estop_latched = False
        self._estop_input = False
        self._estop_heard = False   # any message on the e-stop input yet
        self._estop_heard_s: float | None = None  # time (s) of the newest e-stop message
        self._last_command: np.ndarray | None = None  # (J,) rad, last published command
        self._hold: np.ndarray | None = None          # (J,) rad, pose held while not active

    @property
    def enabled(self) -> bool:
        """True when commands may be published."""
        return self._enabled

    @property
    def estopped(self) -> bool:
        """True while the e-stop is latched."""
        return self._estop_latched

    def set_estop(self, active: bool, now_s: float | None = None) -> None:
        """Feed the e-stop input (received at ``now_s``, s); True latches and disables."""
        self._estop_input = bool(active)
        self._estop_heard = True
        if now_s is not None:
            self._estop_heard_s = float(now_s)
        if active:
            if not self._estop_latched:
                self._hold = None  # the e-stop holds the pose of the moment it arrives
            self._estop_latched = True
            self._enabled = False

    def reset_estop(self) -> tuple[bool, str]:
        """Release the latched e-stop (the filter stays disabled until enabled again)."""
        if self._estop_input:
            return False, 'e-stop input is still active'
        self._estop_latched = False
        self._hold = None
        return True, 'e-stop released; call enable to resume'

    def estop_unready(self, now_s: float | None = None) -> str:
        """Return why the e-stop input does not allow enabling at ``now_s`` (s), or ''."""
        cfg = self.config
        if cfg.estop_timeout_s > 0:
            if self._estop_heard_s is None:
                return 'no e-stop heartbeat received yet (publish False on estop)'
            if now_s is not None and now_s - self._estop_heard_s > cfg.estop_timeout_s:
                return 'e-stop heartbeat lost: last message %.3f s ago > estop_timeout_s %.3f' \
                    % (now_s - self._estop_heard_s, cfg.estop_timeout_s)
        if cfg.estop_required and not self._estop_heard:
            return ('nothing received on the e-stop input yet (publish False on estop, or set '
                    'estop_required false where no e-stop exists)')
        return ''

    def set_enabled(self, enable: bool, now_s: float | None = None) -> tuple[bool, str]:
        """Enable or disable commanding at ``now_s`` (s).

        Enabling is refused while the e-stop is latched or its input was not heard
        (:meth:`estop_unready`).
        """
        if enable and self._estop_latched:
            return False, 'refused: e-stop is latched (release it and call reset first)'
        unready = self.estop_unready(now_s) if enable else ''
        if unready:
            return False, 'refused: ' + unready
        if enable and not self._enabled:
            # Start from the measured pose, never from a command issued before a pause.
            self._last_command = None
            self._hold = None
        self._enabled = bool(enable)
        return True, 'enabled' if enable else 'disabled'

    def _check_vector(self, name: str, vec) -> np.ndarray:
        arr = np.asarray(vec, dtype=np.float64).reshape(-1)
        if arr.size != self.profile.num_joints:
            raise InputError('%s has %d values, profile %r has %d joints'
                             % (name, arr.size, self.profile.name, self.profile.num_joints))
        return arr

    def _hold_decision(self, mode: Mode, reason: str, measured: np.ndarray | None,
                       at_measured: bool = False) -> Decision:
        """Hold the pose latched when the hold began.

        The latched pose is the last command (it is within one velocity step of the previous
        one), or with ``at_measured`` (e-stop: stop where the arm is) or when nothing was
        commanded yet, the measured pose.
        """
        if self._hold is None:
            known = measured is not None and bool(np.all(np.isfinite(measured)))
            if measured is not None and known and (at_measured or self._last_command is None):
                self._hold = self.profile.clamp(measured)
            elif self._last_command is not None:
                self._hold = self._last_command.copy()
        if self._hold is None:
            return Decision(mode, None, reason + ' (no pose known yet: nothing published)')
        self._last_command = self._hold.copy()
        return Decision(mode, self._hold.copy(), reason)

    def step(self, now_s: float, target: np.ndarray | None, joint_positions: np.ndarray | None,
             joint_stamp_s: float | None, depth_stamp_s: float | None) -> Decision:
        """Produce the command for one control tick.

        Args:
            now_s: current time (s, same clock as the stamps).
            target: (J,) rad policy target, or None when no action is available.
            joint_positions: (J,) rad newest measured joint positions, or None.
            joint_stamp_s: stamp of ``joint_positions`` (s) or None.
            depth_stamp_s: stamp of the newest depth image (s) or None.

        Returns:
            A :class:`Decision`; ``positions`` is (J,) float64 rad or None (publish nothing).

        Raises:
            InputError: when a vector does not have one value per joint.
        """
        measured = None
        if joint_positions is not None:
            measured = self._check_vector('joint_positions', joint_positions)
        joint_fresh = (measured is not None and joint_stamp_s is not None
                       and now_s - joint_stamp_s <= self.config.max_joint_state_age_s)
        pose_for_hold = measured if joint_fresh else None
        if self._enabled and self.config.estop_timeout_s > 0:
            lost = self.estop_unready(now_s)
            if lost:  # heartbeat silent while enabled: stop as if the e-stop were pressed
                self._estop_latched = True
                self._enabled = False
                return self._hold_decision(Mode.ESTOP, lost, pose_for_hold, at_measured=True)
        if self._estop_latched:
            return self._hold_decision(Mode.ESTOP, 'e-stop latched', pose_for_hold,
                                       at_measured=True)
        if not self._enabled:
            self._hold = None
            return Decision(Mode.DISABLED, None, 'disabled')
        if not joint_fresh:
            age = 'never received' if joint_stamp_s is None else '%.3f s old' % (
                now_s - joint_stamp_s)
            return self._hold_decision(Mode.STALE, 'joint state stale: ' + age, None)
        assert measured is not None  # a fresh joint state is a measurement
        limit = self.config.max_tracking_error_rad
        if limit > 0 and self._last_command is not None:
            error = np.abs(measured - self._last_command)
            if np.any(error > limit):
                j = int(np.argmax(error))
                self._enabled = False
                self._hold = None
                hold = self.profile.clamp(measured)
                self._last_command = hold
                return Decision(Mode.FAULT, hold.copy(),
                                'tracking error %.3f rad at %s > %.3f: disabled, enable again '
                                'to resume' % (error[j], self.profile.joint_names[j], limit))
        if depth_stamp_s is None or now_s - depth_stamp_s > self.config.max_depth_age_s:
            age = 'never received' if depth_stamp_s is None else '%.3f s old' % (
                now_s - depth_stamp_s)
            return self._hold_decision(Mode.STALE, 'depth stale: ' + age, measured)
        if target is None:
            return self._hold_decision(Mode.HOLD, 'no action available', measured)
        goal = self._check_vector('target', target)
        if not np.all(np.isfinite(goal)):
            return self._hold_decision(Mode.HOLD, 'non-finite policy action', measured)
        goal = self.profile.clamp(goal)
        start = self._last_command if self._last_command is not None else self.profile.clamp(
            measured)
        max_step = self.profile.max_velocity * self.config.control_period_s
        command = self.profile.clamp(start + np.clip(goal - start, -max_step, max_step))
        self._last_command = command
        self._hold = None
        return Decision(Mode.ACTIVE, command.copy(), '')
