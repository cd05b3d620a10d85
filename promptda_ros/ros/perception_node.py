# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Lifecycle node ``promptda_perception``: camera + LiDAR (or prompt depth) in, metric depth out.

Data flow (all topic names relative, remap them in launch)::

    image ─────────┐ (image-driven)                          ┌─> depth/image        32FC1 m
    camera_info ───┼─> pair: nearest camera_info, nearest ──>│   depth/camera_info  (scaled)
    lidar/points ──┘   LiDAR sweep within slop_s  │          ├─> depth/points       organized
     (or prompt_depth)                            v          └─> prompt/image       (debug)
                                      one-slot latest-frame buffer
                                      -> inference worker thread
                                         (prompt -> backend -> outputs)

The executor only caches messages and hands complete frames to the worker; a newer frame replaces
a waiting one (counted as dropped), so latency stays bounded when inference is slower than the
camera.  ``message_filters`` (LiDAR cache) and ``tf2_ros`` (extrinsics) are used when installed;
without them the core ``NearestSweepCache`` and static extrinsics parameters do the same job.
"""

import argparse
from collections import deque
from dataclasses import dataclass
import sys
import threading
import time
import traceback
from typing import Any, Callable

import cv2
import numpy as np
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.clock import ClockType
from rclpy.time import Time
from rclpy.utilities import remove_ros_args
from rcl_interfaces.msg import SetParametersResult
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from promptda_ros.backends import make_backend
from promptda_ros.core import msg_codec
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import CalibrationError, InputError, PromptDAError, PromptError
from promptda_ros.core.sync import NearestSweepCache
from promptda_ros.core.transforms import make_transform
from promptda_ros.ros import conversions
from promptda_ros.ros.diagnostics import diagnostic_array, PerceptionStats
from promptda_ros.ros.params import apply_changes, declare_parameters, PerceptionParams, SPECS
from promptda_ros.pipeline import (check_rgb, cloud_arrays, DepthPipeline, prompt_from_depth,
                                   prompt_from_points)

try:  # optional: a ROS 2 installation provides them, PyPI does not
    import message_filters
except ImportError:
    message_filters = None
try:
    import tf2_ros
except ImportError:
    tf2_ros = None

NODE_NAME = 'promptda_perception'
RGB_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')
PROMPT_ENCODINGS = ('16UC1', 'mono16', '32FC1')
BYTES_PER_PIXEL = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, '16UC1': 2,
                   'mono16': 2, '32FC1': 4}
MAX_PENDING_IMAGES = 4
LOG_THROTTLE_S = 2.0


def check_image_header(msg, encodings: tuple[str, ...]) -> None:
    """Cheap O(1) validation of an Image's metadata; raises InputError naming the problem."""
    if msg.encoding not in encodings:
        raise InputError(f'unsupported image encoding {msg.encoding!r}; expected one of '
                         f'{list(encodings)}')
    if msg.height == 0 or msg.width == 0:
        raise InputError(f'empty image ({msg.width}x{msg.height})')
    row = msg.width * BYTES_PER_PIXEL[msg.encoding]
    if msg.step < row:
        raise InputError(f'image step {msg.step} < width * bytes per pixel = {row}')
    if len(msg.data) < msg.step * msg.height:
        raise InputError(f'image data has {len(msg.data)} bytes, expected step * height = '
                         f'{msg.step * msg.height}')


def check_cloud_header(msg) -> None:
    """Cheap O(1) validation of a PointCloud2's layout; raises InputError naming the problem."""
    names = {f.name for f in msg.fields}
    missing = {'x', 'y', 'z'} - names
    if missing:
        raise InputError(f'point cloud has no field(s) {sorted(missing)}')
    if msg.width * msg.height == 0:
        raise InputError('point cloud is empty')
    if msg.point_step == 0 or len(msg.data) < msg.row_step * (msg.height - 1) + \
            msg.point_step * msg.width:
        raise InputError(f'point cloud data has {len(msg.data)} bytes, too few for '
                         f'{msg.width}x{msg.height} points of {msg.point_step} bytes')


