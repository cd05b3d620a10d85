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

Lifecycle: configure loads and warms up the policy, activate subscribes and starts the
control timer (``autostart`` does both); the policy is *disabled* in every case until
enabled. The e-stop, enable/reset services and /diagnostics work in every state.

Threads: depth callbacks hand (depth, joint state) to an inference worker with a one-slot
buffer (stale frames dropped); a control timer at ``control_rate_hz`` takes the action for
"now" from the chunks (temporal ensembling by default, ``temporal_ensemble_coeff`` 0.01; or
``n_action_steps`` of one chunk before replanning; see
:mod:`~promptda_policy.control.chunk_scheduler`), passes it through the safety filter
(:mod:`~promptda_policy.control.safety_filter`) and publishes. The timer never waits for
inference. The node starts disabled.
"""

import argparse
import collections
import dataclasses
import threading

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import SetBool, Trigger

from promptda_ros.core.errors import PromptDAError
from promptda_ros.core.msg_codec import image_to_depth_m, stamp_to_ns
from promptda_ros.ros.diagnostics import diagnostics_publisher, status_array
from promptda_ros.ros.node_kit import parse_node_args, qos_profile, run_node
from promptda_ros.ros.params import declare, params_class, ParamSpec
from promptda_ros.serving import CallbackGuard, Rejected

from ..control.arm_fit import check_fits, policy_signature
from ..control.chunk_scheduler import ChunkScheduler, InferenceWorker
from ..control.safety_filter import Mode, SafetyConfig, SafetyFilter
from .arm_interface import (
    command_type,
    joint_state_positions,
    make_command,
    OUTPUT_TYPES,
    profile_from_params,
    PROFILE_SPECS,
    service_failed,
)

NODE_NAME = 'promptda_policy'

POLICY_SPECS = PROFILE_SPECS + (
    ParamSpec('autostart', True, 'configure and activate at start-up (false: leave it to a '
              'lifecycle manager); the policy still starts disabled'),
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
    ParamSpec('temporal_ensemble_coeff', 0.01, 'ACT temporal ensembling weight exp(-m*i) over '
              'overlapping chunks (lerobot: 0.01); < 0 = off (then n_action_steps)',
              float_range=(-1.0, 10.0)),
    ParamSpec('n_action_steps', 0, 'with ensembling off: play this many actions of a chunk '
              'before the newest chunk replaces it; 0 = the newest chunk at once (executes '
              'only its first actions: a policy never reaches what it plans later)',
              int_range=(0, 10000)),
    ParamSpec('output_type', 'trajectory', "'trajectory' (JointTrajectory) or 'array' "
              '(Float64MultiArray in profile joint order)'),
    ParamSpec('time_from_start_s', 0.1, 'JointTrajectory point time_from_start (s)',
              float_range=(0.0, 10.0)),
    ParamSpec('resize_depth', True, 'resize depth of another size to the trained size '
              '(nearest neighbour) instead of rejecting it'),
    ParamSpec('estop_required', True, 'refuse to enable until a False was heard on estop; '
              'false = allow enabling with no e-stop publisher (fails open)'),
    ParamSpec('estop_timeout_s', 0.0, 'e-stop heartbeat: > 0 = a False must arrive on estop at '
              'least this often (s), silence latches an e-stop; 0 = off',
              float_range=(0.0, 60.0)),
)

PolicyParams = params_class('PolicyParams', POLICY_SPECS)
"""The policy node's parameters: a frozen dataclass with one field per ``POLICY_SPECS`` entry."""


