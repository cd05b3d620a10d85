# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Lifecycle node ``promptda_perception``: camera + LiDAR (or prompt depth) in, metric depth out.

Data flow (all topic names relative, remap them in launch)::

    image ─────────┐ (image-driven)                          ┌─> depth/image        32FC1 m
    camera_info ───┼─> pair: nearest camera_info, nearest ──>│   depth/camera_info  (scaled)
    lidar/points ──┘   LiDAR sweep within slop_s  │          ├─> depth/points       organized
     (or prompt_depth)                            v          └─> prompt/image       (debug)
                                 newest-frames worker (promptda_ros.serving)
                                 -> frame pipeline (promptda_ros.pipeline)

This module is lifecycle and wiring only: header checks and decoding are in
:mod:`promptda_ros.core.msg_codec`, pairing in :mod:`promptda_ros.core.sync`, the frame pipeline
in :mod:`promptda_ros.pipeline`, the worker and the callback guard in :mod:`promptda_ros.serving`.
The executor only caches messages and hands complete frames to the worker, whose queue holds
``queue_size`` frames: a new frame pushes the oldest waiting one out (counted as dropped). Every
callback is guarded: a bad input is counted under its error kind and logged (throttled per kind);
nothing a message carries can end the node.
``message_filters`` (LiDAR subscription) and ``tf2_ros`` (extrinsics) are used when installed.
"""

import argparse
from dataclasses import dataclass
import sys
import threading
import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import ClockType
from rclpy.duration import Duration
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.time import Time
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from promptda_ros.backends import make_backend
from promptda_ros.core import msg_codec
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import CalibrationError, PromptDAError, PromptError
from promptda_ros.core.msg_codec import (
    check_cloud_header,
    check_image_header,
    PROMPT_ENCODINGS,
    RGB_ENCODINGS,
)
from promptda_ros.core.sync import NearestSweepCache, select_nearest, StampCache
from promptda_ros.core.transforms import make_transform
from promptda_ros.pipeline import (
    check_rgb,
    cloud_arrays,
    DepthPipeline,
    prompt_from_depth,
    prompt_from_points,
)
from promptda_ros.ros import conversions
from promptda_ros.ros.diagnostics import diagnostic_array, PerceptionStats, StatsSnapshot
from promptda_ros.ros.params import apply_changes, declare_parameters, PerceptionParams, SPECS
from promptda_ros.serving import CallbackGuard, LatestWorker, Rejected, rejecting, tune_allocator

try:  # optional: a ROS 2 installation provides them, PyPI does not
    import message_filters
except ImportError:
    message_filters = None
try:
    import tf2_ros
except ImportError:
    tf2_ros = None

__all__ = ['PerceptionNode', 'main', 'check_image_header', 'check_cloud_header', 'RGB_ENCODINGS',
           'PROMPT_ENCODINGS', 'CoreSweepSource', 'FilterSweepSource']

NODE_NAME = 'promptda_perception'
MAX_PENDING_IMAGES = 4
LOG_THROTTLE_S = 2.0
CAMERA_INFO_CACHE = 10
_ANY_TIME_NS = 1 << 62  # camera_info pairing: the nearest one, however far


@dataclass
class FrameJob:
    """One camera frame with everything needed for inference (messages are decoded in the worker).

    Attributes:
        image: Image or CompressedImage message.
        stamp_ns: its header stamp, integer ns.
        camera: intrinsics matched by stamp.
        prompt_msg: PointCloud2 (prompt_source 'points') or Image (prompt_source 'depth_image').
        prompt_stamp_ns: header stamp of ``prompt_msg``.
        received: ``time.monotonic()`` when the image reached the node.
    """

    image: Any
    stamp_ns: int
    camera: PinholeCamera
    prompt_msg: Any
    prompt_stamp_ns: int
    received: float


class CoreSweepSource:
    """LiDAR sweeps / prompt images kept for pairing by the core cache (:mod:`core.sync`).

    Args:
        node: the node creating the subscription.
        msg_type, topic, qos, group: the subscription.
        capacity: messages kept (the oldest inserted goes first, as in message_filters.Cache).
        slop_ns: pairing tolerance, integer ns.
        accept: ``accept(msg) -> stamp_ns``: validates a message (raises :class:`Rejected`).
        on_cached: called after a message was stored.
        guard: wraps the subscription callback (None: unguarded, for tests).
        on_jump: called when a stamp jumped back in time (the cache was cleared).
    """

    def __init__(self, node, msg_type, topic: str, qos, group, capacity: int, slop_ns: int,
                 accept: Callable[[Any], Any], on_cached: Callable[[], None],
                 guard: CallbackGuard | None = None,
                 on_jump: Callable[[], None] | None = None) -> None:
        self._node = node
        self._cache = NearestSweepCache(slop_ns, capacity)
        self._accept = accept
        self._on_cached = on_cached
        self._on_jump = on_jump
        callback = self._callback if guard is None else guard.wrap('callback', self._callback)
        self._sub = self._subscribe(node, msg_type, topic, qos, group, callback)

    def _subscribe(self, node, msg_type, topic, qos, group, callback):
        return node.create_subscription(
            msg_type, topic, callback, qos, callback_group=group,
            qos_overriding_options=QoSOverridingOptions.with_default_policies())

    def _callback(self, msg) -> None:
        stamp = self._accept(msg)
        if isinstance(stamp, bool):  # an accept() that answers yes / no
            if not stamp:
                return
            stamp = msg_codec.header_stamp_ns(msg)
        if self._cache.add(int(stamp), msg) and self._on_jump is not None:
            self._on_jump()
        self._on_cached()

    def set_slop(self, slop_ns: int) -> None:
        """Change the pairing slop for the next match (cached messages stay)."""
        self._cache.set_slop(slop_ns)

    def note_image(self, stamp_ns: int) -> bool:
        """Record an arriving image; True when its stamp jumped back (cache trimmed)."""
        return self._cache.note_image(stamp_ns)

    def match(self, stamp_ns: int):
        """Return ``Match(stamp_ns, msg)`` (indexable as a pair) within slop, or None."""
        return self._cache.match(stamp_ns)

    def clear(self) -> None:
        """Drop every cached message."""
        self._cache.clear()

    @property
    def jumps_back(self) -> int:
        """Jumps back in time detected so far."""
        return self._cache.jumps_back

    def destroy(self) -> None:
        """Destroy the subscription."""
        self._node.destroy_subscription(self._sub)


class FilterSweepSource(CoreSweepSource):
    """The same, subscribed through ``message_filters.Subscriber`` (when it is installed).

    The sweeps are kept by the core cache, which implements ``message_filters.Cache``'s storage
    (arrival order, the oldest inserted evicted) and the one selection rule; so pairing is the
    same with or without message_filters (code that keeps its own ``message_filters.Cache``
    pairs with :func:`promptda_ros.core.sync.match_filter_cache`, the same rule).
    """

    def _subscribe(self, node, msg_type, topic, qos, group, callback):
        sub = message_filters.Subscriber(
            node, msg_type, topic, qos_profile=qos, callback_group=group,
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        sub.registerCallback(callback)
        return sub

    def destroy(self) -> None:
        """Destroy the subscription."""
        self._node.destroy_subscription(self._sub.sub)


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
        self._worker: LatestWorker | None = None
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._input_lock = threading.RLock()  # input callbacks vs. lifecycle transitions
        self._subs: list[Any] = []
        self._sweeps: CoreSweepSource | None = None
        self._jumps_counted = 0  # jumps back of the current sweep cache already counted
        self._camera_infos = StampCache(CAMERA_INFO_CACHE)
        self._pending: list[tuple[Any, int, float]] = []  # (image, stamp ns, received)
        self._pubs: dict[str, Any] = {}
        self._tf_buffer = None
        self._tf_listener = None
        self._previous_snapshot: StatsSnapshot | None = None
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_timer = self.create_timer(
            self.params.diagnostics_period_s,
            self._guard.wrap('callback', self._publish_diagnostics),
            callback_group=MutuallyExclusiveCallbackGroup())
        self.add_on_set_parameters_callback(self._guard.wrap(
            'callback', self._on_set_parameters,
            lambda _params: SetParametersResult(successful=False, reason='internal error')))
        if self.params.autostart:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()

    # -- public helpers ---------------------------------------------------------------------------
    def add_frame_listener(self, listener: Callable[[int, str], None]) -> None:
        """Call ``listener(image_stamp_ns, outcome)`` once per frame that leaves the node.

        ``outcome`` is 'published', 'dropped', 'unpaired' or 'error:<kind>' (final), 'pending'
        (waiting for a LiDAR sweep / camera_info) or 'queued' (handed to the worker).  In-process
        tools such as the replay use it to pace the input.
        """
        self._listeners.append(listener)

    def output_subscription_count(self, output: str) -> int:
        """Return how many subscribers ``output`` has ('depth', 'info', 'points', 'prompt').

        0 while the node is not configured (the publishers do not exist then).
        """
        pub = self._pubs.get(output)
        return 0 if pub is None else pub.get_subscription_count()

    def release(self) -> None:
        """Stop the inputs and the worker, destroy the publishers and release the backend."""
        self._stop_inputs()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self._pipeline = None
        if self._tf_listener is not None and hasattr(self._tf_listener, 'unregister'):
            self._tf_listener.unregister()  # destroys its /tf and /tf_static subscriptions
        self._tf_listener, self._tf_buffer = None, None

    def _warn(self, kind: str, message: str) -> None:
        """Log a warning, throttled per kind (not an error count)."""
        if self._guard.throttle.allow(kind):
            self.get_logger().warning(message)

    def _notify(self, stamp_ns: int, outcome: str) -> None:
        for listener in list(self._listeners):
            listener(stamp_ns, outcome)

    # -- lifecycle --------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and warm up the backend, set up extrinsics and publishers.

        Any failure, of any type, ends in FAILURE with the reason logged and kept in
        :attr:`configure_error` (``main`` then exits non-zero).
        """
        params = self.params
        self.configure_error = ''
        try:
            if params.extrinsics_source == 'tf' and tf2_ros is None:
                raise PromptDAError("extrinsics_source 'tf' needs tf2_ros, which is not "
                                    "installed; use 'static' or 'auto'")
            backend = make_backend(params.backend, **params.backend_options())
            pipeline = DepthPipeline(backend)
            warm_camera = PinholeCamera.from_intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
            warm_s = pipeline.warm_up(warm_camera, params.pipeline)
        except Exception as error:  # noqa: B902 - any failure is a clear configure failure
            what = 'tf2_ros' if 'tf2_ros' in str(error) else f'backend {params.backend!r}'
            reason = str(error) if isinstance(error, PromptDAError) else repr(error)
            return self._configure_failed(f'{what}: {reason}')
        if params.extrinsics_source != 'static' and tf2_ros is not None:
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        self._pipeline = pipeline
        overrides = QoSOverridingOptions.with_default_policies()
        for key, msg_type, topic in (('depth', Image, 'depth/image'),
                                     ('info', CameraInfo, 'depth/camera_info'),
                                     ('points', PointCloud2, 'depth/points'),
                                     ('prompt', Image, 'prompt/image')):
            self._pubs[key] = self.create_lifecycle_publisher(
                msg_type, topic, _qos(reliable=True), qos_overriding_options=overrides)
        self.stats.set_state('inactive', pipeline.name)
        self.get_logger().info(f'backend {pipeline.name!r} loaded, warm-up {warm_s * 1e3:.0f} ms; '
                               f'extrinsics: {self._extrinsics_mode()}')
        return super().on_configure(state)

    def _configure_failed(self, reason: str) -> TransitionCallbackReturn:
        self.configure_error = reason
        self.stats.set_state('unconfigured')
        self.stats.error('configure', reason)
        self.get_logger().error(f'configure failed: {reason}')
        return TransitionCallbackReturn.FAILURE

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the worker and subscribe to the inputs."""
        params = self.params
        reliable = params.sensor_qos == 'reliable'
        overrides = QoSOverridingOptions.with_default_policies()
        self._worker = LatestWorker(self._process, on_error=self._on_frame_error,
                                    name='promptda_inference', alive=self.context.ok,
                                    capacity=params.queue_size)
        self._worker.start()
        on_image = self._guard.wrap('callback', self._on_image)
        if params.image_transport == 'compressed':
            image_sub = self.create_subscription(
                CompressedImage, 'image/compressed', on_image, _qos(reliable),
                callback_group=self._input_group, qos_overriding_options=overrides)
        else:
            image_sub = self.create_subscription(
                Image, 'image', on_image, _qos(reliable), callback_group=self._input_group,
                qos_overriding_options=overrides)
        info_sub = self.create_subscription(
            CameraInfo, 'camera_info', self._guard.wrap('callback', self._on_camera_info),
            _qos(reliable), callback_group=self._input_group, qos_overriding_options=overrides)
        self._subs = [image_sub, info_sub]
        source_cls = FilterSweepSource if message_filters is not None else CoreSweepSource
        slop_ns = int(round(params.slop_s * 1e9))
        if params.prompt_source == 'points':
            msg_type, topic, accept = PointCloud2, 'lidar/points', self._accept_sweep
        else:
            msg_type, topic, accept = Image, 'prompt_depth', self._accept_prompt_image
        self._jumps_counted = 0
        self._sweeps = source_cls(self, msg_type, topic, _qos(reliable), self._input_group,
                                  params.lidar_cache_size, slop_ns, accept, self._dispatch,
                                  guard=self._guard, on_jump=self._on_time_jump)
        self.stats.set_state('active')
        return super().on_activate(state)

    def _stop_inputs(self) -> None:
        with self._input_lock:
            for sub in self._subs:
                self.destroy_subscription(sub)
            self._subs = []
            if self._sweeps is not None:
                self._sweeps.destroy()
                self._sweeps = None
            self._pending.clear()
            self._camera_infos.clear()
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop the worker (publishers stop with the lifecycle)."""
        self._stop_inputs()
        self.stats.set_state('inactive')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the backend and publishers."""
        self.release()
        self.stats.set_state('unconfigured', '')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything."""
        self.release()
        self.stats.set_state('finalized')
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything and go back to unconfigured."""
        self.release()
        self.stats.set_state('unconfigured', '')
        return TransitionCallbackReturn.SUCCESS

    # -- parameters -------------------------------------------------------------------------------
    def _on_set_parameters(self, parameters) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in SPECS}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            updated = apply_changes(self.params, changes)
        except PromptDAError as error:
            return SetParametersResult(successful=False, reason=str(error))
        slop_changed = updated.slop_s != self.params.slop_s
        self.params = updated
        sweeps = self._sweeps
        if slop_changed and sweeps is not None:
            sweeps.set_slop(int(round(updated.slop_s * 1e9)))
        return SetParametersResult(successful=True)

    # -- input callbacks (executor thread, one mutually exclusive group, all guarded) -------------
    def _on_image(self, msg) -> None:
        received = time.monotonic()
        self.stats.image_received()
        try:
            if isinstance(msg, Image):
                stamp = check_image_header(msg, RGB_ENCODINGS)
            else:
                stamp = msg_codec.check_compressed_header(msg)
        except PromptDAError as error:
            raise Rejected('bad_image', error) from error
        if isinstance(msg, Image):  # compressed: its size is known after decoding (worker)
            self._check_area('image', msg.height, msg.width)
        with self._input_lock:
            sweeps = self._sweeps
            if sweeps is not None and sweeps.note_image(stamp):
                self._time_jumped(stamp)
            self._pending.append((msg, stamp, received))
            self._dispatch()
            waiting = any(pending is msg for pending, _stamp, _received in self._pending)
        if waiting:
            self._notify(stamp, 'pending')

    def _on_camera_info(self, msg) -> None:
        with rejecting('bad_camera_info'):
            stamp = msg_codec.header_stamp_ns(msg)
            camera = msg_codec.camera_info_to_camera(msg)
            camera.validate()
        with self._input_lock:
            self._camera_infos.add(stamp, camera)
            self._dispatch()

    def _accept_sweep(self, msg) -> int:
        with rejecting('bad_cloud'):
            return check_cloud_header(msg)

    def _accept_prompt_image(self, msg) -> int:
        with rejecting('bad_prompt_image'):
            stamp = check_image_header(msg, PROMPT_ENCODINGS)
        self._check_area('prompt image', msg.height, msg.width)
        return stamp

    def _check_area(self, what: str, height: int, width: int) -> None:
        """Raise Rejected('too_large') when height x width px exceeds ``max_image_area`` px^2."""
        limit = self.params.max_image_area
        if int(height) * int(width) > limit:
            raise Rejected('too_large', f'{what} {width}x{height} is {int(height) * int(width)} '
                           f'px^2, more than max_image_area ({limit} px^2); refused')

    def _on_time_jump(self) -> None:
        """Count (once per jump, as the pairing cache does) and log a jump back in time."""
        sweeps = self._sweeps
        if sweeps is None:
            return
        new = sweeps.jumps_back - self._jumps_counted
        if new > 0:
            self._jumps_counted = sweeps.jumps_back
            self.stats.time_jump(new)
            self._warn('time_jump', 'input stamps jumped back in time (bag loop / simulator '
                       'reset): pairing caches cleared')

    def _time_jumped(self, stamp_ns: int) -> None:
        """Drop the pending frames and camera_infos of the timeline before an image jumped back."""
        limit = stamp_ns + int(round(self.params.slop_s * 1e9))
        self._camera_infos.keep(lambda stamp: stamp <= limit)
        for msg, stamp, _received in self._pending:
            self.stats.unpaired()
            self._notify(stamp, 'unpaired')
        self._pending.clear()
        self._on_time_jump()

    def _nearest_camera(self, stamp_ns: int) -> PinholeCamera | None:
        match = select_nearest(self._camera_infos.entries(), stamp_ns, _ANY_TIME_NS)
        return None if match is None else match.item

    def _dispatch(self) -> None:
        """Hand the complete pending frames to the worker, oldest first (see _dispatch_locked)."""
        with self._input_lock:
            if self._sweeps is not None and self._worker is not None:
                self._dispatch_locked(self._sweeps, self._worker)

    def _dispatch_locked(self, sweeps: CoreSweepSource, worker: LatestWorker) -> None:
        """Queue every pending frame that has its sweep and camera_info, in arrival order.

        A pending frame older than the newest complete one that still has no partner is
        unpaired (the node has moved past it). One sweep often completes two frames at once (an
        image stamped between two sweeps waits for the later one, and the image stamped with
        that sweep arrives with it): both go to the worker, whose queue (``queue_size``) drops
        the oldest waiting frame when full.
        """
        complete = []
        for index, (msg, stamp, received) in enumerate(self._pending):
            camera = self._nearest_camera(stamp)
            match = sweeps.match(stamp) if camera is not None else None
            if camera is not None and match is not None:
                complete.append((index, FrameJob(msg, stamp, camera, match[1], match[0],
                                                 received)))
        if complete:
            last = complete[-1][0]
            queued = {index for index, _job in complete}
            for index, (_msg, stale, _received) in enumerate(self._pending[:last]):
                if index not in queued:
                    self.stats.unpaired()
                    self._notify(stale, 'unpaired')
            del self._pending[:last + 1]
            for _index, job in complete:
                replaced = worker.put(job)
                self._notify(job.stamp_ns, 'queued')
                if replaced is not None:
                    self.stats.dropped()
                    self._notify(replaced.stamp_ns, 'dropped')
        while len(self._pending) > MAX_PENDING_IMAGES:
            _msg, stale, _received = self._pending.pop(0)
            self.stats.unpaired()
            self._notify(stale, 'unpaired')
            self._warn('unpaired', f'no LiDAR sweep / camera_info within slop_s='
                       f'{self.params.slop_s} s of an image; dropping it')

    # -- inference worker -------------------------------------------------------------------------
    def _on_frame_error(self, job: FrameJob, error: BaseException) -> None:
        kind = self._guard.report('inference', error)
        self._notify(job.stamp_ns, f'error:{kind}')

    def _extrinsics_mode(self) -> str:
        if self._tf_buffer is not None:
            return 'tf2'
        if self.params.extrinsics_source == 'static':
            return 'static parameters'
        return 'static parameters if set, else none (frames must match)'

    def _static_extrinsics_set(self) -> bool:
        params, default = self.params, PerceptionParams()
        return params.extrinsics_source == 'static' or \
            params.lidar_to_camera_translation != default.lidar_to_camera_translation or \
            params.lidar_to_camera_rotation_xyzw != default.lidar_to_camera_rotation_xyzw

    def _extrinsics(self, cloud_frame: str, camera_frame: str, stamp_ns: int
                    ) -> np.ndarray | None:
        """Return T_cam_lidar (4, 4) float64, or None when the frames are equal.

        Raises:
            Rejected: 'tf' when the tf2 lookup fails, 'extrinsics' when the frames differ and
                neither tf2 nor explicitly set static extrinsics give the transform.
        """
        if cloud_frame == camera_frame:
            self.stats.tf_status('same frame')
            return None
        params = self.params
        if self._tf_buffer is not None:
            try:
                tf = self._tf_buffer.lookup_transform(
                    camera_frame, cloud_frame, _ros_time(stamp_ns),
                    timeout=Duration(nanoseconds=int(params.tf_timeout_s * 1e9)))
            except tf2_ros.TransformException as error:
                self.stats.tf_status(f'lookup failed: {error}')
                raise Rejected('tf', CalibrationError(
                    f'no transform {cloud_frame} -> {camera_frame}: {error}')) from None
            t, q = tf.transform.translation, tf.transform.rotation
            self.stats.tf_status(f'tf2 {cloud_frame} -> {camera_frame}')
            return make_transform([t.x, t.y, t.z], [q.x, q.y, q.z, q.w])
        if not self._static_extrinsics_set():
            self.stats.tf_status(f'no extrinsics {cloud_frame} -> {camera_frame}')
            raise Rejected('extrinsics', f'LiDAR frame {cloud_frame!r} differs from the camera '
                           f'frame {camera_frame!r} and no transform is known: tf2_ros is not '
                           'installed and lidar_to_camera_* are not set (set them, or '
                           "extrinsics_source: 'static' for an identity)")
        self.stats.tf_status(f'static {cloud_frame} -> {camera_frame}')
        return make_transform(params.lidar_to_camera_translation,
                              params.lidar_to_camera_rotation_xyzw)

    def _process(self, job: FrameJob) -> None:
        """Run one frame through the pipeline and publish (worker thread)."""
        params = self.params
        config = params.pipeline
        pipeline = self._pipeline
        if pipeline is None:
            return
        header = job.image.header
        with rejecting('bad_image'):
            rgb = msg_codec.decode_rgb(job.image)
        self._check_area('image', rgb.shape[0], rgb.shape[1])
        with rejecting('size_mismatch'):
            check_rgb(rgb, job.camera)
        if params.prompt_source == 'points':
            with rejecting('bad_cloud'):
                points = msg_codec.cloud_to_xyz(job.prompt_msg)
            T_cam_lidar = self._extrinsics(job.prompt_msg.header.frame_id, header.frame_id,
                                           job.prompt_stamp_ns)
            # Innermost first: the specific kinds, then any other input error of the cloud.
            with rejecting('bad_cloud'), rejecting('calibration', (CalibrationError,)), \
                    rejecting('prompt_too_sparse', (PromptError,)):
                prompt = prompt_from_points(points, T_cam_lidar, job.camera, config)
        else:
            with rejecting('bad_prompt_image'):
                prompt_m = msg_codec.image_to_depth_m(job.prompt_msg)
            with rejecting('bad_prompt_image'), rejecting('prompt_too_sparse', (PromptError,)):
                prompt = prompt_from_depth(prompt_m, config)
        with rejecting('inference'):
            result = pipeline.predict(rgb, job.camera, prompt, config)
        self._publish(job, header, rgb, prompt, result)

    def _publish(self, job: FrameJob, header, rgb: np.ndarray, prompt, result) -> None:
        params = self.params
        pubs = self._pubs
        if not pubs or not self.context.ok():
            return  # released, or shutting down (SIGINT): nothing to publish to
        pubs['depth'].publish(conversions.depth_image_msg(result.depth_m, header))
        pubs['info'].publish(conversions.camera_info_msg(result.camera, header))
        if params.publish_points and pubs['points'].get_subscription_count() > 0:
            points, rgb_packed = cloud_arrays(result.depth_m, result.camera,
                                              rgb if params.points_rgb else None,
                                              params.points_decimation, params.points_max_range)
            pubs['points'].publish(conversions.cloud_msg(points, header, rgb_packed))
        if params.publish_prompt and pubs['prompt'].get_subscription_count() > 0:
            pubs['prompt'].publish(conversions.depth_image_msg(prompt.filled_m, header))
        lidar_age = (job.stamp_ns - job.prompt_stamp_ns) * 1e-9
        self.stats.frame_done(time.monotonic() - job.received, result.network_s,
                              prompt.stats.valid_fraction, lidar_age)
        self._notify(job.stamp_ns, 'published')

    # -- diagnostics ------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        snap = self.stats.snapshot()
        report = getattr(self._pipeline.backend, 'diagnostics', None) if self._pipeline else None
        msg = diagnostic_array(snap, self.get_clock().now().to_msg(),
                               f'{self.get_fully_qualified_name()}: depth',
                               hardware_id=self.get_fully_qualified_name(),
                               previous=self._previous_snapshot,
                               backend_values=report() if callable(report) else None)
        self._previous_snapshot = snap
        self._diag_pub.publish(msg)


def _qos(reliable: bool) -> QoSProfile:
    """Return a new keep-last-5 profile: reliable, or best effort (= qos_profile_sensor_data).

    A fresh object per entity: QoS overrides are applied to the profile object in place.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                      reliability=ReliabilityPolicy.RELIABLE if reliable
                      else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def _ros_time(stamp_ns: int) -> Time:
    """Return integer ns (>= 0, validated at the input) as an rclpy Time of the ROS clock."""
    return Time(nanoseconds=max(int(stamp_ns), 0), clock_type=ClockType.ROS_TIME)