@dataclass
class FrameJob:
    """One camera frame with everything needed for inference (messages are decoded in the worker).

    Attributes:
        image: Image or CompressedImage message.
        camera: intrinsics matched by stamp.
        prompt_msg: PointCloud2 (prompt_source 'points') or Image (prompt_source 'depth_image').
        prompt_stamp_ns: header stamp of ``prompt_msg``.
        received: ``time.monotonic()`` when the image reached the node.
    """

    image: Any
    camera: PinholeCamera
    prompt_msg: Any
    prompt_stamp_ns: int
    received: float

    @property
    def stamp_ns(self) -> int:
        """Image stamp, integer ns."""
        return conversions.stamp_to_ns(self.image.header.stamp)


class LatestSlot:
    """One-slot buffer: ``put`` replaces a waiting item (returning it), ``take`` blocks."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item = None
        self._closed = False

    def put(self, item) -> Any:
        """Store ``item``; return the item it replaced (a dropped frame) or None."""
        with self._cond:
            replaced, self._item = self._item, item
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> Any:
        """Return the waiting item, waiting up to ``timeout`` s; None when closed or timed out."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return None if self._closed else item

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return self._closed

    def close(self) -> Any:
        """Wake the consumer for good; return the item still waiting (or None)."""
        with self._cond:
            self._closed = True
            item, self._item = self._item, None
            self._cond.notify_all()
            return item


class CoreSweepSource:
    """LiDAR / prompt-image cache on the core NearestSweepCache (integer ns stamps)."""

    def __init__(self, node, msg_type, topic: str, qos, group, capacity: int, slop_ns: int,
                 accept: Callable[[Any], bool], on_cached: Callable[[], None]) -> None:
        self._capacity = capacity
        self._cache = NearestSweepCache(slop_ns, capacity)
        self._accept = accept
        self._on_cached = on_cached
        self._node = node
        self._sub = node.create_subscription(
            msg_type, topic, self._callback, qos, callback_group=group,
            qos_overriding_options=QoSOverridingOptions.with_default_policies())

    def _callback(self, msg) -> None:
        if self._accept(msg):
            self._cache.add(conversions.stamp_to_ns(msg.header.stamp), msg)
            self._on_cached()

    def set_slop(self, slop_ns: int) -> None:
        """Change the pairing slop (the cache restarts empty)."""
        self._cache = NearestSweepCache(slop_ns, self._capacity)

    def match(self, stamp_ns: int) -> tuple[int, Any] | None:
        """Return (stamp_ns, msg) of the nearest cached message within slop, or None."""
        return self._cache.match(stamp_ns)

    def destroy(self) -> None:
        """Destroy the subscription."""
        self._node.destroy_subscription(self._sub)