class PolicyNode(LifecycleNode):
    """Depth ACT policy as a ROS 2 lifecycle node; see the module docstring.

    configure: load + warm up the policy, create the command publisher and the worker;
    activate: subscribe to depth / joint states and start the control timer;
    deactivate: unsubscribe, stop the timer, disable. The e-stop subscription, the
    enable / reset services and /diagnostics exist in every state. With ``autostart`` the
    node configures and activates itself (still *disabled* until enabled).
    """

    def __init__(self, predictor=None, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        p = PolicyParams.from_mapping(declare(self, POLICY_SPECS))
        self.params = p
        self.profile = profile_from_params(p)
        if p['output_type'] not in OUTPUT_TYPES:
            raise PromptDAError('output_type must be one of %s, got %r'
                                % (OUTPUT_TYPES, p['output_type']))
        self.output_type = p['output_type']
        self.time_from_start_s = float(p['time_from_start_s'])
        self.period = 1.0 / float(p['control_rate_hz'])
        self.safety = SafetyFilter(self.profile, SafetyConfig(
            max_depth_age_s=float(p['max_depth_age_s']),
            max_joint_state_age_s=float(p['max_joint_state_age_s']),
            control_period_s=self.period,
            max_tracking_error_rad=float(p['max_tracking_error_rad']),
            estop_required=bool(p['estop_required']),
            estop_timeout_s=float(p['estop_timeout_s'])))
        self._given_predictor = predictor
        self.predictor = None
        self.scheduler = None
        self.worker = None
        self.pub = None
        self.configure_error = ''
        self._active = False
        self._subs = []
        self._timer = None

        self._lock = threading.Lock()
        self._joint = None        # (J,) rad
        self._joint_stamp = None  # s
        self._depth_stamp = None  # s
        self._generation = 0      # bumped on enable/disable/e-stop: older chunks are dropped
        self.last_decision = None
        self.mode_counts = collections.Counter()  # Mode -> control ticks
        self.published = 0

        # Every callback is guarded: an exception is counted under its kind and logged
        # (throttled per kind); it never ends the node.
        self.errors = collections.Counter()  # error kind -> count (diagnostics)
        self._guard = CallbackGuard(self.get_logger(),
                                    lambda kind, _message: self.errors.update([kind]))
        guard = self._guard.wrap
        self._sensors = MutuallyExclusiveCallbackGroup()
        self._control = MutuallyExclusiveCallbackGroup()
        reliable = qos_profile(True, depth=10)
        self.create_subscription(Bool, 'estop', guard('estop', self._on_estop), reliable,
                                 callback_group=self._control)
        self.create_subscription(Bool, 'enable', guard('enable', self._on_enable_topic),
                                 reliable, callback_group=self._control)
        self.create_service(SetBool, '~/enable',
                            guard('enable', self._on_enable_srv, service_failed),
                            callback_group=self._control)
        self.create_service(Trigger, '~/reset_estop',
                            guard('estop', self._on_reset, service_failed),
                            callback_group=self._control)
        self.diag_pub = diagnostics_publisher(self)
        self._diag_published = 0
        self._diag_time = self._now_s()
        self.create_timer(1.0, guard('callback', self._on_diagnostics),
                          callback_group=self._sensors)
        self.add_on_set_parameters_callback(guard('callback', self._on_params,
                                                  _params_failed))
        if p['autostart']:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and warm up the policy; create the command publisher and the worker."""
        p = self.params
        self.configure_error = ''
        predictor = self._given_predictor
        try:
            if predictor is None:
                if not p['policy_path']:
                    raise PromptDAError('parameter policy_path is empty: give the trained '
                                        'checkpoint directory (.../pretrained_model)')
                # Joint names, vector sizes and rate before any weights are loaded.
                check_fits(policy_signature(p['policy_path']), self.profile.joint_names,
                           'profile %r' % self.profile.name, float(p['action_fps']) or None)
                from ..inference import DepthPolicy
                predictor = DepthPolicy(p['policy_path'], device=p['device'],
                                        resize=bool(p['resize_depth']),
                                        num_threads=int(p['num_threads']) or None)
                predictor.warmup()
        except Exception as exc:  # noqa: B902 - any failure is a clear configure failure
            self.configure_error = str(exc) if isinstance(exc, PromptDAError) else repr(exc)
            self.get_logger().error('configure failed: %s' % self.configure_error)
            return TransitionCallbackReturn.FAILURE
        self.predictor = predictor
        fps = float(p['action_fps']) or float(getattr(predictor, 'fps', 0.0) or 30.0)
        coeff = float(p['temporal_ensemble_coeff'])
        self.scheduler = ChunkScheduler(fps, coeff if coeff >= 0 else None,
                                        n_action_steps=int(p['n_action_steps']))
        self.worker = InferenceWorker(self._predict, self._on_chunk, self._on_error)
        self.worker.start()
        self.pub = self.create_lifecycle_publisher(command_type(self.output_type), 'command',
                                                   10, callback_group=self._control)
        self.get_logger().info('policy loaded (%s, %d joints, %.1f Hz, actions at %.0f Hz, '
                               'chunks played: %s)'
                               % (self.profile.name, self.profile.num_joints,
                                  1.0 / self.period, fps, self.scheduler.mode))
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to depth and joint states and start the control timer (still disabled)."""
        guard = self._guard.wrap
        self._subs = [
            self.create_subscription(Image, 'depth', guard('bad_depth', self._on_depth),
                                     qos_profile(False), callback_group=self._sensors),
            self.create_subscription(JointState, 'joint_states',
                                     guard('bad_joint_state', self._on_joints),
                                     qos_profile(False), callback_group=self._sensors)]
        self._timer = self.create_timer(self.period, guard('control', self._on_timer),
                                        callback_group=self._control)
        self._active = True
        self.get_logger().info('active; DISABLED until enabled (~/enable)')
        return super().on_activate(state)

    def _stop_inputs(self) -> None:
        self._active = False
        self.safety.set_enabled(False)
        self._invalidate()
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Disable, unsubscribe and stop the control timer."""
        self._stop_inputs()
        return super().on_deactivate(state)

    def _release(self) -> None:
        self._stop_inputs()
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.pub is not None:
            self.destroy_lifecycle_publisher(self.pub)
            self.pub = None
        self.predictor = None
        self.scheduler = None

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the policy, the worker and the publisher."""
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything."""
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything and go back to unconfigured."""
        self._release()
        return TransitionCallbackReturn.SUCCESS

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
                self.safety.config = dataclasses.replace(cfg, **updates)
            except PromptDAError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            self.params = dataclasses.replace(self.params, **updates)
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
            stamp = self._stamp_s(msg.header)
        except PromptDAError as exc:
            raise Rejected('bad_depth', 'bad depth image: %s' % exc) from exc
        with self._lock:
            self._depth_stamp = stamp
            joint = None if self._joint is None else self._joint.copy()
            generation = self._generation
        worker = self.worker
        if joint is not None and self.safety.enabled and worker is not None:
            worker.submit(stamp, (generation, depth, joint))

    def _predict(self, obs):
        generation, depth, joint = obs
        predictor = self.predictor
        if predictor is None:
            raise RuntimeError('policy released')
        return generation, predictor.predict_chunk(depth, joint)

    def _on_chunk(self, stamp_s: float, result) -> None:
        generation, chunk = result
        with self._lock:
            if generation != self._generation:
                return
        scheduler = self.scheduler
        if scheduler is not None:
            scheduler.add_chunk(stamp_s, chunk)

    def _on_error(self, exc: BaseException) -> None:
        self._guard.report('inference', exc)

    def _invalidate(self) -> None:
        with self._lock:
            self._generation += 1
        if self.scheduler is not None:
            self.scheduler.clear()

    def _on_estop(self, msg: Bool) -> None:
        if msg.data and not self.safety.estopped:
            self.get_logger().error('E-STOP received: holding position, policy disabled')
        self.safety.set_estop(bool(msg.data), self._now_s())
        if msg.data:
            self._invalidate()

    def _set_enabled(self, enable: bool) -> tuple[bool, str]:
        if enable and not self._active:
            message = 'refused: the node is not active (configure and activate it first)'
            self.get_logger().warning(message)
            return False, message
        ok, message = self.safety.set_enabled(enable, self._now_s())
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
        if decision.positions is None or self.pub is None:
            return
        self.pub.publish(make_command(decision.positions, self.profile, self.output_type,
                                      self.get_clock().now().to_msg(), self.time_from_start_s))
        self.published += 1

    def _on_diagnostics(self) -> None:
        now = self._now_s()
        rate = (self.published - self._diag_published) / max(now - self._diag_time, 1e-6)
        self._diag_published, self._diag_time = self.published, now
        decision = self.last_decision
        worker = self.worker
        mode = decision.mode if decision is not None else Mode.DISABLED
        level = {Mode.ACTIVE: DiagnosticStatus.OK, Mode.DISABLED: DiagnosticStatus.OK,
                 Mode.HOLD: DiagnosticStatus.WARN, Mode.STALE: DiagnosticStatus.WARN,
                 Mode.ESTOP: DiagnosticStatus.ERROR, Mode.FAULT: DiagnosticStatus.ERROR}[mode]
        values = {'mode': mode.value, 'reason': decision.reason if decision else '',
                  'command_rate_hz': '%.1f' % rate,
                  'lifecycle': 'active' if self._active else (
                      'inactive' if self.pub is not None else 'unconfigured'),
                  'inference_ms': '%.0f' % (worker.last_latency_s * 1e3 if worker else
                                            float('nan')),
                  'chunks_inferred': str(worker.completed if worker else 0),
                  'depth_frames_dropped': str(worker.dropped if worker else 0),
                  'errors': str(sum(self.errors.values())),
                  'configure_error': self.configure_error,
                  'profile': self.profile.name}
        message = '%s: %s' % (mode.value, values['reason']) if values['reason'] else mode.value
        if self.configure_error and self.pub is None:  # a failed configure is an error state
            level, message = DiagnosticStatus.ERROR, 'configure failed: %s' % self.configure_error
        values.update(('errors.%s' % kind, str(count))
                      for kind, count in sorted(self.errors.items()))
        msg = status_array(self.get_clock().now().to_msg(), level,
                           '%s: policy' % self.get_name(), message, values,
                           hardware_id=self.profile.name)
        self.diag_pub.publish(msg)

    def destroy_node(self):
        """Stop the inference worker (if the node got that far), then destroy the node."""
        worker = getattr(self, 'worker', None)  # absent when a parameter was refused
        if worker is not None:
            worker.stop()
        super().destroy_node()


def _params_failed(_params):
    """Parameter-change result after an exception in the handler."""
    from rcl_interfaces.msg import SetParametersResult
    return SetParametersResult(successful=False, reason='internal error (see the node log)')


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``promptda-policy`` (ROS arguments after ``--ros-args``)."""
    parser = argparse.ArgumentParser(
        prog='promptda-policy',
        description='Run the depth ACT policy as a ROS 2 node. Parameters (ROS): policy_path, '
                    'profile, control_rate_hz (Hz), max_depth_age_s (s), output_type, ... ; see '
                    'config/policy.yaml. Starts disabled: call ~/enable (std_srvs/SetBool).')
    parser.add_argument('--policy-path', default=None,
                        help='checkpoint directory (overrides the policy_path parameter)')
    args, ros_args = parse_node_args(parser, argv)
    overrides = []
    if args.policy_path:
        overrides.append(Parameter('policy_path', Parameter.Type.STRING, args.policy_path))
    return run_node('promptda-policy', lambda: PolicyNode(parameter_overrides=overrides),
                    ros_args, tune_memory=True)
