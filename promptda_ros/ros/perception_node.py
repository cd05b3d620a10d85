# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Lifecycle node ``promptda_perception``: camera + LiDAR (or prompt depth) in, metric depth out.

Data flow (topic names relative, remapped in launch): image, camera_info, lidar/points (or
prompt_depth) -> frame assembly (:mod:`~promptda_ros.core.assembly`) -> newest-frames worker
(:mod:`~promptda_ros.serving`, ``queue_size`` frames, the oldest waiting one dropped, counted) ->
pipeline (:mod:`~promptda_ros.pipeline`) -> depth/image (32FC1 m), depth/camera_info (scaled),
depth/points, prompt/image (:mod:`~promptda_ros.ros.outputs`), all with the input image's header.

Wiring only: callbacks check the header and hand over; the worker decodes, runs the pipeline and
publishes. Extrinsics policy: :mod:`~promptda_ros.ros.extrinsics`. Every callback is guarded: a
bad input is counted under its error kind, logged (throttled per kind), and the node keeps
serving. ``message_filters`` (the prompt subscription) and ``tf2_ros`` are used when installed.
"""

import argparse
import sys
import threading
import time
from typing import Any, Callable, cast, NamedTuple

from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from promptda_ros.backends import make_backend
from promptda_ros.core import msg_codec
from promptda_ros.core.assembly import Event, Frame, FrameAssembler
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import CalibrationError, PromptDAError, PromptError
from promptda_ros.core.msg_codec import (
    check_cloud_header,
    check_image_header,
    PROMPT_ENCODINGS,
    RGB_ENCODINGS,
)
from promptda_ros.core.sync import seconds_to_ns
from promptda_ros.params_file import NODE_NAME
from promptda_ros.pipeline import check_rgb, DepthPipeline, prompt_from_depth, prompt_from_points
from promptda_ros.ros.diagnostics import DiagnosticsTimer, PerceptionStats
from promptda_ros.ros.extrinsics import Extrinsics, node_extrinsics
from promptda_ros.ros.node_kit import parse_node_args, qos_profile, run_node
from promptda_ros.ros.outputs import DepthOutputs
from promptda_ros.ros.params import apply_changes, declare_parameters, PerceptionParams, SPECS
from promptda_ros.serving import CallbackGuard, LatestWorker, Rejected, rejecting

try:  # optional: a ROS 2 installation provides them, PyPI does not
    import message_filters
except ImportError:
    message_filters = None
try:
    import tf2_ros
except ImportError:
    tf2_ros = None

__all__ = ['PerceptionNode', 'main', 'NODE_NAME']

LOG_THROTTLE_S = 2.0

#: An image as handed to the assembler: the message and ``time.monotonic()`` at its arrival.
Arrival = NamedTuple('Arrival', [('msg', Any), ('received', float)])


class PerceptionNode(LifecycleNode):
    """PromptDA perception as a ROS 2 lifecycle node (see module docstring for the data flow)."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs) -> None:
        """Declare the parameters; with ``autostart`` configure and activate."""
        super().__init__(node_name, **kwargs)
        self.params: PerceptionParams = declare_parameters(self)
        self.stats = PerceptionStats()
        self.configure_error = ''
        self._guard = CallbackGuard(self.get_logger(), self.stats.error, LOG_THROTTLE_S)
        self._listeners: list[Callable[[int, str], None]] = []
        self._pipeline: DepthPipeline | None = None
        self._extrinsics: Extrinsics | None = None
        self._worker: LatestWorker | None = None
        self._assembler: FrameAssembler | None = None
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._input_lock = threading.RLock()  # input callbacks vs. lifecycle transitions
        self._subs: list[Callable[[], Any]] = []  # each destroys one subscription
        self._outputs: DepthOutputs | None = None
        self._diagnostics = DiagnosticsTimer(self, self.stats, self.params.diagnostics_period_s,
                                             lambda cb: self._guard.wrap('callback', cb),
                                             lambda: getattr(self._pipeline, 'backend', None))
        self.add_on_set_parameters_callback(self._guard.wrap(
            'callback', self._on_set_parameters,
            lambda _params: SetParametersResult(successful=False, reason='internal error')))
        if self.params.autostart and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def add_frame_listener(self, listener: Callable[[int, str], None]) -> None:
        """Call ``listener(image_stamp_ns, outcome)`` once per frame that leaves the node.

        ``outcome`` is 'published', 'dropped', 'unpaired' or 'error:<kind>' (final), 'pending'
        (waiting for a LiDAR sweep / camera_info) or 'queued' (handed to the worker).  In-process
        tools such as the replay use it to pace the input.
        """
        self._listeners.append(listener)

    def output_subscription_count(self, output: str) -> int:
        """Return how many subscribers ``output`` has ('depth', 'info', 'points', 'prompt')."""
        outputs = self._outputs
        return 0 if outputs is None else outputs.subscription_count(output)

    def release(self) -> None:
        """Stop the inputs and the worker, destroy the publishers and release the backend."""
        self._stop_inputs()
        outputs, self._outputs = self._outputs, None
        if outputs is not None:
            outputs.destroy()
        extrinsics, self._extrinsics, self._pipeline = self._extrinsics, None, None
        if extrinsics is not None:
            extrinsics.close()

    def _notify(self, stamp_ns: int, outcome: str) -> None:
        for listener in list(self._listeners):
            listener(stamp_ns, outcome)

    def _warn(self, when: bool, kind: str, message: str) -> None:
        """Log a warning when ``when``, throttled per kind (not an error count)."""
        if when and self._guard.throttle.allow(kind):
            self.get_logger().warning(message)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Set up extrinsics, load and warm up the backend, create the publishers.

        Any failure, of any type, ends in FAILURE with the reason logged and kept in
        :attr:`configure_error` (``main`` then exits non-zero).
        """
        params = self.params
        self.configure_error = ''
        extrinsics = None
        try:
            extrinsics = node_extrinsics(self, tf2_ros, self.stats.tf_status)
            pipeline = DepthPipeline(make_backend(params.backend, **params.backend_options()))
            warm_camera = PinholeCamera.from_intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
            warm_s = pipeline.warm_up(warm_camera, params.pipeline)
        except Exception as error:  # noqa: B902 - any failure is a clear configure failure
            if extrinsics is not None:
                extrinsics.close()
            what = 'tf2_ros' if 'tf2_ros' in str(error) else f'backend {params.backend!r}'
            reason = str(error) if isinstance(error, PromptDAError) else repr(error)
            self.configure_error = f'{what}: {reason}'
            self.stats.set_state('unconfigured')
            self.stats.error('configure', self.configure_error)
            self.get_logger().error(f'configure failed: {self.configure_error}')
            return TransitionCallbackReturn.FAILURE
        self._pipeline, self._extrinsics = pipeline, extrinsics
        self._outputs = DepthOutputs(self)
        self.stats.set_state('inactive', pipeline.name)
        self.get_logger().info(f'backend {pipeline.name!r} loaded, warm-up {warm_s * 1e3:.0f} ms; '
                               f'extrinsics: {extrinsics.mode}')
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the worker and subscribe to the inputs."""
        params = self.params
        self._worker = LatestWorker(self._process, on_error=self._on_frame_error,
                                    name='promptda_inference', alive=self.context.ok,
                                    capacity=params.queue_size)
        self._worker.start()
        self._assembler = FrameAssembler(seconds_to_ns(params.slop_s), params.lidar_cache_size)
        compressed = params.image_transport == 'compressed'
        points = params.prompt_source == 'points'
        self._subs = [
            self._subscribe(CompressedImage if compressed else Image,
                            'image/compressed' if compressed else 'image', self._on_image),
            self._subscribe(CameraInfo, 'camera_info', self._on_camera_info),
            self._subscribe(PointCloud2 if points else Image,
                            'lidar/points' if points else 'prompt_depth', self._on_prompt,
                            message_filters)]
        self.stats.set_state('active')
        return super().on_activate(state)

    def _subscribe(self, msg_type, topic: str, callback, filters=None) -> Callable[[], Any]:
        """Subscribe (through ``message_filters.Subscriber`` when given); return its destroyer."""
        qos = qos_profile(self.params.sensor_qos == 'reliable')
        group, overrides = self._input_group, QoSOverridingOptions.with_default_policies()
        callback = self._guard.wrap('callback', callback)
        if filters is None:
            sub = self.create_subscription(msg_type, topic, callback, qos, callback_group=group,
                                           qos_overriding_options=overrides)
            return lambda: self.destroy_subscription(sub)
        sub = filters.Subscriber(self, msg_type, topic, qos_profile=qos, callback_group=group,
                                 qos_overriding_options=overrides)
        sub.registerCallback(callback)
        return lambda: self.destroy_subscription(sub.sub)

    def _stop_inputs(self) -> None:
        with self._input_lock:
            for destroy in self._subs:
                destroy()
            self._subs, self._assembler = [], None
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop the worker (publishers stop with the lifecycle)."""
        self._stop_inputs()
        self.stats.set_state('inactive')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the backend and publishers (also on error: back to unconfigured)."""
        self.release()
        self.stats.set_state('unconfigured', '')
        return TransitionCallbackReturn.SUCCESS

    on_error = on_cleanup

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything."""
        self.release()
        self.stats.set_state('finalized')
        return TransitionCallbackReturn.SUCCESS

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in SPECS}
        try:
            self.params = apply_changes(self.params, changes)
        except PromptDAError as error:
            return SetParametersResult(successful=False, reason=str(error))
        with self._input_lock:
            if self._assembler is not None:
                self._assembler.set_slop(seconds_to_ns(self.params.slop_s))
        return SetParametersResult(successful=True)

    def _on_image(self, msg) -> None:
        received = time.monotonic()
        self.stats.image_received()
        with rejecting('bad_image'):
            if isinstance(msg, Image):  # compressed: its size is known after decoding (worker)
                stamp = check_image_header(msg, RGB_ENCODINGS)
                self._check_area('image', msg.height, msg.width)
            else:
                stamp = msg_codec.check_compressed_header(msg)
        self._assemble(lambda assembler: assembler.add_image(stamp, Arrival(msg, received)))

    def _on_camera_info(self, msg) -> None:
        with rejecting('bad_camera_info'):
            stamp = msg_codec.header_stamp_ns(msg)
            camera = msg_codec.camera_info_to_camera(msg)
            camera.validate()
        self._assemble(lambda assembler: assembler.add_camera_info(stamp, camera))

    def _on_prompt(self, msg) -> None:
        if self.params.prompt_source == 'points':
            with rejecting('bad_cloud'):
                stamp = check_cloud_header(msg)
        else:
            with rejecting('bad_prompt_image'):
                stamp = check_image_header(msg, PROMPT_ENCODINGS)
            self._check_area('prompt image', msg.height, msg.width)
        self._assemble(lambda assembler: assembler.add_prompt(stamp, msg))

    def _check_area(self, what: str, height: int, width: int) -> None:
        """Raise Rejected('too_large') when height x width px exceeds ``max_image_area`` px^2."""
        limit, area = self.params.max_image_area, int(height) * int(width)
        if area > limit:
            raise Rejected('too_large', f'{what} {width}x{height} is {area} px^2, more than '
                           f'max_image_area ({limit} px^2); refused')

    def _assemble(self, step: Callable[[FrameAssembler], list[Event]]) -> None:
        """Run one assembler step and act on its events: queue, count, log, notify."""
        with self._input_lock:
            if self._assembler is None or self._worker is None:
                return
            for event in step(self._assembler):
                if event.kind == 'complete':
                    replaced = self._worker.put(event.frame)
                    self._notify(event.stamp_ns, 'queued')
                    if replaced is not None:
                        self.stats.dropped()
                        self._notify(replaced.stamp_ns, 'dropped')
                elif event.kind == 'unpaired':
                    self.stats.unpaired()
                    self._notify(event.stamp_ns, 'unpaired')
                    self._warn(event.why == 'overflow', 'unpaired', 'no LiDAR sweep / camera_info '
                               f'within slop_s={self.params.slop_s} s of an image; dropping it')
                elif event.kind == 'time_jump':
                    self.stats.time_jump(event.jumps)
                    self._warn(True, 'time_jump', 'input stamps jumped back in time (bag loop / '
                               'simulator reset): pairing caches cleared')
                else:
                    self._notify(event.stamp_ns, event.kind)

    def _on_frame_error(self, frame: Frame, error: BaseException) -> None:
        self._notify(frame.stamp_ns, 'error:' + self._guard.report('inference', error))

    def _process(self, frame: Frame) -> None:
        """Decode, run the pipeline, publish with the input header (worker thread)."""
        pipeline, extrinsics = self._pipeline, self._extrinsics
        config, msg = self.params.pipeline, frame.image.msg
        if pipeline is None or extrinsics is None:
            return  # released
        with rejecting('bad_image'):
            rgb = msg_codec.decode_rgb(msg)
        if not isinstance(msg, Image):
            self._check_area('image', rgb.shape[0], rgb.shape[1])
        with rejecting('size_mismatch'):
            check_rgb(rgb, frame.camera)
        if self.params.prompt_source == 'points':
            with rejecting('bad_cloud'):
                points = msg_codec.cloud_to_xyz(frame.prompt)
            T_cam_lidar = extrinsics.transform(frame.prompt.header.frame_id, msg.header.frame_id,
                                               cast(int, frame.prompt_stamp_ns))
            # Innermost first: the specific kinds, then any other input error of the cloud.
            with rejecting('bad_cloud'), rejecting('calibration', (CalibrationError,)), \
                    rejecting('prompt_too_sparse', (PromptError,)):
                prompt = prompt_from_points(points, T_cam_lidar, frame.camera, config)
        else:
            with rejecting('bad_prompt_image'), rejecting('prompt_too_sparse', (PromptError,)):
                prompt = prompt_from_depth(msg_codec.image_to_depth_m(frame.prompt), config)
        with rejecting('inference'):
            result = pipeline.predict(rgb, frame.camera, prompt, config)
        self._publish(frame, rgb, prompt, result)

    def _publish(self, frame: Frame, rgb, prompt, result) -> None:
        if (outputs := self._outputs) is None or not self.context.ok():
            return  # released, or shutting down (SIGINT): nothing to publish to
        outputs.publish(frame.image.msg.header, rgb, prompt, result, self.params)
        lidar_age_s = (frame.stamp_ns - cast(int, frame.prompt_stamp_ns)) * 1e-9
        self.stats.frame_done(time.monotonic() - frame.image.received, result.network_s,
                              prompt.stats.valid_fraction, lidar_age_s, result.supported_fraction)
        self._notify(frame.stamp_ns, 'published')


def main(argv: list[str] | None = None) -> int:
    """Run the node: ``promptda-perception --ros-args --params-file config/perception.yaml``."""
    _args, ros_args = parse_node_args(argparse.ArgumentParser(
        prog='promptda-perception',
        description='PromptDA perception lifecycle node: image + camera_info + lidar/points (or '
                    'prompt_depth) in; depth/image (32FC1 metres, NaN = invalid), '
                    'depth/camera_info, depth/points and /diagnostics out. Topic names are '
                    'relative: remap them with -r, e.g. -r image:=/camera/image_raw.',
        epilog='ROS arguments follow --ros-args, e.g. --ros-args --params-file '
               'config/perception.yaml -r lidar/points:=/velodyne_points -p backend:=bilinear. '
               'Parameters, units and ranges: config/perception.yaml.'), argv)
    return run_node('promptda-perception', PerceptionNode, ros_args,
                    close=PerceptionNode.release, tune_memory=True)


if __name__ == '__main__':
    sys.exit(main())