class FilterSweepSource:
    """The same cache through message_filters (Subscriber -> Cache), used when it is installed."""

    def __init__(self, node, msg_type, topic: str, qos, group, capacity: int, slop_ns: int,
                 accept: Callable[[Any], bool], on_cached: Callable[[], None]) -> None:
        self._node = node
        self._slop_ns = slop_ns
        self._sub = message_filters.Subscriber(
            node, msg_type, topic, qos_profile=qos, callback_group=group,
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self._valid = message_filters.SimpleFilter()
        self._sub.registerCallback(lambda msg: accept(msg) and self._valid.signalMessage(msg))
        self._cache = message_filters.Cache(self._valid, capacity)
        self._cache.registerCallback(lambda _msg: on_cached())

    def set_slop(self, slop_ns: int) -> None:
        """Change the pairing slop."""
        self._slop_ns = slop_ns

    def match(self, stamp_ns: int) -> tuple[int, Any] | None:
        """Return (stamp_ns, msg) of the nearest cached message within slop (ties -> newer)."""
        msgs = self._cache.getInterval(_ros_time(stamp_ns - self._slop_ns),
                                       _ros_time(stamp_ns + self._slop_ns))
        best = None
        for msg in msgs:
            ns = conversions.stamp_to_ns(msg.header.stamp)
            key = (abs(ns - stamp_ns), -ns)
            if best is None or key < best[0]:
                best = (key, ns, msg)
        return None if best is None else (best[1], best[2])

    def destroy(self) -> None:
        """Destroy the subscription."""
        self._node.destroy_subscription(self._sub.sub)


class PerceptionNode(LifecycleNode):
    """PromptDA perception as a ROS 2 lifecycle node (see module docstring for the data flow)."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.params: PerceptionParams = declare_parameters(self)
        self.stats = PerceptionStats()
        self._listeners: list[Callable[[int, str], None]] = []
        self._pipeline: DepthPipeline | None = None
        self._slot: LatestSlot | None = None
        self._worker: threading.Thread | None = None
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._input_lock = threading.RLock()  # input callbacks vs. lifecycle transitions
        self.configure_error = ''
        self._subs: list[Any] = []
        self._sweeps: CoreSweepSource | FilterSweepSource | None = None
        self._camera_infos: deque[tuple[int, PinholeCamera]] = deque(maxlen=10)
        self._pending: deque[tuple[Any, float]] = deque()
        self._pubs: dict[str, Any] = {}
        self._tf_buffer = None
        self._tf_listener = None
        self._previous_snapshot = None
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_timer = self.create_timer(self.params.diagnostics_period_s,
                                             self._publish_diagnostics,
                                             callback_group=MutuallyExclusiveCallbackGroup())
        self.add_on_set_parameters_callback(self._on_set_parameters)
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

    def _notify(self, stamp_ns: int, outcome: str) -> None:
        for listener in list(self._listeners):
            listener(stamp_ns, outcome)

    def _reject(self, kind: str, error: Exception, stamp_ns: int | None = None) -> None:
        self.stats.error(kind, str(error))
        self.get_logger().warning(f'{kind}: {error}', throttle_duration_sec=LOG_THROTTLE_S)
        if stamp_ns is not None:
            self._notify(stamp_ns, f'error:{kind}')

    # -- lifecycle --------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and warm up the backend, set up extrinsics and publishers."""
        params = self.params
        self.configure_error = ''
        try:
            backend = make_backend(params.backend, **params.backend_options())
            pipeline = DepthPipeline(backend)
            warm_camera = PinholeCamera.from_intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
            warm_s = pipeline.warm_up(warm_camera, params.pipeline)
        except (PromptDAError, OSError, ImportError) as error:
            return self._configure_failed(f'backend {params.backend!r}: {error}')
        if params.extrinsics_source == 'tf' and tf2_ros is None:
            return self._configure_failed("extrinsics_source 'tf' needs tf2_ros, which is not "
                                          "installed; use 'static' or 'auto'")
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
        self.get_logger().error(f'configure failed: {reason}')
        return TransitionCallbackReturn.FAILURE

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the worker and subscribe to the inputs."""
        params = self.params
        reliable = params.sensor_qos == 'reliable'
        overrides = QoSOverridingOptions.with_default_policies()
        self._slot = LatestSlot()
        self._worker = threading.Thread(target=self._work, args=(self._slot,),
                                        name='promptda_inference', daemon=True)
        self._worker.start()
        if params.image_transport == 'compressed':
            image_sub = self.create_subscription(
                CompressedImage, 'image/compressed', self._on_image, _qos(reliable),
                callback_group=self._input_group, qos_overriding_options=overrides)
        else:
            image_sub = self.create_subscription(
                Image, 'image', self._on_image, _qos(reliable), callback_group=self._input_group,
                qos_overriding_options=overrides)
        info_sub = self.create_subscription(
            CameraInfo, 'camera_info', self._on_camera_info, _qos(reliable),
            callback_group=self._input_group, qos_overriding_options=overrides)
        self._subs = [image_sub, info_sub]
        source_cls = FilterSweepSource if message_filters is not None else CoreSweepSource
        slop_ns = int(round(params.slop_s * 1e9))
        if params.prompt_source == 'points':
            self._sweeps = source_cls(self, PointCloud2, 'lidar/points', _qos(reliable),
                                      self._input_group,
                                      params.lidar_cache_size, slop_ns, self._on_sweep,
                                      self._dispatch)
        else:
            self._sweeps = source_cls(self, Image, 'prompt_depth', _qos(reliable),
                                      self._input_group,
                                      params.lidar_cache_size, slop_ns,
                                      self._on_prompt_image, self._dispatch)
        self.stats.set_state('active')
        return super().on_activate(state)

    def _stop_inputs(self) -> None:
        with self._input_lock:
            self._stop_inputs_locked()
        if self._worker is not None:
            self._worker.join()
        self._worker = None

    def _stop_inputs_locked(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._sweeps is not None:
            self._sweeps.destroy()
            self._sweeps = None
        self._pending.clear()
        self._camera_infos.clear()
        if self._slot is not None:
            self._slot.close()
        self._slot = None

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop the worker (publishers stop with the lifecycle)."""
        self._stop_inputs()
        self.stats.set_state('inactive')
        return super().on_deactivate(state)

    def _release(self) -> None:
        self._stop_inputs()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self._pipeline = None
        if self._tf_listener is not None and hasattr(self._tf_listener, 'unregister'):
            self._tf_listener.unregister()  # destroys its /tf and /tf_static subscriptions
        self._tf_listener, self._tf_buffer = None, None

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the backend and publishers."""
        self._release()
        self.stats.set_state('unconfigured', '')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything."""
        self._release()
        self.stats.set_state('finalized')
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything and go back to unconfigured."""
        self._release()
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
        if slop_changed and self._sweeps is not None:
            self._sweeps.set_slop(int(round(updated.slop_s * 1e9)))
        return SetParametersResult(successful=True)

    # -- input callbacks (executor thread, one mutually exclusive group) --------------------------
    def _on_image(self, msg) -> None:
        received = time.monotonic()
        self.stats.image_received()
        try:
            if isinstance(msg, Image):
                check_image_header(msg, RGB_ENCODINGS)
            elif len(msg.data) == 0:
                raise InputError('compressed image has no data')
        except InputError as error:
            self._reject('bad_image', error, conversions.stamp_to_ns(msg.header.stamp))
            return
        with self._input_lock:
            self._pending.append((msg, received))
            self._dispatch()
            waiting = any(pending is msg for pending, _received in self._pending)
        if waiting:
            self._notify(conversions.stamp_to_ns(msg.header.stamp), 'pending')

    def _on_camera_info(self, msg) -> None:
        try:
            camera = msg_codec.camera_info_to_camera(msg)
            camera.validate()
        except PromptDAError as error:
            self._reject('bad_camera_info', error)
            return
        with self._input_lock:
            self._camera_infos.append((conversions.stamp_to_ns(msg.header.stamp), camera))
            self._dispatch()

    def _on_sweep(self, msg) -> bool:
        try:
            check_cloud_header(msg)
        except InputError as error:
            self._reject('bad_cloud', error)
            return False
        return True

    def _on_prompt_image(self, msg) -> bool:
        try:
            check_image_header(msg, PROMPT_ENCODINGS)
        except InputError as error:
            self._reject('bad_prompt_image', error)
            return False
        return True

    def _nearest_camera(self, stamp_ns: int) -> PinholeCamera | None:
        if not self._camera_infos:
            return None
        return min(self._camera_infos, key=lambda item: (abs(item[0] - stamp_ns), -item[0]))[1]

    def _dispatch(self) -> None:
        """Hand the newest complete frame to the worker; older pending frames are unpaired."""
        with self._input_lock:
            if self._sweeps is not None and self._slot is not None:
                self._dispatch_locked()

    def _dispatch_locked(self) -> None:
        ready = None
        for index in range(len(self._pending) - 1, -1, -1):
            msg, received = self._pending[index]
            stamp_ns = conversions.stamp_to_ns(msg.header.stamp)
            camera = self._nearest_camera(stamp_ns)
            match = self._sweeps.match(stamp_ns) if camera is not None else None
            if match is not None:
                ready = (index, FrameJob(msg, camera, match[1], match[0], received))
                break
        if ready is not None:
            index, job = ready
            for _ in range(index):
                stale, _received = self._pending.popleft()
                self.stats.unpaired()
                self._notify(conversions.stamp_to_ns(stale.header.stamp), 'unpaired')
            self._pending.popleft()
            replaced = self._slot.put(job)
            self._notify(job.stamp_ns, 'queued')
            if replaced is not None:
                self.stats.dropped()
                self._notify(replaced.stamp_ns, 'dropped')
        while len(self._pending) > MAX_PENDING_IMAGES:
            stale, _received = self._pending.popleft()
            self.stats.unpaired()
            self._notify(conversions.stamp_to_ns(stale.header.stamp), 'unpaired')
            self.get_logger().warning(
                f'no LiDAR sweep / camera_info within slop_s={self.params.slop_s} s of an '
                'image; dropping it', throttle_duration_sec=LOG_THROTTLE_S)

    # -- inference worker -------------------------------------------------------------------------
    def _work(self, slot: LatestSlot) -> None:
        while True:
            job = slot.take(timeout=0.5)
            if job is None:
                if slot.closed:
                    return
                continue
            try:
                self._process(job)
            except PromptDAError as error:  # already classified by _process
                self._reject(getattr(error, 'kind', 'inference'), error, job.stamp_ns)
            except Exception as error:  # a bug must not kill the node: log it loudly, count it
                self.stats.error('inference', repr(error))
                self.get_logger().error(f'inference failed: {error!r}\n{traceback.format_exc()}',
                                        throttle_duration_sec=LOG_THROTTLE_S)
                self._notify(job.stamp_ns, 'error:inference')

    def _extrinsics_mode(self) -> str:
        return 'tf2' if self._tf_buffer is not None else 'static parameters'

    def _extrinsics(self, cloud_frame: str, camera_frame: str, stamp_ns: int
                    ) -> np.ndarray | None:
        """Return T_cam_lidar (4, 4) float64, or None when the frames are equal."""
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
                raise _classified(CalibrationError(
                    f'no transform {cloud_frame} -> {camera_frame}: {error}'), 'tf')
            t, q = tf.transform.translation, tf.transform.rotation
            self.stats.tf_status(f'tf2 {cloud_frame} -> {camera_frame}')
            return make_transform([t.x, t.y, t.z], [q.x, q.y, q.z, q.w])
        self.stats.tf_status(f'static {cloud_frame} -> {camera_frame}')
        return make_transform(params.lidar_to_camera_translation,
                              params.lidar_to_camera_rotation_xyzw)

    def _decode_rgb(self, msg) -> np.ndarray:
        """Return (H, W, 3) uint8 RGB from an Image or CompressedImage."""
        if isinstance(msg, CompressedImage):
            bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise InputError(f'cannot decode compressed image (format {msg.format!r})')
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return msg_codec.image_to_rgb(msg)

    def _process(self, job: FrameJob) -> None:
        params = self.params
        pipeline = self._pipeline
        if pipeline is None:
            return
        header = job.image.header
        try:
            rgb = self._decode_rgb(job.image)
        except PromptDAError as error:
            raise _classified(error, 'bad_image')
        try:
            check_rgb(rgb, job.camera)
        except InputError as error:
            raise _classified(error, 'size_mismatch')
        if params.prompt_source == 'points':
            try:
                points = msg_codec.cloud_to_xyz(job.prompt_msg)
            except PromptDAError as error:
                raise _classified(error, 'bad_cloud')
            T_cam_lidar = self._extrinsics(job.prompt_msg.header.frame_id, header.frame_id,
                                           job.prompt_stamp_ns)
            try:
                prompt = prompt_from_points(points, T_cam_lidar, job.camera, params.pipeline)
            except PromptError as error:
                raise _classified(error, 'prompt_too_sparse')
            except CalibrationError as error:
                raise _classified(error, 'calibration')
        else:
            try:
                prompt_m = msg_codec.image_to_depth_m(job.prompt_msg)
            except PromptDAError as error:
                raise _classified(error, 'bad_prompt_image')
            try:
                prompt = prompt_from_depth(prompt_m, params.pipeline)
            except PromptError as error:
                raise _classified(error, 'prompt_too_sparse')
        try:
            result = pipeline.predict(rgb, job.camera, prompt, params.pipeline)
        except PromptDAError as error:
            raise _classified(error, 'inference')
        pubs = self._pubs
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
        msg = diagnostic_array(snap, self.get_clock().now().to_msg(),
                               f'{self.get_fully_qualified_name()}: depth',
                               hardware_id=self.get_fully_qualified_name(),
                               previous=self._previous_snapshot)
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
    """Return integer ns as an rclpy Time of the ROS clock (the clock type of message stamps)."""
    return Time(nanoseconds=int(stamp_ns), clock_type=ClockType.ROS_TIME)


def _classified(error: PromptDAError, kind: str) -> PromptDAError:
    """Tag an error with the diagnostics error kind it is counted under."""
    error.kind = kind
    return error


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
    rclpy.init(args=args)
    node = None
    try:
        node = PerceptionNode()
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
            node._release()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
