# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The perception node on a real rclpy graph (in-process, private domain)."""

import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from promptda_ros.backends import register_backend
from promptda_ros.core import msg_codec
from promptda_ros.core.transforms import matrix_to_quat
from promptda_ros.ros import conversions
from promptda_ros.ros.diagnostics import diagnostic_values
from promptda_ros.ros.perception_node import PerceptionNode
from promptda_ros.sample.scene import SampleGenerator

DOMAIN_ID = 71
TIMEOUT_S = 20.0
GEN = SampleGenerator(frames=12, width=160, height=120, seed=3)
CAMERA_FRAME = 'camera_optical_frame'


def _header(stamp_ns: int, frame: str) -> Header:
    return Header(stamp=conversions.ns_to_stamp(stamp_ns), frame_id=frame)


def _extrinsics() -> dict:
    T = GEN.T_cam_lidar
    return {'extrinsics_source': 'static',
            'lidar_to_camera_translation': [float(v) for v in T[:3, 3]],
            'lidar_to_camera_rotation_xyzw': [float(v) for v in matrix_to_quat(T[:3, :3])]}


@pytest.fixture(scope='module')
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID)
    yield ctx
    rclpy.try_shutdown(context=ctx)


class Harness:
    """A perception node plus a tester node (best-effort publishers, recording subscribers)."""

    count = 0

    def __init__(self, context, params: dict, subscribe_points: bool = True) -> None:
        Harness.count += 1
        self.ns = f'/graph_test_{Harness.count}'
        overrides = [Parameter(k, value=v) for k, v in {**_extrinsics(), **params}.items()]
        self.node = PerceptionNode(context=context, namespace=self.ns,
                                   parameter_overrides=overrides)
        self.tester = rclpy.create_node('tester', context=context, namespace=self.ns)
        self.lock = threading.Lock()
        self.received = {'depth': [], 'info': [], 'points': [], 'diag': [], 'prompt': []}
        self.pubs = {
            'image': self.tester.create_publisher(Image, 'image', qos_profile_sensor_data),
            'info': self.tester.create_publisher(CameraInfo, 'camera_info',
                                                 qos_profile_sensor_data),
            'points': self.tester.create_publisher(PointCloud2, 'lidar/points',
                                                   qos_profile_sensor_data),
            'prompt': self.tester.create_publisher(Image, 'prompt_depth',
                                                   qos_profile_sensor_data),
        }
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        topics = [('depth', Image, 'depth/image'), ('info', CameraInfo, 'depth/camera_info'),
                  ('diag', DiagnosticArray, '/diagnostics'), ('prompt', Image, 'prompt/image')]
        if subscribe_points:
            topics.append(('points', PointCloud2, 'depth/points'))
        for key, cls, topic in topics:
            self.tester.create_subscription(cls, topic, lambda m, k=key: self._store(k, m),
                                            reliable)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.tester)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _store(self, key, msg) -> None:
        if key == 'diag' and not msg.status[0].name.startswith(self.ns):
            return
        with self.lock:
            self.received[key].append(msg)

    def wait(self, predicate, timeout=TIMEOUT_S) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self.received):
                    return True
            time.sleep(0.02)
        return False

    def wait_matched(self, keys=('image', 'info', 'points')) -> None:
        """Wait until the node hears the tester and the tester hears the node's depth."""
        assert self.wait(lambda _r: all(self.pubs[k].get_subscription_count() > 0
                                        for k in keys))
        assert self.wait(lambda _r: self.node.output_subscription_count('depth') > 0)

    def publish_frame(self, index: int, stamp_ns: int | None = None, cloud: bool = True):
        frame = GEN.frame(index)
        stamp = frame.stamp_ns if stamp_ns is None else stamp_ns
        lidar_stamp = stamp + (frame.lidar_stamp_ns - frame.stamp_ns)
        header = _header(stamp, CAMERA_FRAME)
        self.pubs['info'].publish(conversions.camera_info_msg(GEN.camera, header))
        if cloud:
            self.pubs['points'].publish(conversions.cloud_msg(
                frame.points_lidar, _header(lidar_stamp, 'lidar')))
        self.pubs['image'].publish(conversions.image_msg(frame.rgb, 'rgb8', header))
        return frame, stamp

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.thread.join(5.0)
        self.node.release()
        self.node.destroy_node()
        self.tester.destroy_node()


@pytest.fixture
def harness(context):
    made = []

    def make(params=None, **kwargs):
        made.append(Harness(context, params or {}, **kwargs))
        return made[-1]
    yield make
    for h in made:
        h.close()


