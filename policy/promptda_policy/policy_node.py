# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""ROS 2 node running the depth ACT policy with a safety filter (``promptda-policy``).

Topics (relative, remap in launch):
  in  ``depth`` (sensor_msgs/Image 32FC1 m or 16UC1 mm, sensor QoS), ``joint_states``
      (sensor_msgs/JointState), ``estop`` (std_msgs/Bool, True latches a stop),
      ``enable`` (std_msgs/Bool)
  out ``command``: trajectory_msgs/JointTrajectory (``output_type: trajectory``) or
      std_msgs/Float64MultiArray (``output_type: array``, forward command controllers)
      ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, 1 Hz: mode, reason, command rate,
      inference latency, dropped frames)
Services: ``~/enable`` (std_srvs/SetBool), ``~/reset_estop`` (std_srvs/Trigger).

Threads: depth callbacks hand (depth, joint state) to an inference worker with a one-slot
buffer (stale frames dropped); a control timer at ``control_rate_hz`` takes the action for
"now" from the newest chunk, passes it through the safety filter and publishes. The timer
never waits for inference. The node starts disabled.
"""

import argparse
import collections
import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import SetBool, Trigger

from promptda_ros.core.errors import PromptDAError
from promptda_ros.core.msg_codec import image_to_depth_m, stamp_to_ns

from .ros_common import (command_type, declare, joint_state_positions, make_command,
                         OUTPUT_TYPES, PROFILE_SPECS, ParamSpec, profile_from_params)
from .runtime import ChunkScheduler, InferenceWorker
from .safety import Mode, SafetyConfig, SafetyFilter

NODE_NAME = 'promptda_policy'

POLICY_SPECS = PROFILE_SPECS + (
    ParamSpec('policy_path', '', 'trained checkpoint directory (.../pretrained_model)'),
    ParamSpec('device', 'cpu', "torch device, e.g. 'cpu' or 'cuda'"),
    ParamSpec('num_threads', 0, 'torch CPU threads for inference (0 = torch default)',
              int_range=(0, 256)),
    ParamSpec('control_rate_hz', 30.0, 'command publishing rate (Hz)',
              float_range=(1.0, 1000.0)),
    ParamSpec('action_fps', 0.0, 'rate of the actions inside a chunk (Hz); 0 = the training '
              'dataset fps stored with the policy (30 if unknown)', float_range=(0.0, 1000.0)),
    ParamSpec('max_depth_age_s', 0.5, 'hold position when the newest depth is older (s)',
              read_only=False, float_range=(0.01, 10.0)),
    ParamSpec('max_joint_state_age_s', 0.2, 'hold position when the newest joint state is '
              'older (s)', read_only=False, float_range=(0.005, 10.0)),
    ParamSpec('max_tracking_error_rad', 0.5, 'disable (fault) when a joint is further than '
              'this from the last command (rad); 0 = off', read_only=False,
              float_range=(0.0, 10.0)),
    ParamSpec('temporal_ensemble_coeff', -1.0, 'ACT temporal ensembling weight exp(-m*i) over '
              'overlapping chunks; < 0 = off (use the newest chunk)', float_range=(-1.0, 10.0)),
    ParamSpec('output_type', 'trajectory', "'trajectory' (JointTrajectory) or 'array' "
              '(Float64MultiArray in profile joint order)'),
    ParamSpec('time_from_start_s', 0.1, 'JointTrajectory point time_from_start (s)',
              float_range=(0.0, 10.0)),
    ParamSpec('resize_depth', True, 'resize depth of another size to the trained size '
              '(nearest neighbour) instead of rejecting it'),
)


class PolicyNode(Node):
    """Depth ACT policy node; see the module docstring."""

    def __init__(self, predictor=None, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        p = declare(self, POLICY_SPECS)
        self.profile = profile_from_params(p)
        if p['output_type'] not in OUTPUT_TYPES:
            raise PromptDAError('output_type must be one of %s, got %r'
                                % (OUTPUT_TYPES, p['output_type']))
        self.output_type = p['output_type']
        self.time_from_start_s = float(p['time_from_start_s'])
        period = 1.0 / float(p['control_rate_hz'])
        self.safety = SafetyFilter(self.profile, SafetyConfig(
            max_depth_age_s=float(p['max_depth_age_s']),
            max_joint_state_age_s=float(p['max_joint_state_age_s']),
            control_period_s=period,
            max_tracking_error_rad=float(p['max_tracking_error_rad'])))
        if predictor is None:
            if not p['policy_path']:
                raise PromptDAError('parameter policy_path is empty: give the trained '
                                    'checkpoint directory (.../pretrained_model)')
            from .inference import DepthPolicy
            predictor = DepthPolicy(p['policy_path'], device=p['device'],
                                    resize=bool(p['resize_depth']),
                                    num_threads=int(p['num_threads']) or None)
            if predictor.num_joints != self.profile.num_joints:
                raise PromptDAError('policy has %d joints, profile %r has %d'
                                    % (predictor.num_joints, self.profile.name,
                                       self.profile.num_joints))
            predictor.warmup()
        self.predictor = predictor
        fps = float(p['action_fps']) or float(getattr(predictor, 'fps', 0.0) or 30.0)
        coeff = float(p['temporal_ensemble_coeff'])
        self.scheduler = ChunkScheduler(fps, coeff if coeff >= 0 else None)

        self._lock = threading.Lock()
        self._joint = None        # (J,) rad
        self._joint_stamp = None  # s
        self._depth_stamp = None  # s
        self._generation = 0      # bumped on enable/disable/e-stop: older chunks are dropped
        self.last_decision = None
        self.mode_counts = collections.Counter()  # Mode -> control ticks
        self.published = 0
        self.worker = InferenceWorker(self._predict, self._on_chunk, self._on_error)
        self.worker.start()

        sensors = MutuallyExclusiveCallbackGroup()
        control = MutuallyExclusiveCallbackGroup()
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.create_publisher(command_type(self.output_type), 'command', 10,
                                         callback_group=control)
        self.create_subscription(Image, 'depth', self._on_depth, qos_profile_sensor_data,
                                 callback_group=sensors)
        self.create_subscription(JointState, 'joint_states', self._on_joints,
                                 qos_profile_sensor_data, callback_group=sensors)
        self.create_subscription(Bool, 'estop', self._on_estop, reliable, callback_group=control)
        self.create_subscription(Bool, 'enable', self._on_enable_topic, reliable,
                                 callback_group=control)
        self.create_service(SetBool, '~/enable', self._on_enable_srv, callback_group=control)
        self.create_service(Trigger, '~/reset_estop', self._on_reset, callback_group=control)
        self.timer = self.create_timer(period, self._on_timer, callback_group=control)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_published = 0
        self._diag_time = self._now_s()
        self.create_timer(1.0, self._on_diagnostics, callback_group=sensors)
        self.add_on_set_parameters_callback(self._on_params)
        self.get_logger().info('policy node ready (%s, %d joints, %.1f Hz), DISABLED until '
                               'enable' % (self.profile.name, self.profile.num_joints,
                                           1.0 / period))

    # ------------------------------------------------------------------ helpers
    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _stamp_s(self, header) -> float:
        ns = stamp_to_ns(header.stamp)
        return ns * 1e-9 if ns > 0 else self._now_s()

    def _on_params(self, params):
        from rcl_interfaces.msg import SetParametersResult
        cfg = self.safety.config
        updates = {}
        for prm in params:
            if prm.name in ('max_depth_age_s', 'max_joint_state_age_s',
                            'max_tracking_error_rad'):
                updates[prm.name] = float(prm.value)
        if updates:
            try:
                self.safety.config = SafetyConfig(
                    max_depth_age_s=updates.get('max_depth_age_s', cfg.max_depth_age_s),
                    max_joint_state_age_s=updates.get('max_joint_state_age_s',
                                                      cfg.max_joint_state_age_s),
                    control_period_s=cfg.control_period_s,
                    max_tracking_error_rad=updates.get('max_tracking_error_rad',
                                                       cfg.max_tracking_error_rad))
            except PromptDAError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    # ---------------------------------------------------------------- callbacks
    def _on_joints(self, msg: JointState) -> None:
        pos = joint_state_positions(msg, self.profile)
        if pos is None:
            self.get_logger().warning('joint_states lacks profile joints %s'
                                      % (self.profile.joint_names,), throttle_duration_sec=5.0)
            return
        with self._lock:
            self._joint = pos
            self._joint_stamp = self._stamp_s(msg.header)

    def _on_depth(self, msg: Image) -> None:
        try:
            depth = image_to_depth_m(msg)
        except PromptDAError as exc:
            self.get_logger().error('bad depth image: %s' % exc, throttle_duration_sec=5.0)
            return
        stamp = self._stamp_s(msg.header)
        with self._lock:
            self._depth_stamp = stamp
            joint = None if self._joint is None else self._joint.copy()
            generation = self._generation
        if joint is not None and self.safety.enabled:
            self.worker.submit(stamp, (generation, depth, joint))

    def _predict(self, obs):
        generation, depth, joint = obs
        return generation, self.predictor.predict_chunk(depth, joint)

    def _on_chunk(self, stamp_s: float, result) -> None:
        generation, chunk = result
        with self._lock:
            if generation != self._generation:
                return
        self.scheduler.add_chunk(stamp_s, chunk)

    def _on_error(self, exc: BaseException) -> None:
        self.get_logger().error('policy inference failed: %s' % exc, throttle_duration_sec=5.0)

    def _invalidate(self) -> None:
        with self._lock:
            self._generation += 1
        self.scheduler.clear()

    def _on_estop(self, msg: Bool) -> None:
        if msg.data and not self.safety.estopped:
            self.get_logger().error('E-STOP received: holding position, policy disabled')
        self.safety.set_estop(bool(msg.data))
        if msg.data:
            self._invalidate()

    def _set_enabled(self, enable: bool) -> tuple[bool, str]:
        ok, message = self.safety.set_enabled(enable)
        if ok:
            self._invalidate()
            self.get_logger().info('policy %s' % message)
        else:
            self.get_logger().warning(message)
        return ok, message

    def _on_enable_topic(self, msg: Bool) -> None:
        self._set_enabled(bool(msg.data))

    def _on_enable_srv(self, request, response):
        response.success, response.message = self._set_enabled(bool(request.data))
        return response

    def _on_reset(self, request, response):
        response.success, response.message = self.safety.reset_estop()
        return response

    def _on_timer(self) -> None:
        now = self._now_s()
        with self._lock:
            joint = None if self._joint is None else self._joint.copy()
            joint_stamp, depth_stamp = self._joint_stamp, self._depth_stamp
        target = self.scheduler.action_at(now) if self.safety.enabled else None
        decision = self.safety.step(now, target, joint, joint_stamp, depth_stamp)
        self.last_decision = decision
        self.mode_counts[decision.mode] += 1
        if decision.mode == Mode.FAULT:
            self._invalidate()
            self.get_logger().error(decision.reason)
        if decision.mode not in (Mode.ACTIVE, Mode.DISABLED):
            self.get_logger().warning('holding position: %s' % decision.reason,
                                      throttle_duration_sec=2.0)
        if decision.positions is None:
            return
        self.pub.publish(make_command(decision.positions, self.profile, self.output_type,
                                      self.get_clock().now().to_msg(), self.time_from_start_s))
        self.published += 1

    def _on_diagnostics(self) -> None:
        now = self._now_s()
        rate = (self.published - self._diag_published) / max(now - self._diag_time, 1e-6)
        self._diag_published, self._diag_time = self.published, now
        decision = self.last_decision
        mode = decision.mode if decision is not None else Mode.DISABLED
        level = {Mode.ACTIVE: DiagnosticStatus.OK, Mode.DISABLED: DiagnosticStatus.OK,
                 Mode.HOLD: DiagnosticStatus.WARN, Mode.STALE: DiagnosticStatus.WARN,
                 Mode.ESTOP: DiagnosticStatus.ERROR, Mode.FAULT: DiagnosticStatus.ERROR}[mode]
        values = {'mode': mode.value, 'reason': decision.reason if decision else '',
                  'command_rate_hz': '%.1f' % rate,
                  'inference_ms': '%.0f' % (self.worker.last_latency_s * 1e3),
                  'chunks_inferred': str(self.worker.completed),
                  'depth_frames_dropped': str(self.worker.dropped),
                  'profile': self.profile.name}
        status = DiagnosticStatus(level=level, name='%s: policy' % self.get_name(),
                                  hardware_id=self.profile.name,
                                  message=mode.value if not values['reason'] else
                                  '%s: %s' % (mode.value, values['reason']),
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)

    def destroy_node(self):
        """Stop the inference worker, then destroy the node."""
        self.worker.stop()
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``promptda-policy`` (ROS arguments after ``--ros-args``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog='promptda-policy',
        description='Run the depth ACT policy as a ROS 2 node. Parameters (ROS): policy_path, '
                    'profile, control_rate_hz (Hz), max_depth_age_s (s), output_type, ... ; see '
                    'config/policy.yaml. Starts disabled: call ~/enable (std_srvs/SetBool).')
    parser.add_argument('--policy-path', default=None,
                        help='checkpoint directory (overrides the policy_path parameter)')
    ros_args = []
    if '--ros-args' in argv:
        i = argv.index('--ros-args')
        argv, ros_args = argv[:i], argv[i:]
    args = parser.parse_args(argv)
    rclpy.init(args=['promptda-policy'] + ros_args)
    node = None
    try:
        overrides = []
        if args.policy_path:
            from rclpy.parameter import Parameter
            overrides.append(Parameter('policy_path', Parameter.Type.STRING, args.policy_path))
        node = PolicyNode(parameter_overrides=overrides)
        executor = MultiThreadedExecutor(num_threads=3)
        executor.add_node(node)
        executor.spin()
    except (PromptDAError, OSError) as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