def main(argv: list[str] | None = None) -> int:
    """Run the node: ``promptda-perception --ros-args --params-file config/perception.yaml``."""
    args = sys.argv if argv is None else [sys.argv[0], *argv]
    try:
        plain_args = remove_ros_args(args)[1:]
    except RuntimeError as error:  # rcl's RCLInvalidROSArgsError, e.g. a missing params file
        print(f'error: {str(error).strip().splitlines()[0]}', file=sys.stderr)
        return 1
    argparse.ArgumentParser(
        prog='promptda-perception',
        description='PromptDA perception lifecycle node: image + camera_info + lidar/points (or '
                    'prompt_depth) in; depth/image (32FC1 metres, NaN = invalid), '
                    'depth/camera_info, depth/points and /diagnostics out. Topic names are '
                    'relative: remap them with -r, e.g. -r image:=/camera/image_raw.',
        epilog='ROS arguments follow --ros-args, e.g. --ros-args --params-file '
               'config/perception.yaml -r lidar/points:=/velodyne_points -p backend:=bilinear. '
               'Parameters, units and ranges: config/perception.yaml.',
    ).parse_args(plain_args)
    allocator = tune_allocator()
    rclpy.init(args=args)
    node = None
    try:
        node = PerceptionNode()
        node.get_logger().info(f'malloc thresholds: {allocator}')
        if node.params.autostart and node.configure_error:
            print(f'error: configure failed: {node.configure_error}', file=sys.stderr)
            return 1
        # One executor thread: callbacks only copy and hand frames over; inference runs in the
        # worker. (A multi-threaded executor busy-polls callbacks of a busy group while holding
        # the GIL, which slows the worker's numpy / torch calls; replay ran 2x slower with it.)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (PromptDAError, ParameterException) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    finally:
        if node is not None:
            node.release()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