def test_depth_matches_ground_truth_with_input_header(harness):
    h = harness({'points_rgb': True})
    h.wait_matched()
    assert h.wait(lambda _r: h.node.output_subscription_count('points') > 0)
    frame, stamp = h.publish_frame(0)
    assert h.wait(lambda r: r['depth'] and r['info'] and r['points'])
    depth_msg, info, cloud = h.received['depth'][0], h.received['info'][0], h.received['points'][0]
    for msg in (depth_msg, info, cloud):
        assert conversions.stamp_to_ns(msg.header.stamp) == stamp
        assert msg.header.frame_id == CAMERA_FRAME
    assert depth_msg.encoding == '32FC1'
    depth = msg_codec.image_to_array(depth_msg)
    assert depth.shape == frame.depth_gt_m.shape and depth.dtype == np.float32
    valid = np.isfinite(depth) & np.isfinite(frame.depth_gt_m)
    assert valid.mean() > 0.9
    error = np.abs(depth[valid] - frame.depth_gt_m[valid])
    assert float(np.median(error)) < 0.05, f'median abs error {np.median(error):.3f} m'
    assert msg_codec.camera_info_to_camera(info) == GEN.camera
    assert cloud.width * cloud.height == depth.size and cloud.height == depth.shape[0]
    assert cloud.point_step == 32 and not cloud.is_dense
    xyz = msg_codec.cloud_to_xyz(cloud, drop_invalid=False).reshape(depth.shape + (3,))
    np.testing.assert_allclose(xyz[..., 2][valid], depth[valid], rtol=1e-5)


def test_output_size_scales_camera_info_and_decimates_points(harness):
    h = harness({'output_size': [60, 80], 'points_decimation': 2, 'points_rgb': False,
                 'publish_prompt': True})
    h.wait_matched()
    assert h.wait(lambda _r: h.node.output_subscription_count('points') > 0)
    assert h.wait(lambda _r: h.node.output_subscription_count('prompt') > 0)
    _frame, stamp = h.publish_frame(1)
    assert h.wait(lambda r: r['depth'] and r['info'] and r['points'] and r['prompt'])
    prompt = h.received['prompt'][0]
    assert (prompt.encoding, prompt.height, prompt.width) == ('32FC1', 192, 256)
    assert conversions.stamp_to_ns(prompt.header.stamp) == stamp
    assert np.all(msg_codec.image_to_array(prompt) > 0)  # filled
    depth_msg, info, cloud = h.received['depth'][0], h.received['info'][0], h.received['points'][0]
    assert (depth_msg.height, depth_msg.width) == (60, 80)
    assert msg_codec.camera_info_to_camera(info) == GEN.camera.scaled(80, 60)
    assert (cloud.height, cloud.width, cloud.point_step) == (30, 40, 16)


def test_prompt_depth_image_input(harness):
    h = harness({'prompt_source': 'depth_image'})
    h.wait_matched(('image', 'info', 'prompt'))
    frame = GEN.frame(2)
    header = _header(frame.stamp_ns, CAMERA_FRAME)
    low = frame.depth_gt_m[::2, ::2]  # 60 x 80 prompt image
    prompt_mm = np.where(np.isfinite(low), np.round(low * 1000.0), 0).astype(np.uint16)
    h.pubs['prompt'].publish(conversions.image_msg(prompt_mm, '16UC1', header))
    h.pubs['info'].publish(conversions.camera_info_msg(GEN.camera, header))
    h.pubs['image'].publish(conversions.image_msg(frame.rgb, 'rgb8', header))
    assert h.wait(lambda r: r['depth'])
    depth = msg_codec.image_to_array(h.received['depth'][0])
    valid = np.isfinite(depth) & np.isfinite(frame.depth_gt_m)
    assert float(np.median(np.abs(depth[valid] - frame.depth_gt_m[valid]))) < 0.05


