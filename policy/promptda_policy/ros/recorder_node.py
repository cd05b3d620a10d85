# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""ROS 2 demonstration recorder (``promptda-policy-record``): topics -> LeRobotDataset.

Topics (relative, remap in launch):
  in ``depth`` (sensor_msgs/Image, 32FC1 m or 16UC1 mm; e.g. the perception node's
     ``depth/image``), ``joint_states`` (sensor_msgs/JointState), ``command`` (the teleop's
     commanded positions: trajectory_msgs/JointTrajectory or std_msgs/Float64MultiArray,
     parameter ``action_type``), ``record`` (std_msgs/Bool: True starts, False stops an episode)
Services: ``~/start_episode``, ``~/stop_episode`` (std_srvs/Trigger).

While an episode runs, a timer at ``fps`` samples the newest depth, joint state and command;
a frame is written only when all three are younger than their max age (skipped frames are
counted and logged). The dataset is created at the first start (its size is the depth size
then) and finalised when the node shuts down; an episode still running at shutdown is
discarded.
"""

import argparse
import collections
import os
import threading

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from promptda_ros.core.errors import PromptDAError
from promptda_ros.core.msg_codec import image_to_depth_m, stamp_to_ns
from promptda_ros.ros.node_kit import parse_node_args, qos_profile, run_node
from promptda_ros.ros.params import declare, params_class, ParamSpec
from promptda_ros.serving import CallbackGuard

from .arm_interface import (
    command_positions,
    joint_state_positions,
    profile_from_params,
    PROFILE_SPECS,
    service_failed,
)

NODE_NAME = 'promptda_policy_recorder'
ACTION_TYPES = {'trajectory': JointTrajectory, 'array': Float64MultiArray}

RECORDER_SPECS = PROFILE_SPECS + (
    ParamSpec('root', '', 'new dataset directory (must not exist)'),
    ParamSpec('repo_id', 'local/promptda_demos', 'dataset name in its metadata (no upload)'),
    ParamSpec('fps', 30, 'recording rate (frames/s); the policy acts at this rate',
              int_range=(1, 1000)),
    ParamSpec('task', 'grasp the object', 'task string stored with each episode (read at '
              'episode start)', read_only=False),
    ParamSpec('action_type', 'trajectory', "command topic type: 'trajectory' "
              "(JointTrajectory, first point) or 'array' (Float64MultiArray, profile order)"),
    ParamSpec('max_depth_age_s', 0.2, 'skip frames whose newest depth is older (s)',
              float_range=(0.001, 10.0)),
    ParamSpec('max_joint_state_age_s', 0.1, 'skip frames whose newest joint state is older (s)',
              float_range=(0.001, 10.0)),
    ParamSpec('max_command_age_s', 0.5, 'skip frames whose newest command is older (s)',
              float_range=(0.001, 100.0)),
    ParamSpec('min_episode_frames', 2, 'discard episodes with fewer frames',
              int_range=(1, 1000000)),
    ParamSpec('image_writer_threads', 2, 'threads writing depth frames', int_range=(0, 64)),
)

RecorderParams = params_class('RecorderParams', RECORDER_SPECS)
"""The recorder's parameters: a frozen dataclass with one field per ``RECORDER_SPECS`` entry."""


