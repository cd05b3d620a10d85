# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""ROS 2 nodes of the grasping simulation and the scripted expert (CLI: :mod:`promptda_sim.cli`).

``promptda_sim`` (:class:`SimNode`) steps the MuJoCo world (``promptda_sim``) at a fixed
``tick_s`` of sim time and publishes, all stamped with sim time (topic names relative):

* ``/clock`` (rosgraph_msgs/Clock) every tick — run the other nodes with ``use_sim_time``;
* ``joint_states`` (sensor_msgs/JointState) every tick: the four H1 right-arm joints (rad) and
  ``right_gripper_joint`` (finger opening, m);
* at ``camera_rate_hz`` (15): ``image`` (rgb8), ``camera_info``, ``depth/true`` (32FC1 m, the
  simulator's true depth), ``lidar/points`` (PointCloud2 in frame ``lidar``; noise, dropouts,
  glass seen through, mirror dropouts) and, with ``publish_prompt_depth``, ``prompt_depth``
  (16UC1 mm, the sweep projected into a ``prompt_height`` x ``prompt_width`` grid by
  :meth:`~promptda_sim.world.SimWorld.prompt_grid`, the perception node's projection);
* ``/tf_static`` (when ``tf2_msgs`` is installed): base_link -> camera / lidar frames;
* ``episode`` (std_msgs/String, latched JSON: seed, object, position, start time in s);
* ``/diagnostics`` once a second (sim time, real-time factor, episode, bad commands).

It takes ``command``: trajectory_msgs/JointTrajectory (joints by name, first point) or, with
``command_type: array``, std_msgs/Float64MultiArray in ``joint_states`` order. Commands are
clamped to the joint limits; a command naming joints the arm does not have is refused (logged,
counted) and the arm keeps its last target.

Parameters (``SIM_SPECS``: ranges and choices in their descriptors) are validated into
``SimParams`` before the world is built; a refused value is one error naming it.

Services: ``~/reset`` (std_srvs/Trigger) starts a new episode from the parameters ``seed``,
``object`` and ``position`` (settable at run time, validated); ``~/success`` (std_srvs/Trigger)
answers whether the object lies in the box.

Sim time advances by ``tick_s`` per wall-clock period ``tick_s / real_time_factor`` (0 = as
fast as possible). When rendering or the consumers are slower, sim time runs slower than wall
time; physics never depends on the machine's speed.

``promptda_sim_expert`` (:class:`ExpertNode`) listens to ``episode`` and ``joint_states`` and
commands the scripted pick-and-place (``promptda_sim.expert``) on ``command`` at
``rate_hz`` — the same topic a policy uses, so a recorder sees exactly what it would see from a
teleoperator.
"""

import json
import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2
from std_msgs.msg import Float64MultiArray, Header, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from promptda_policy.control.arm_profiles import get_profile
from promptda_policy.ros.arm_interface import joint_state_positions, make_command
from promptda_ros.core.errors import InputError, PromptDAError
from promptda_ros.core.sync import seconds_to_ns
from promptda_ros.core.transforms import matrix_to_quat
from promptda_ros.ros import conversions
from promptda_ros.ros.diagnostics import diagnostics_publisher, status_array
from promptda_ros.ros.node_kit import latched_qos, qos_profile
from promptda_ros.ros.params import declare, params_class, ParamSpec
from promptda_sim.scene import OBJECTS, POSITIONS

try:  # optional: ROS installs ship tf2_msgs, PyPI does not
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage
except ImportError:
    TFMessage = None

NODE_NAME = 'promptda_sim'
EXPERT_NAME = 'promptda_sim_expert'
BASE_FRAME = 'base_link'
CAMERA_FRAME = 'head_camera_optical_frame'
LIDAR_FRAME = 'lidar'
COMMAND_TYPES = {'trajectory': JointTrajectory, 'array': Float64MultiArray}
TRACKING_RAD = 0.08   # expert: the plan waits while a joint lags its command by more (rad)

SIM_SPECS = (
    ParamSpec('seed', 0, 'episode seed (jitters the object place); used by ~/reset',
              read_only=False, int_range=(0, 2 ** 31 - 1)),
    ParamSpec('object', 'red_can', 'episode object: %s; used by ~/reset' % ', '.join(OBJECTS),
              read_only=False, choices=OBJECTS),
    ParamSpec('position', 'middle', 'episode position: %s; used by ~/reset'
              % ', '.join(POSITIONS), read_only=False, choices=POSITIONS),
    ParamSpec('tick_s', 1.0 / 60.0, 'sim time per step of the loop (s); joint_states rate',
              float_range=(0.002, 0.1)),
    ParamSpec('real_time_factor', 1.0, 'sim seconds per wall second (0 = as fast as possible)',
              float_range=(0.0, 20.0)),
    ParamSpec('camera_rate_hz', 15.0, 'camera and LiDAR rate in sim time (Hz)',
              float_range=(1.0, 60.0)),
    ParamSpec('camera_height', 120, 'head camera rows (px)', int_range=(16, 480)),
    ParamSpec('camera_width', 160, 'head camera columns (px)', int_range=(16, 640)),
    ParamSpec('lidar_rows', 24, 'LiDAR beam rows', int_range=(2, 128)),
    ParamSpec('lidar_columns', 32, 'LiDAR beam columns', int_range=(2, 256)),
    ParamSpec('lidar_noise_m', 0.005, 'LiDAR range noise floor, 1 sigma (m)',
              float_range=(0.0, 0.5)),
    ParamSpec('lidar_noise_rel', 0.01, 'LiDAR range noise per metre of range, 1 sigma',
              float_range=(0.0, 0.5)),
    ParamSpec('lidar_dropout', 0.08, 'probability that a beam returns nothing',
              float_range=(0.0, 0.99)),
    ParamSpec('publish_prompt_depth', False, 'also publish prompt_depth (16UC1 mm)'),
    ParamSpec('prompt_height', 24, 'prompt_depth rows (px)', int_range=(2, 480)),
    ParamSpec('prompt_width', 32, 'prompt_depth columns (px)', int_range=(2, 640)),
    ParamSpec('command_type', 'trajectory', "command topic type: 'trajectory' "
              "(JointTrajectory) or 'array' (Float64MultiArray in joint_states order)",
              choices=tuple(COMMAND_TYPES)),
)

SimParams = params_class('SimParams', SIM_SPECS)
"""The simulator's parameters, validated against ``SIM_SPECS`` (ranges, choices)."""


def _stamp(t_s: float):
    """Return simulation seconds as a ``builtin_interfaces/Time`` (rounded to the nanosecond)."""
    return conversions.ns_to_stamp(seconds_to_ns(t_s))


class SimNode(Node):
    """The simulated robot, camera and LiDAR as a ROS node; see the module docstring.

    Args:
        probe_rendering: render once at construction so a missing system library fails at
            start-up (the renderers are then recreated in the executor thread).
    """

    def __init__(self, probe_rendering: bool = True, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        from promptda_sim.scene import EpisodeConfig, JOINT_NAMES
        from promptda_sim.world import SensorConfig, SimWorld
        self.world: Any = None
        # Every value is checked (ranges, choices) before the world is built.
        p = SimParams.from_mapping(declare(self, SIM_SPECS))
        self.params = p
        self.joint_names = JOINT_NAMES
        self._episode_cls = EpisodeConfig
        episode = EpisodeConfig(int(p['seed']), p['object'], p['position'])
        sensors = SensorConfig(camera_hw=(p['camera_height'], p['camera_width']),
                               lidar_hw=(p['lidar_rows'], p['lidar_columns']),
                               lidar_noise_m=p['lidar_noise_m'],
                               lidar_noise_rel=p['lidar_noise_rel'],
                               lidar_dropout=p['lidar_dropout'])
        self.world = SimWorld(episode, sensors)
        if probe_rendering:
            self.world.render_camera()
            self.world.close()   # the executor thread creates its own GL contexts
        self.tick_s = float(p['tick_s'])
        self.camera_period = 1.0 / float(p['camera_rate_hz'])
        self._lock = threading.Lock()
        self._target = self.world.command.copy()
        self._t_offset = 0.0        # sim time at the start of the episode (s)
        self._next_camera = 0.0
        self.episode_start_s = 0.0
        self.bad_commands = 0
        self.frames = 0
        self.ticks = 0
        self._wall_start = time.monotonic()
        self._rtf_mark = (time.monotonic(), 0.0)
        self.measured_rtf = 0.0

        reliable, latched = qos_profile(True, depth=10), latched_qos()
        self.clock_pub = self.create_publisher(Clock, '/clock', 10)
        self.joint_pub = self.create_publisher(JointState, 'joint_states', 10)
        self.image_pub = self.create_publisher(Image, 'image',
                                               qos_profile(False))
        self.info_pub = self.create_publisher(CameraInfo, 'camera_info',
                                              qos_profile(False))
        self.depth_pub = self.create_publisher(Image, 'depth/true',
                                               qos_profile(False))
        self.points_pub = self.create_publisher(PointCloud2, 'lidar/points',
                                                qos_profile(False))
        self.prompt_pub = (self.create_publisher(Image, 'prompt_depth',
                                                 qos_profile(False))
                           if p['publish_prompt_depth'] else None)
        self.episode_pub = self.create_publisher(String, 'episode', latched)
        self.diag_pub = diagnostics_publisher(self)
        self.tf_static_pub = (self.create_publisher(TFMessage, '/tf_static', latched)
                              if TFMessage is not None else None)
        self.create_subscription(COMMAND_TYPES[p['command_type']], 'command', self._on_command,
                                 reliable)
        self.create_service(Trigger, '~/reset', self._srv_reset)
        self.create_service(Trigger, '~/success', self._srv_success)
        self.add_on_set_parameters_callback(self._on_params)
        self._timer: Any = None
        self._close_requested: threading.Event | None = None
        self._start_timer()
        self.create_timer(1.0, self._on_diagnostics)
        self._publish_episode()
        self._publish_tf_static()
        self.get_logger().info('simulation ready: %s at %s (seed %d); camera %dx%d at %.0f Hz, '
                               'LiDAR %dx%d beams' % (episode.object, episode.position,
                                                      episode.seed, p['camera_width'],
                                                      p['camera_height'], p['camera_rate_hz'],
                                                      p['lidar_columns'], p['lidar_rows']))

    # ---------------------------------------------------------------- helpers
    @property
    def sim_time_s(self) -> float:
        """Sim time published on /clock (s): monotonic across episodes."""
        return self._t_offset + self.world.time_s

    def _start_timer(self) -> None:
        rtf = float(self.params['real_time_factor'])
        period = self.tick_s / rtf if rtf > 0 else 1e-4
        self._timer = self.create_timer(period, self._on_tick)

    def _on_params(self, params) -> SetParametersResult:
        values = {p.name: p.value for p in params}
        if {'object', 'position', 'seed'} & set(values):
            try:
                self._episode_cls(int(values.get('seed', self.get_parameter('seed').value)),
                                  values.get('object', self.get_parameter('object').value),
                                  values.get('position', self.get_parameter('position').value))
            except (InputError, TypeError, ValueError) as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _publish_episode(self) -> None:
        e = self.world.episode
        self.episode_pub.publish(String(data=json.dumps(
            {'seed': e.seed, 'object': e.object, 'position': e.position,
             'start_time_s': self.episode_start_s})))

    def _publish_tf_static(self) -> None:
        if self.tf_static_pub is None:
            return
        msgs = []
        for child, T in ((CAMERA_FRAME, self.world.T_world_camera()),
                         (LIDAR_FRAME, self.world.T_world_lidar())):
            t = TransformStamped()
            t.header.stamp = _stamp(self.sim_time_s)
            t.header.frame_id = BASE_FRAME
            t.child_frame_id = child
            t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (
                float(v) for v in T[:3, 3])
            q = matrix_to_quat(T[:3, :3])
            (t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z,
             t.transform.rotation.w) = (float(v) for v in q)
            msgs.append(t)
        self.tf_static_pub.publish(TFMessage(transforms=msgs))

    # ---------------------------------------------------------------- episode control
    def reset_episode(self, episode=None) -> str:
        """Start a new episode (from the parameters when ``episode`` is None); return a summary."""
        if episode is None:
            episode = self._episode_cls(int(self.get_parameter('seed').value),
                                        self.get_parameter('object').value,
                                        self.get_parameter('position').value)
        with self._lock:
            self._t_offset = self.sim_time_s + self.tick_s
            self.world.reset(episode)
            self._target = self.world.command.copy()
            self.episode_start_s = self._t_offset
            self._next_camera = 0.0
        self._publish_episode()
        msg = 'episode: %s at %s, seed %d, starts at %.3f s' % (
            episode.object, episode.position, episode.seed, self.episode_start_s)
        self.get_logger().info(msg)
        return msg

    def _srv_reset(self, request, response):
        try:
            response.message = self.reset_episode()
            response.success = True
        except PromptDAError as exc:
            response.success, response.message = False, str(exc)
        return response

    def _srv_success(self, request, response):
        with self._lock:
            ok = self.world.success()
            p = self.world.object_position()
            t = self.world.time_s
        response.success = bool(ok)
        response.message = ('%s: object at (%.3f, %.3f, %.3f) m after %.2f s of the episode'
                            % ('in the box' if ok else 'not in the box', p[0], p[1], p[2], t))
        return response

    # ---------------------------------------------------------------- commands
    def _on_command(self, msg) -> None:
        target = self._target.copy()
        if isinstance(msg, JointTrajectory):
            unknown = [n for n in msg.joint_names if n not in self.joint_names]
            if unknown or not msg.points or \
                    len(msg.points[0].positions) != len(msg.joint_names):
                self.bad_commands += 1
                self.get_logger().error(
                    "command refused: joints %s are not the arm's %s" % (unknown, list(
                        self.joint_names)) if unknown else 'command refused: no point or '
                    'positions do not match joint_names', throttle_duration_sec=2.0)
                return
            for name, value in zip(msg.joint_names, msg.points[0].positions):
                target[self.joint_names.index(name)] = value
        else:
            if len(msg.data) != len(self.joint_names):
                self.bad_commands += 1
                self.get_logger().error('command refused: %d values, the arm has %d joints %s'
                                        % (len(msg.data), len(self.joint_names),
                                           list(self.joint_names)), throttle_duration_sec=2.0)
                return
            target = np.asarray(msg.data, np.float64)
        if not np.all(np.isfinite(target)):
            self.bad_commands += 1
            self.get_logger().error('command refused: non-finite value',
                                    throttle_duration_sec=2.0)
            return
        with self._lock:
            self._target = target

    def release_renderers(self, timeout_s: float = 5.0) -> None:
        """Free the renderers from the executor thread that owns them (call while spinning)."""
        event = threading.Event()
        self._close_requested = event
        event.wait(timeout_s)

    # ---------------------------------------------------------------- the loop
    def _on_tick(self) -> None:
        if self._close_requested is not None:
            self.world.close()
            self._close_requested.set()
            return
        with self._lock:
            self.world.set_command(self._target)
            self.world.step(self.tick_s)
            t = self.sim_time_s
            q = self.world.joint_positions()
            v = self.world.joint_velocities()
            render = self.world.time_s + 1e-9 >= self._next_camera
            if render:
                self._next_camera += self.camera_period
                rgb, depth = self.world.render_camera()
                points = self.world.lidar_points()
        self.ticks += 1
        stamp = _stamp(t)
        self.clock_pub.publish(Clock(clock=stamp))
        js = JointState(name=list(self.joint_names), position=[float(x) for x in q],
                        velocity=[float(x) for x in v])
        js.header.stamp = stamp
        js.header.frame_id = BASE_FRAME
        self.joint_pub.publish(js)
        if render:
            self._publish_sensors(stamp, rgb, depth, points)

    def _publish_sensors(self, stamp, rgb, depth, points) -> None:
        header = Header(stamp=stamp, frame_id=CAMERA_FRAME)
        self.info_pub.publish(conversions.camera_info_msg(self.world.camera, header))
        self.depth_pub.publish(conversions.depth_image_msg(depth, header))
        self.points_pub.publish(conversions.cloud_msg(
            points.reshape(1, -1, 3), Header(stamp=stamp, frame_id=LIDAR_FRAME)))
        if self.prompt_pub is not None:
            grid = self.world.prompt_grid(points, (int(self.params['prompt_height']),
                                                   int(self.params['prompt_width'])))
            self.prompt_pub.publish(conversions.depth_image_msg(grid, header, '16UC1'))
        self.image_pub.publish(conversions.image_msg(rgb, 'rgb8', header))
        self.frames += 1

    def _on_diagnostics(self) -> None:
        now = time.monotonic()
        t = self.sim_time_s
        w0, t0 = self._rtf_mark
        self.measured_rtf = (t - t0) / max(now - w0, 1e-6)
        self._rtf_mark = (now, t)
        e = self.world.episode
        values = {'sim_time_s': '%.3f' % t, 'real_time_factor': '%.2f' % self.measured_rtf,
                  'episode': '%s/%s/seed %d' % (e.object, e.position, e.seed),
                  'camera_frames': str(self.frames), 'bad_commands': str(self.bad_commands)}
        self.diag_pub.publish(status_array(
            _stamp(t), DiagnosticStatus.WARN if self.bad_commands else DiagnosticStatus.OK,
            '%s: simulation' % self.get_name(),
            '%d commands refused' % self.bad_commands if self.bad_commands else 'ok', values,
            hardware_id='mujoco'))

    def destroy_node(self):
        """Release the renderers (if the world was built), then destroy the node."""
        if self.world is not None:
            self.world.close()
        super().destroy_node()


EXPERT_SPECS = (
    ParamSpec('rate_hz', 30.0, 'command rate in sim time (Hz)', float_range=(1.0, 1000.0)),
    ParamSpec('output_type', 'trajectory', "'trajectory' (JointTrajectory) or 'array' "
              '(Float64MultiArray in joint order)', choices=tuple(COMMAND_TYPES)),
    ParamSpec('time_from_start_s', 0.1, 'JointTrajectory point time_from_start (s)',
              float_range=(0.0, 10.0)),
)

ExpertParams = params_class('ExpertParams', EXPERT_SPECS)
"""The scripted expert's parameters, validated against ``EXPERT_SPECS``."""


class ExpertNode(Node):
    """Scripted pick-and-place on ``command``; see the module docstring.

    Runs with ``use_sim_time`` (the simulator's /clock). For each ``episode`` message it plans
    on its own copy of the scene model from the first joint state of the episode, then commands
    the plan until the next episode; ``done`` tells whether the plan has been played out.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(EXPERT_NAME, **kwargs)
        from promptda_sim.render import mujoco
        from promptda_sim.scene import build_mjcf, EpisodeConfig
        p = ExpertParams.from_mapping(declare(self, EXPERT_SPECS))
        self.params = p
        self.profile = get_profile('unitree_h1_right_arm_gripper')
        self._model = mujoco.MjModel.from_xml_string(build_mjcf())
        self._episode_cls = EpisodeConfig
        self._lock = threading.Lock()
        self._episode: Any = None
        self._start_s = 0.0
        self._joints: np.ndarray | None = None
        self.plan: Any = None
        self.plan_t = 0.0          # s of the plan played so far
        self._tick_s: float | None = None   # sim time of the previous command
        self._last: np.ndarray | None = None  # (5,) last command
        self.commands = 0
        self._held = False         # the plan's clock stands still (see :meth:`hold`)
        self.pub = self.create_publisher(COMMAND_TYPES[p['output_type']], 'command', 10)
        self.create_subscription(String, 'episode', self._on_episode, latched_qos())
        self.create_subscription(JointState, 'joint_states', self._on_joints, 10)
        self.create_timer(1.0 / float(p['rate_hz']), self._on_timer)

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_episode(self, msg: String) -> None:
        try:
            d = json.loads(msg.data)
            episode = self._episode_cls(int(d['seed']), d['object'], d['position'])
        except (ValueError, KeyError, TypeError, InputError) as exc:
            self.get_logger().error('bad episode message: %s' % exc)
            return
        with self._lock:
            self._episode = episode
            self._start_s = float(d.get('start_time_s', 0.0))
            self.plan = None

    def _on_joints(self, msg: JointState) -> None:
        pos = joint_state_positions(msg, self.profile)
        if pos is None:
            return
        stamp = conversions.stamp_to_ns(msg.header.stamp) * 1e-9
        with self._lock:
            self._joints = pos
            if self._episode is not None and self.plan is None and stamp >= self._start_s:
                from promptda_sim.expert import ScriptedExpert
                try:
                    self.plan = ScriptedExpert(self._model, self._episode, pos)
                except InputError as exc:
                    self.get_logger().error(str(exc))
                    self._episode = None
                    return
                self.plan_t = 0.0
                self._tick_s = None
                self._last = None

    def hold(self, held: bool) -> None:
        """Stop (True) or restart (False) the plan's clock; while held the start pose is commanded.

        A demonstration is recorded from the reset pose only if the plan waits for the
        recorder: the driver holds the expert across the reset, starts the recorder, then
        lets the plan run. Otherwise the first, position-deciding part of the reach is lost.
        """
        with self._lock:
            self._held = bool(held)

    @property
    def done(self) -> bool:
        """True when the current plan has been played out."""
        with self._lock:
            return self.plan is not None and self.plan_t >= self.plan.duration_s

    def _on_timer(self) -> None:
        now = self._now_s()
        with self._lock:
            plan, joints, last = self.plan, self._joints, self._last
            if plan is None:
                return
            # The plan's clock runs while the arm follows (measured within TRACKING_RAD of the
            # last command); when the simulator or this node lags, the plan waits instead of
            # closing the gripper before the hand is around the object.
            dt = max(now - self._tick_s, 0.0) if self._tick_s is not None else 0.0
            if not self._held and (last is None or joints is None or
                                   np.max(np.abs(joints[:4] - last[:4])) < TRACKING_RAD):
                self.plan_t += dt
            self._tick_s = now
            q = plan.command_at(self.plan_t)
            self._last = q
        self.pub.publish(make_command(q, self.profile, self.params['output_type'],
                                      self.get_clock().now().to_msg(),
                                      float(self.params['time_from_start_s'])))
        self.commands += 1