def test_malformed_burst_does_not_stop_the_node(harness):
    h = harness({'diagnostics_period_s': 0.2})
    h.wait_matched()
    header = _header(GEN.frame(0).stamp_ns, CAMERA_FRAME)
    for i in range(5):
        bad = conversions.image_msg(np.zeros((10, 10, 3), np.uint8), 'rgb8', header)
        bad.encoding = '8UC3'
        h.pubs['image'].publish(bad)
        short = conversions.image_msg(np.zeros((10, 10, 3), np.uint8), 'rgb8', header)
        short.data = short.data[:50]
        h.pubs['image'].publish(short)
        no_z = conversions.cloud_msg(np.ones((20, 3), np.float32), header)
        no_z.fields = no_z.fields[:2]
        h.pubs['points'].publish(no_z)
        h.pubs['points'].publish(conversions.cloud_msg(np.zeros((0, 3), np.float32), header))
        info = conversions.camera_info_msg(GEN.camera, header)
        info.k = [0.0] * 9
        info.p = [0.0] * 12
        h.pubs['info'].publish(info)
        time.sleep(0.01)
    assert h.wait(lambda _r: h.node.stats.snapshot().error_total >= 10)
    # A NaN-only cloud paired with an image: prompt too sparse, counted, no output.
    nan_stamp = GEN.frame(0).stamp_ns + 10**9
    nan_header = _header(nan_stamp, 'lidar')
    h.pubs['info'].publish(conversions.camera_info_msg(GEN.camera, _header(nan_stamp,
                                                                           CAMERA_FRAME)))
    h.pubs['points'].publish(conversions.cloud_msg(np.full((50, 3), np.nan, np.float32),
                                                   nan_header))
    h.pubs['image'].publish(conversions.image_msg(GEN.frame(0).rgb, 'rgb8',
                                                  _header(nan_stamp, CAMERA_FRAME)))
    assert h.wait(lambda _r: h.node.stats.snapshot().errors['prompt_too_sparse'] >= 1)
    # An image whose size differs from its camera_info: counted, no output.
    small_stamp = nan_stamp + 5 * 10**8
    h.pubs['info'].publish(conversions.camera_info_msg(GEN.camera, _header(small_stamp,
                                                                           CAMERA_FRAME)))
    h.pubs['points'].publish(conversions.cloud_msg(GEN.frame(0).points_lidar,
                                                   _header(small_stamp, 'lidar')))
    h.pubs['image'].publish(conversions.image_msg(np.zeros((12, 16, 3), np.uint8), 'rgb8',
                                                  _header(small_stamp, CAMERA_FRAME)))
    assert h.wait(lambda _r: h.node.stats.snapshot().errors['size_mismatch'] >= 1)
    _frame, stamp = h.publish_frame(3, stamp_ns=nan_stamp + 10**9)
    assert h.wait(lambda r: any(conversions.stamp_to_ns(m.header.stamp) == stamp
                                for m in r['depth']))
    snap = h.node.stats.snapshot()
    assert snap.errors['bad_image'] >= 1 and snap.errors['bad_cloud'] >= 1
    assert snap.errors['bad_camera_info'] >= 1
    assert h.wait(lambda r: r['diag'] and int(diagnostic_values(r['diag'][-1])['errors']) >=
                  snap.error_total)


class SlowBackend:
    """Constant-depth backend that takes 0.25 s per frame."""

    name = 'slow_test'

    def predict(self, rgb, prompt_m, camera=None):
        time.sleep(0.25)
        return np.full(rgb.shape[:2], 2.0, np.float32)


def test_slow_backend_drops_stale_frames_and_reports_them(harness):
    register_backend('slow_test', lambda **options: SlowBackend())
    h = harness({'backend': 'slow_test', 'diagnostics_period_s': 0.2}, subscribe_points=False)
    h.wait_matched()
    stamps = []
    for i in range(10):
        stamps.append(h.publish_frame(i)[1])
        time.sleep(0.03)
    # Every frame leaves the node: published or dropped (none queue up behind the backend).
    assert h.wait(lambda r: h.node.stats.snapshot().frames_out + h.node.stats.snapshot().dropped
                  + h.node.stats.snapshot().unpaired >= 10)
    snap = h.node.stats.snapshot()
    assert snap.dropped > 0
    assert snap.frames_out < 10
    with h.lock:
        published = [conversions.stamp_to_ns(m.header.stamp) for m in h.received['depth']]
    assert published == sorted(published) and stamps[-1] in published  # newest always served
    assert h.wait(lambda r: r['diag'] and int(diagnostic_values(r['diag'][-1])['dropped_frames'])
                  == snap.dropped)


class GatedBackend:
    """Holds each frame while ``gate`` is clear (the worker busy on demand).

    The gate is open at first, for the warm-up at configure.
    """

    name = 'gated_test'

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()

    def predict(self, rgb, prompt_m, camera=None):
        assert self.gate.wait(TIMEOUT_S)
        return np.full(rgb.shape[:2], 2.0, np.float32)