class RecorderNode(Node):
    """Teleop demonstration recorder; see the module docstring."""

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        p = RecorderParams.from_mapping(declare(self, RECORDER_SPECS))
        self.params = p
        self.profile = profile_from_params(p)
        if not p['root']:
            raise PromptDAError('parameter root is empty: give a new dataset directory')
        if os.path.exists(p['root']):
            raise PromptDAError('dataset directory %s already exists; choose a new one'
                                % p['root'])
        if p['action_type'] not in ACTION_TYPES:
            raise PromptDAError('action_type must be one of %s, got %r'
                                % (sorted(ACTION_TYPES), p['action_type']))
        self.writer = None
        self.skipped = 0
        self._lock = threading.Lock()
        self._depth = None     # (stamp s, (H, W) m)
        self._joint = None     # (stamp s, (J,) rad)
        self._command = None   # (receive time s, (J,) rad)
        sensors = MutuallyExclusiveCallbackGroup()
        control = MutuallyExclusiveCallbackGroup()
        # Every callback is guarded: an exception is counted and logged, it never ends the node.
        self.errors = collections.Counter()  # error kind -> count
        guard = CallbackGuard(self.get_logger(),
                              lambda kind, _message: self.errors.update([kind])).wrap
        self.create_subscription(Image, 'depth', guard('bad_depth', self._on_depth),
                                 qos_profile(False), callback_group=sensors)
        self.create_subscription(JointState, 'joint_states',
                                 guard('bad_joint_state', self._on_joints),
                                 qos_profile(False), callback_group=sensors)
        self.create_subscription(ACTION_TYPES[p['action_type']], 'command',
                                 guard('bad_command', self._on_command), 10,
                                 callback_group=sensors)
        self.create_subscription(Bool, 'record', guard('callback', self._on_record),
                                 qos_profile(True, depth=10),
                                 callback_group=control)
        self.create_service(Trigger, '~/start_episode',
                            guard('callback', self._srv_start, service_failed),
                            callback_group=control)
        self.create_service(Trigger, '~/stop_episode',
                            guard('callback', self._srv_stop, service_failed),
                            callback_group=control)
        self.create_timer(1.0 / p['fps'], guard('callback', self._on_timer),
                          callback_group=control)
        self.get_logger().info('recorder ready: %s at %d fps into %s; call ~/start_episode'
                               % (self.profile.name, p['fps'], p['root']))

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _stamp_s(self, header) -> float:
        ns = stamp_to_ns(header.stamp)
        return ns * 1e-9 if ns > 0 else self._now_s()

    # ------------------------------------------------------------ sensor input
    def _on_depth(self, msg: Image) -> None:
        try:
            depth = image_to_depth_m(msg)
        except PromptDAError as exc:
            self.get_logger().error('bad depth image: %s' % exc, throttle_duration_sec=5.0)
            return
        with self._lock:
            self._depth = (self._stamp_s(msg.header), depth)

    def _on_joints(self, msg: JointState) -> None:
        pos = joint_state_positions(msg, self.profile)
        if pos is None:
            self.get_logger().warning('joint_states lacks profile joints',
                                      throttle_duration_sec=5.0)
            return
        with self._lock:
            self._joint = (self._stamp_s(msg.header), pos)

    def _on_command(self, msg) -> None:
        pos = command_positions(msg, self.profile)
        if pos is None:
            self.get_logger().warning('command does not name all %d profile joints'
                                      % self.profile.num_joints, throttle_duration_sec=5.0)
            return
        with self._lock:
            self._command = (self._now_s(), pos)

    # ---------------------------------------------------------- episode control
    def start_episode(self) -> tuple[bool, str]:
        """Start an episode (creates the dataset on first use)."""
        with self._lock:
            depth = self._depth
        if self.writer is not None and self.writer.recording:
            return False, 'already recording episode %d' % self.writer.episodes_saved
        if depth is None:
            return False, 'no depth image received yet on %s' % self.resolve_topic_name('depth')
        task = self.get_parameter('task').value
        try:
            if self.writer is None:
                from ..dataset_writer import EpisodeWriter
                h, w = depth[1].shape
                self.writer = EpisodeWriter(
                    self.params['root'], self.params['repo_id'], self.params['fps'], h, w,
                    self.profile.joint_names, robot_type=self.profile.name,
                    image_writer_threads=self.params['image_writer_threads'])
            self.writer.start(task)
        except PromptDAError as exc:
            return False, str(exc)
        self.skipped = 0
        msg = 'recording episode %d: %r' % (self.writer.episodes_saved, task)
        self.get_logger().info(msg)
        return True, msg

    def stop_episode(self) -> tuple[bool, str]:
        """Stop the running episode and save it."""
        if self.writer is None or not self.writer.recording:
            return False, 'not recording'
        n = self.writer.stop(self.params['min_episode_frames'])
        if n == 0:
            msg = 'episode discarded (fewer than %d frames)' % self.params['min_episode_frames']
        else:
            msg = 'saved episode %d: %d frames (%d skipped as stale)' % (
                self.writer.episodes_saved - 1, n, self.skipped)
        self.get_logger().info(msg)
        return n > 0, msg

    def _srv_start(self, request, response):
        response.success, response.message = self.start_episode()
        return response

    def _srv_stop(self, request, response):
        response.success, response.message = self.stop_episode()
        return response

    def _on_record(self, msg: Bool) -> None:
        ok, message = self.start_episode() if msg.data else self.stop_episode()
        if not ok:
            self.get_logger().warning(message)

    def _on_timer(self) -> None:
        if self.writer is None or not self.writer.recording:
            return
        now = self._now_s()
        with self._lock:
            depth, joint, command = self._depth, self._joint, self._command
        p = self.params
        stale = []
        if depth is None or now - depth[0] > p['max_depth_age_s']:
            stale.append('depth')
        if joint is None or now - joint[0] > p['max_joint_state_age_s']:
            stale.append('joint_states')
        if command is None or now - command[0] > p['max_command_age_s']:
            stale.append('command')
        if stale:
            self.skipped += 1
            self.get_logger().warning('frame skipped, stale: %s' % ', '.join(stale),
                                      throttle_duration_sec=2.0)
            return
        try:
            self.writer.add(depth[1], joint[1], command[1])
        except PromptDAError as exc:
            self.skipped += 1
            self.get_logger().error('frame rejected: %s' % exc, throttle_duration_sec=2.0)

    def close(self) -> None:
        """Finalise the dataset (an unfinished episode is discarded)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``promptda-policy-record``."""
    parser = argparse.ArgumentParser(
        prog='promptda-policy-record',
        description='Record teleoperated demos (depth, joint states, commands) into a '
                    'LeRobotDataset. Start/stop episodes with ~/start_episode, ~/stop_episode '
                    '(std_srvs/Trigger) or the record topic (std_msgs/Bool).')
    parser.add_argument('--root', default=None, help='new dataset directory (parameter root)')
    parser.add_argument('--task', default=None, help='task string (parameter task)')
    parser.add_argument('--fps', type=int, default=None,
                        help='recording rate, frames/s, >= 1 (parameter fps, default 30)')
    args, ros_args = parse_node_args(parser, argv)
    if args.fps is not None and args.fps < 1:
        parser.error('--fps must be >= 1 frame/s, got %d' % args.fps)
    overrides = []
    if args.root:
        overrides.append(Parameter('root', Parameter.Type.STRING, args.root))
    if args.task:
        overrides.append(Parameter('task', Parameter.Type.STRING, args.task))
    if args.fps is not None:
        overrides.append(Parameter('fps', Parameter.Type.INTEGER, args.fps))
    return run_node('promptda-policy-record', lambda: RecorderNode(parameter_overrides=overrides),
                    ros_args, close=RecorderNode.close)