@pytest.mark.parametrize('queue_size', [1, 2])
def test_a_sweep_completing_two_frames_queues_both_oldest_first(harness, queue_size):
    """Image A (between two sweeps) waits for the later sweep, which also completes image B.

    Both are handed over, A first; the worker's queue (queue_size) decides what waits: with 1,
    A is dropped (counted as dropped, not unpaired) and B served; with 2 both are served.
    """
    backend = GatedBackend()
    register_backend('gated_test', lambda **options: backend)
    h = harness({'backend': 'gated_test', 'queue_size': queue_size}, subscribe_points=False)
    h.wait_matched()
    backend.gate.clear()
    outcomes = []
    h.node.add_frame_listener(lambda stamp, outcome: outcomes.append((stamp, outcome)))
    frame = GEN.frame(0)
    lidar_dt = frame.lidar_stamp_ns - frame.stamp_ns  # +7 ms
    base = frame.stamp_ns
    a_stamp, b_stamp = base + 60_000_000, base + 100_000_000
    h.publish_frame(0, stamp_ns=base)  # F0 with its sweep: the worker holds it at the gate
    assert h.wait(lambda _r: (base, 'queued') in outcomes)
    for stamp in (a_stamp, b_stamp):  # 53 / 93 ms from the cached sweep: pending
        h.publish_frame(1, stamp_ns=stamp, cloud=False)
        assert h.wait(lambda _r, s=stamp: (s, 'pending') in outcomes)
    h.pubs['points'].publish(conversions.cloud_msg(GEN.frame(1).points_lidar,
                                                   _header(b_stamp + lidar_dt, 'lidar')))
    assert h.wait(lambda _r: (b_stamp, 'queued') in outcomes)
    backend.gate.set()
    served = [base, a_stamp, b_stamp] if queue_size == 2 else [base, b_stamp]
    assert h.wait(lambda r: len(r['depth']) >= len(served))
    time.sleep(0.2)
    with h.lock:
        published = [conversions.stamp_to_ns(m.header.stamp) for m in h.received['depth']]
    assert published == served
    queued = [stamp for stamp, outcome in outcomes if outcome == 'queued']
    assert queued == [base, a_stamp, b_stamp]  # oldest first
    snap = h.node.stats.snapshot()
    assert snap.unpaired == 0
    assert snap.dropped == (1 if queue_size == 1 else 0)
    assert ((a_stamp, 'dropped') in outcomes) == (queue_size == 1)


def test_lifecycle_transitions(harness):
    h = harness({'autostart': False})
    assert h.node.stats.snapshot().state == 'unconfigured'
    assert h.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert h.node.stats.snapshot().state == 'inactive'
    assert h.pubs['image'].get_subscription_count() == 0
    assert h.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    h.wait_matched()
    _frame, stamp = h.publish_frame(4)
    assert h.wait(lambda r: r['depth'])
    assert h.node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert h.wait(lambda _r: h.pubs['image'].get_subscription_count() == 0)
    assert h.node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert h.node.stats.snapshot().state == 'unconfigured'
    assert h.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert h.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    h.wait_matched()
    h.publish_frame(5)
    assert h.wait(lambda r: len(r['depth']) >= 2)


def test_bad_backend_fails_configure(harness):
    h = harness({'autostart': False, 'backend': 'promptda', 'checkpoint': ''})
    assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert h.node.stats.snapshot().state == 'unconfigured'
    h2 = harness({'backend': 'no_such_backend'})
    assert h2.node.stats.snapshot().state == 'unconfigured'


def test_parameter_validation_at_run_time(harness):
    h = harness()
    results = h.node.set_parameters([Parameter('max_depth', value=0.05)])
    assert not results[0].successful and 'max_depth' in results[0].reason
    results = h.node.set_parameters([Parameter('slop_s', value=3.0)])
    assert not results[0].successful
    results = h.node.set_parameters([Parameter('backend', value='bilinear')])
    assert not results[0].successful and 'read-only' in results[0].reason
    results = h.node.set_parameters([Parameter('prompt_fill', value='magic')])
    assert not results[0].successful and 'prompt_fill' in results[0].reason
    results = h.node.set_parameters([Parameter('points_decimation', value=4),
                                     Parameter('slop_s', value=0.02)])
    assert all(r.successful for r in results)
    assert h.node.params.points_decimation == 4 and h.node.params.slop_s == 0.02
    assert h.node.params.max_depth == 20.0


def test_image_pairs_with_the_nearest_sweep_within_slop(harness):
    h = harness(subscribe_points=False)
    h.wait_matched()
    errors = []
    for index, (good_dt, bad_dt) in ((6, (40, -10)), (7, (-10, 30))):
        frame = GEN.frame(index)
        stamp = frame.stamp_ns
        header = _header(stamp, CAMERA_FRAME)
        h.pubs['info'].publish(conversions.camera_info_msg(GEN.camera, header))
        # The wrong sweep sees everything 1.5x farther away.
        for points, dt_ms in ((frame.points_lidar, good_dt), (frame.points_lidar * 1.5, bad_dt)):
            h.pubs['points'].publish(conversions.cloud_msg(
                points, _header(stamp + dt_ms * 1_000_000, 'lidar')))
        time.sleep(0.2)  # both sweeps cached before the image arrives
        h.pubs['image'].publish(conversions.image_msg(frame.rgb, 'rgb8', header))
        assert h.wait(lambda r, s=stamp: any(conversions.stamp_to_ns(m.header.stamp) == s
                                             for m in r['depth']))
        depth = msg_codec.image_to_array(h.received['depth'][-1])
        valid = np.isfinite(depth) & np.isfinite(frame.depth_gt_m)
        errors.append(float(np.median(np.abs(depth[valid] - frame.depth_gt_m[valid]))))
    assert errors[0] > 0.3 and errors[1] < 0.05, errors
    assert h.node.stats.snapshot().lidar_age_ms == pytest.approx(10.0)


def test_compressed_image_input(harness):
    import cv2
    from sensor_msgs.msg import CompressedImage
    h = harness({'image_transport': 'compressed'}, subscribe_points=False)
    pub = h.tester.create_publisher(CompressedImage, 'image/compressed', qos_profile_sensor_data)
    h.wait_matched(('info', 'points'))
    assert h.wait(lambda _r: pub.get_subscription_count() > 0)
    frame = GEN.frame(8)
    header = _header(frame.stamp_ns, CAMERA_FRAME)
    h.pubs['info'].publish(conversions.camera_info_msg(GEN.camera, header))
    h.pubs['points'].publish(conversions.cloud_msg(
        frame.points_lidar, _header(frame.lidar_stamp_ns, 'lidar')))
    ok, png = cv2.imencode('.png', cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    assert ok
    pub.publish(CompressedImage(header=header, format='rgb8; png compressed bgr8',
                                data=png.tobytes()))
    assert h.wait(lambda r: r['depth'])
    pub.publish(CompressedImage(header=header, format='png', data=b'not an image'))
    depth = msg_codec.image_to_array(h.received['depth'][0])
    valid = np.isfinite(depth) & np.isfinite(frame.depth_gt_m)
    assert float(np.median(np.abs(depth[valid] - frame.depth_gt_m[valid]))) < 0.05
    assert h.wait(lambda _r: h.node.stats.snapshot().errors['bad_image'] == 1)
    # A compressed image's size is known after decoding: one pixel over max_image_area.
    area = GEN.camera.width * GEN.camera.height
    assert h.node.set_parameters([Parameter('max_image_area', value=area - 1)])[0].successful
    stamp = frame.stamp_ns + 10**9
    header = _header(stamp, CAMERA_FRAME)
    h.pubs['info'].publish(conversions.camera_info_msg(GEN.camera, header))
    h.pubs['points'].publish(conversions.cloud_msg(
        frame.points_lidar, _header(stamp + frame.lidar_stamp_ns - frame.stamp_ns, 'lidar')))
    pub.publish(CompressedImage(header=header, format='png', data=png.tobytes()))
    assert h.wait(lambda _r: h.node.stats.snapshot().errors['too_large'] == 1)
    assert len(h.received['depth']) == 1


def test_tf2_extrinsics_path_with_a_stand_in_buffer(harness, monkeypatch):
    """tf2_ros is absent here: a stand-in Buffer checks the lookup arguments and answers."""
    import types

    from geometry_msgs.msg import TransformStamped
    from rclpy.time import Time

    from promptda_ros.ros import perception_node
    lookups = []

    class TransformException(Exception):
        pass

    class Buffer:
        def lookup_transform(self, target, source, time, timeout):
            lookups.append((target, source, time, timeout))
            if source != 'lidar':
                raise TransformException(f'no frame {source}')
            tf = TransformStamped()
            T = GEN.T_cam_lidar
            q = matrix_to_quat(T[:3, :3])
            tf.transform.translation.x, tf.transform.translation.y, \
                tf.transform.translation.z = (float(v) for v in T[:3, 3])
            tf.transform.rotation.x, tf.transform.rotation.y, tf.transform.rotation.z, \
                tf.transform.rotation.w = (float(v) for v in q)
            return tf

    fake = types.SimpleNamespace(Buffer=Buffer, TransformException=TransformException,
                                 TransformListener=lambda buffer, node: object())
    monkeypatch.setattr(perception_node, 'tf2_ros', fake)
    h = harness({'extrinsics_source': 'tf', 'lidar_to_camera_translation': [5.0, 5.0, 5.0]},
                subscribe_points=False)
    h.wait_matched()
    frame, stamp = h.publish_frame(9)
    assert h.wait(lambda r: r['depth'])
    depth = msg_codec.image_to_array(h.received['depth'][0])
    valid = np.isfinite(depth) & np.isfinite(frame.depth_gt_m)
    assert float(np.median(np.abs(depth[valid] - frame.depth_gt_m[valid]))) < 0.05
    target, source, when, _timeout = lookups[-1]
    assert (target, source) == (CAMERA_FRAME, 'lidar')
    assert when == Time(nanoseconds=frame.lidar_stamp_ns, clock_type=when.clock_type)
    assert h.node.stats.snapshot().tf_status.startswith('tf2')
    # A sweep in an unknown frame: counted as a TF error, the node keeps serving.
    frame = GEN.frame(10)
    header = _header(frame.stamp_ns, CAMERA_FRAME)
    h.pubs['info'].publish(conversions.camera_info_msg(GEN.camera, header))
    h.pubs['points'].publish(conversions.cloud_msg(frame.points_lidar,
                                                   _header(frame.lidar_stamp_ns, 'nowhere')))
    h.pubs['image'].publish(conversions.image_msg(frame.rgb, 'rgb8', header))
    assert h.wait(lambda _r: h.node.stats.snapshot().errors['tf'] == 1)
    assert 'lookup failed' in h.node.stats.snapshot().tf_status


def test_tf_source_without_tf2_fails_configure(harness, monkeypatch):
    from promptda_ros.ros import perception_node
    monkeypatch.setattr(perception_node, 'tf2_ros', None)  # as on a pip-only machine
    h = harness({'extrinsics_source': 'tf'})
    assert h.node.stats.snapshot().state == 'unconfigured'
    assert 'tf2_ros' in h.node.configure_error


def test_sensor_qos_defaults_to_best_effort_and_can_be_overridden(harness):
    from rclpy.qos import ReliabilityPolicy as Reliability
    h = harness(subscribe_points=False)
    h.wait_matched()

    def reliability(ns, topic):
        infos = h.tester.get_subscriptions_info_by_topic(f'{ns}/{topic}')
        return {i.qos_profile.reliability for i in infos if i.node_name == 'promptda_perception'}
    assert reliability(h.ns, 'image') == {Reliability.BEST_EFFORT}
    assert reliability(h.ns, 'lidar/points') == {Reliability.BEST_EFFORT}
    ns = f'/graph_test_{Harness.count + 1}'
    h2 = harness({f'qos_overrides.{ns}/image.subscription.reliability': 'reliable'},
                 subscribe_points=False)
    assert h2.ns == ns
    assert h2.wait(lambda _r: reliability(ns, 'image') == {Reliability.RELIABLE})
    assert reliability(ns, 'camera_info') == {Reliability.BEST_EFFORT}
    h3 = harness({'sensor_qos': 'reliable'}, subscribe_points=False)
    assert h3.wait(lambda _r: reliability(h3.ns, 'camera_info') == {Reliability.RELIABLE})


# -- hard to break: stamps, callbacks, time jumps, geometry, stale input --------------------------
def test_bad_stamps_and_a_raising_callback_never_end_the_node(harness):
    h = harness()
    h.wait_matched()
    frame = GEN.frame(0)
    broken = Header(stamp=conversions.ns_to_stamp(frame.stamp_ns), frame_id=CAMERA_FRAME)
    broken.stamp.nanosec = 1_500_000_000  # a buggy driver: nanosec >= 1e9
    h.pubs['image'].publish(conversions.image_msg(frame.rgb, 'rgb8', broken))
    h.pubs['info'].publish(conversions.camera_info_msg(GEN.camera, broken))
    cloud_header = Header(stamp=broken.stamp, frame_id='lidar')
    h.pubs['points'].publish(conversions.cloud_msg(frame.points_lidar, cloud_header))
    assert h.wait(lambda _r: all(h.node.stats.snapshot().errors[kind] >= 1
                                 for kind in ('bad_image', 'bad_camera_info', 'bad_cloud')))
    raised = []

    def listener(stamp_ns, outcome):  # a hook that fails once: a bug in a callback
        if not raised:
            raised.append(stamp_ns)
            raise RuntimeError('listener bug')

    h.node.add_frame_listener(listener)
    h.publish_frame(1)
    assert h.wait(lambda _r: h.node.stats.snapshot().errors['callback'] >= 1)
    _frame, stamp = h.publish_frame(2)
    assert h.wait(lambda r: any(conversions.stamp_to_ns(m.header.stamp) == stamp
                                for m in r['depth']))
    assert 'nanosec' in h.node.stats.snapshot().last_error or raised


@pytest.mark.parametrize('with_message_filters', [False, True])
def test_stamps_near_zero_pair_and_publish(harness, monkeypatch, with_message_filters):
    """A simulator clock starting at 0: images stamped below slop_s (no negative times)."""
    if with_message_filters:
        from promptda_ros.ros import perception_node

        from test_ros_units import _fake_message_filters
        monkeypatch.setattr(perception_node, 'message_filters', _fake_message_filters())
    h = harness({'slop_s': 0.05})
    h.wait_matched()
    stamps = []
    for index, stamp in enumerate((10_000_000, 30_000_000)):  # 0.01 s and 0.03 s
        stamps.append(h.publish_frame(index, stamp_ns=stamp)[1])
        assert h.wait(lambda r, s=stamps[-1]: any(
            conversions.stamp_to_ns(m.header.stamp) == s for m in r['depth']))
    assert h.node.stats.snapshot().error_total == 0


def test_time_jump_back_clears_caches_and_is_counted(harness):
    h = harness({'diagnostics_period_s': 0.2})
    h.wait_matched()
    base = GEN.frame(0).stamp_ns
    for index in range(2):
        _frame, stamp = h.publish_frame(index, stamp_ns=base + 10**10 + index * 10**8)
        assert h.wait(lambda r, s=stamp: any(conversions.stamp_to_ns(m.header.stamp) == s
                                             for m in r['depth']))
    published = []
    for index in range(3):  # the bag loops: stamps go back by 10 s
        _frame, stamp = h.publish_frame(index, stamp_ns=base + index * 10**8)
        published.append(h.wait(lambda r, s=stamp: any(
            conversions.stamp_to_ns(m.header.stamp) == s for m in r['depth'])))
    assert all(published), published
    assert h.node.stats.snapshot().time_jumps == 1  # one loop of the bag, counted once
    assert h.wait(lambda r: r['diag'] and
                  int(diagnostic_values(r['diag'][-1])['time_jumps_back']) >= 1)


def test_lidar_frame_without_any_extrinsics_is_an_error_not_a_guess(harness):
    h = harness({'extrinsics_source': 'auto', 'lidar_to_camera_translation': [0.0, 0.0, 0.0],
                 'lidar_to_camera_rotation_xyzw': [0.0, 0.0, 0.0, 1.0]})
    h.wait_matched()
    h.publish_frame(0)
    assert h.wait(lambda _r: h.node.stats.snapshot().errors['extrinsics'] >= 1)
    time.sleep(0.3)
    assert not h.received['depth']
    assert 'no extrinsics' in h.node.stats.snapshot().tf_status


def test_diagnostics_go_stale_when_input_stops(harness, monkeypatch):
    from diagnostic_msgs.msg import DiagnosticStatus

    from promptda_ros.ros import diagnostics
    monkeypatch.setattr(diagnostics, 'STALE_AFTER_S', 0.5)
    h = harness({'diagnostics_period_s': 0.2})
    h.wait_matched()
    assert h.wait(lambda r: r['diag'] and r['diag'][-1].status[0].level == DiagnosticStatus.WARN
                  and 'waiting for images' in r['diag'][-1].status[0].message)
    _frame, stamp = h.publish_frame(0)
    assert h.wait(lambda r: r['depth'])
    assert h.wait(lambda r: r['diag'][-1].status[0].level == DiagnosticStatus.STALE)
    assert 'no image for' in h.received['diag'][-1].status[0].message


def test_configure_failure_of_any_type_is_reported(harness):
    """An unexpected exception type in configure (not a project error) is a clear FAILURE."""
    def explode(**_options):
        raise KeyError('weights table')

    register_backend('exploding_test', explode)
    h = harness({'backend': 'exploding_test', 'diagnostics_period_s': 0.2})
    assert h.node.stats.snapshot().state == 'unconfigured'
    assert 'KeyError' in h.node.configure_error and 'weights table' in h.node.configure_error
    assert h.wait(lambda r: r['diag'] and 'configure failed' in r['diag'][-1].status[0].message)
    from diagnostic_msgs.msg import DiagnosticStatus
    assert h.received['diag'][-1].status[0].level == DiagnosticStatus.ERROR


def test_oversized_images_and_output_size_are_refused_and_the_node_keeps_serving(harness):
    area = GEN.camera.width * GEN.camera.height
    h = harness({'max_image_area': area, 'diagnostics_period_s': 0.2})
    h.wait_matched()
    stamp = GEN.frame(0).stamp_ns
    header = _header(stamp, CAMERA_FRAME)
    big = np.zeros((GEN.camera.height + 1, GEN.camera.width, 3), np.uint8)  # one row too many
    h.pubs['image'].publish(conversions.image_msg(big, 'rgb8', header))
    assert h.wait(lambda _r: h.node.stats.snapshot().errors['too_large'] >= 1)
    assert h.wait(lambda r: r['diag'] and int(diagnostic_values(r['diag'][-1])['errors']) >= 1)
    _frame, stamp = h.publish_frame(1, stamp_ns=stamp + 10**9)  # exactly at the limit: served
    assert h.wait(lambda r: any(conversions.stamp_to_ns(m.header.stamp) == stamp
                                for m in r['depth']))
    # output_size is bounded by the same area, at run time too.
    results = h.node.set_parameters([Parameter('output_size', value=[100000, 100000])])
    assert not results[0].successful and 'max_image_area' in results[0].reason
    results = h.node.set_parameters([Parameter('output_size', value=[GEN.camera.height + 1,
                                                                     GEN.camera.width])])
    assert not results[0].successful
    results = h.node.set_parameters([Parameter('max_image_area', value=area // 4)])
    assert results[0].successful  # output_size [0, 0] follows the (refused) input size
    assert h.node.params.output_size == (0, 0) and h.node.params.max_image_area == area // 4
    _frame, stamp2 = h.publish_frame(2, stamp_ns=stamp + 10**9)
    assert h.wait(lambda _r: h.node.stats.snapshot().errors['too_large'] >= 2)
    assert not any(conversions.stamp_to_ns(m.header.stamp) == stamp2 for m in h.received['depth'])


def test_a_full_resolution_prompt_image_is_reduced_in_bounded_time(harness):
    # 'knn' fill: at 1440 x 1920 it took ~10 s per frame on an idle core; on the 192 x 256
    # grid it is milliseconds.
    h = harness({'prompt_source': 'depth_image', 'prompt_fill': 'knn',
                 'max_image_area': 1440 * 1920})
    h.wait_matched(('image', 'info', 'prompt'))
    frame = GEN.frame(4)
    truth_mm = np.where(np.isfinite(frame.depth_gt_m), np.round(frame.depth_gt_m * 1000.0), 0)
    full = np.kron(truth_mm, np.ones((12, 12))).astype(np.uint16)  # 120x160 -> 1440x1920
    header = _header(frame.stamp_ns, CAMERA_FRAME)
    start = time.monotonic()
    h.pubs['prompt'].publish(conversions.image_msg(full, '16UC1', header))
    h.pubs['info'].publish(conversions.camera_info_msg(GEN.camera, header))
    h.pubs['image'].publish(conversions.image_msg(frame.rgb, 'rgb8', header))
    assert h.wait(lambda r: r['depth'])
    assert time.monotonic() - start < 8.0
    depth = msg_codec.image_to_array(h.received['depth'][0])
    valid = np.isfinite(depth) & np.isfinite(frame.depth_gt_m)
    assert float(np.median(np.abs(depth[valid] - frame.depth_gt_m[valid]))) < 0.05
    # One pixel more than max_image_area: refused before decoding, counted, nothing published.
    stamp = frame.stamp_ns + 10**9
    header = _header(stamp, CAMERA_FRAME)
    h.pubs['prompt'].publish(conversions.image_msg(np.zeros((1441, 1920), np.uint16), '16UC1',
                                                   header))
    assert h.wait(lambda _r: h.node.stats.snapshot().errors['too_large'] >= 1)
