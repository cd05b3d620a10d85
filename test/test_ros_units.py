# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Unit tests of the ROS layer without a graph: params, conversions, pipeline, diagnostics."""

import threading

import numpy as np
import pytest
from rcl_interfaces.msg import ParameterDescriptor
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from promptda_ros.core import msg_codec
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import CalibrationError, InputError, PromptError
from promptda_ros.core.pointcloud import depth_to_points
from promptda_ros.pipeline import (
    cloud_arrays,
    DepthPipeline,
    prompt_from_depth,
    prompt_from_points,
)
from promptda_ros.ros import conversions
from promptda_ros.ros.diagnostics import diagnostic_array, diagnostic_values, PerceptionStats
from promptda_ros.ros.params import apply_changes, descriptor, PARAMETERS, PerceptionParams, SPECS
from promptda_ros.ros.perception_node import check_cloud_header, check_image_header, RGB_ENCODINGS
from promptda_ros.serving import LatestSlot


def _camera(width=64, height=48) -> PinholeCamera:
    return PinholeCamera.from_intrinsics(50.0, 50.0, (width - 1) / 2, (height - 1) / 2,
                                         width, height)


def _header(sec=12, nanosec=345, frame='camera_optical_frame') -> Header:
    header = Header(frame_id=frame)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


class PlaneBackend:
    """Returns the prompt's median everywhere (a fronto-parallel plane)."""

    name = 'plane'

    def predict(self, rgb, prompt_m, camera=None):
        value = float(np.median(prompt_m[prompt_m > 0]))
        return np.full(rgb.shape[:2], value, np.float32)


# -- params --------------------------------------------------------------------------------------
def test_params_defaults_match_yaml_and_specs():
    import yaml
    with open('config/perception.yaml', encoding='utf-8') as stream:
        values = yaml.safe_load(stream)['/**/promptda_perception']['ros__parameters']
    assert set(values) == set(SPECS)
    params = PerceptionParams.from_mapping(values)
    defaults = PerceptionParams()
    assert params == defaults
    for spec in PARAMETERS:
        assert spec.default == values[spec.name], spec.name


@pytest.mark.parametrize('changes, words', [
    ({'max_depth': 0.05}, 'max_depth'),
    ({'prompt_fill': 'magic'}, 'prompt_fill'),
    ({'output_size': [0, 10]}, 'output_size'),
    ({'lidar_to_camera_rotation_xyzw': [0.0, 0.0, 0.0, 0.0]}, 'quaternion'),
    ({'lidar_to_camera_translation': [0.0, float('nan'), 0.0]}, 'finite'),
    ({'points_decimation': 0}, 'points_decimation'),
    ({'slop_s': -1.0}, 'slop_s'),
])
def test_invalid_values_raise_naming_the_parameter(changes, words):
    with pytest.raises((InputError, CalibrationError), match=words):
        apply_changes(PerceptionParams(), changes)


def test_construction_validates_read_only_values():
    with pytest.raises(InputError, match='multiples of 14'):
        PerceptionParams(input_size=(100, 100))
    with pytest.raises(InputError, match='encoder'):
        PerceptionParams(encoder='vitx')
    with pytest.raises(InputError, match='unknown'):
        PerceptionParams.from_mapping({'slop': 0.1})


def test_apply_changes_rejects_read_only_and_unknown():
    with pytest.raises(InputError, match='read-only'):
        apply_changes(PerceptionParams(), {'backend': 'bilinear'})
    with pytest.raises(InputError, match='unknown'):
        apply_changes(PerceptionParams(), {'no_such_param': 1})
    same = apply_changes(PerceptionParams(), {'backend': 'default', 'slop_s': 0.02})
    assert same.slop_s == 0.02 and same.backend == 'default'


def test_quaternion_is_normalised_and_descriptor_has_range():
    params = PerceptionParams(lidar_to_camera_rotation_xyzw=(0.0, 0.0, 0.0, 2.0))
    assert params.lidar_to_camera_rotation_xyzw == (0.0, 0.0, 0.0, 1.0)
    desc = descriptor(SPECS['slop_s'])
    assert isinstance(desc, ParameterDescriptor) and not desc.read_only
    assert desc.floating_point_range[0].to_value == 1.0
    assert descriptor(SPECS['points_decimation']).integer_range[0].from_value == 1
    assert descriptor(SPECS['backend']).read_only
    assert 'knn' in descriptor(SPECS['prompt_fill']).additional_constraints


def test_backend_options_only_for_promptda():
    assert PerceptionParams().backend_options() == {}
    opts = PerceptionParams(backend='promptda', checkpoint='x.safetensors',
                            input_size=(196, 252)).backend_options()
    assert opts['checkpoint'] == 'x.safetensors' and opts['input_size'] == (196, 252)
    assert opts['encoder'] is None


# -- conversions ---------------------------------------------------------------------------------
def test_depth_image_keeps_header_and_values():
    depth = np.random.default_rng(0).uniform(0.5, 4.0, (6, 8)).astype(np.float32)
    depth[0, 0] = np.nan
    header = _header()
    msg = conversions.depth_image_msg(depth, header)
    assert msg.encoding == '32FC1' and (msg.height, msg.width) == (6, 8)
    assert msg.header is not header and msg.header == header
    back = msg_codec.image_to_array(msg)
    np.testing.assert_array_equal(back, depth)


def test_camera_info_and_cloud_messages():
    camera = _camera().scaled(32, 24)
    info = conversions.camera_info_msg(camera, _header())
    assert msg_codec.camera_info_to_camera(info) == camera
    depth = np.full((24, 32), 2.0, np.float32)
    points = depth_to_points(depth, camera)
    cloud = conversions.cloud_msg(points, _header(), None)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.is_dense) == (24, 32, 16, False)
    np.testing.assert_allclose(msg_codec.cloud_to_xyz(cloud), points.reshape(-1, 3))
    assert conversions.stamp_to_ns(conversions.ns_to_stamp(12_000_000_345)) == 12_000_000_345


def test_cheap_header_checks():
    good = conversions.image_msg(np.zeros((4, 5, 3), np.uint8), 'rgb8', _header())
    check_image_header(good, RGB_ENCODINGS)
    for field, value, words in (('encoding', '8UC3', 'encoding'), ('step', 2, 'step'),
                                ('height', 40, 'data')):
        bad = conversions.image_msg(np.zeros((4, 5, 3), np.uint8), 'rgb8', _header())
        setattr(bad, field, value)
        with pytest.raises(InputError, match=words):
            check_image_header(bad, RGB_ENCODINGS)
    cloud = conversions.cloud_msg(np.zeros((2, 3, 3), np.float32), _header())
    check_cloud_header(cloud)
    cloud.fields = cloud.fields[:2]
    with pytest.raises(InputError, match='z'):
        check_cloud_header(cloud)
    empty = conversions.cloud_msg(np.zeros((0, 3), np.float32), _header())
    with pytest.raises(InputError, match='empty'):
        check_cloud_header(empty)


# -- pipeline ------------------------------------------------------------------------------------
def _plane_points(z=2.0) -> np.ndarray:
    xs, ys = np.meshgrid(np.linspace(-1.5, 1.5, 60), np.linspace(-1.0, 1.0, 40))
    # A slanted plane z = z0 + 0.25 y, so the prompt has a depth range.
    return np.stack([xs.ravel(), ys.ravel(), z + 0.25 * ys.ravel()], 1).astype(np.float32)


def test_pipeline_output_size_scales_camera_and_masks_range():
    params = PerceptionParams(prompt_height=24, prompt_width=32, output_size=(24, 32))
    camera = _camera()
    prompt = prompt_from_points(_plane_points(2.0), None, camera, params)
    assert prompt.filled_m.shape == (24, 32) and prompt.stats.n_valid > 16
    rgb = np.zeros((48, 64, 3), np.uint8)
    result = DepthPipeline(PlaneBackend()).predict(rgb, camera, prompt, params)
    assert result.depth_m.shape == (24, 32) and result.depth_m.dtype == np.float32
    assert result.camera == camera.scaled(32, 24)
    np.testing.assert_allclose(np.nanmedian(result.depth_m), 2.0, atol=0.1)
    far = apply_changes(params, {'max_depth': 1.0, 'min_depth': 0.1})
    masked = DepthPipeline(PlaneBackend()).predict(rgb, camera, prompt, far)
    assert np.isnan(masked.depth_m).all()


def test_pipeline_transforms_lidar_points_and_rejects_sparse_prompt():
    params = PerceptionParams(prompt_height=24, prompt_width=32)
    camera = _camera()
    T_cam_lidar = np.eye(4)
    T_cam_lidar[2, 3] = 1.0  # the LiDAR sits 1 m behind the camera: z_cam = z_lidar + 1
    prompt = prompt_from_points(_plane_points(1.0), T_cam_lidar, camera, params)
    assert 1.7 < prompt.stats.min_m < prompt.stats.max_m < 2.3  # lidar z: 0.75 .. 1.25 m
    with pytest.raises(PromptError):
        prompt_from_points(_plane_points(1.0)[:3], None, camera, params)
    with pytest.raises(InputError):
        prompt_from_points(np.zeros((5, 2), np.float32), None, camera, params)
    sparse = np.zeros((24, 32), np.float32)
    with pytest.raises(PromptError):
        prompt_from_depth(sparse, params)


def test_pipeline_rejects_size_mismatch():
    params = PerceptionParams(prompt_height=24, prompt_width=32)
    prompt = prompt_from_points(_plane_points(), None, _camera(), params)
    with pytest.raises(InputError, match='differs'):
        DepthPipeline(PlaneBackend()).predict(np.zeros((40, 64, 3), np.uint8), _camera(),
                                              prompt, params)


def test_cloud_arrays_decimation_range_and_rgb():
    camera = _camera()
    depth = np.full((48, 64), 3.0, np.float32)
    depth[0, 0] = np.nan
    rgb = np.full((48, 64, 3), 200, np.uint8)
    points, packed = cloud_arrays(depth, camera, rgb, decimation=2)
    assert points.shape == (24, 32, 3) and packed.shape == (24, 32)
    assert np.isnan(points[0, 0]).all()
    np.testing.assert_allclose(points[1:, 1:, 2], 3.0)
    limited, none = cloud_arrays(depth, camera, None, max_range=3.05)
    assert none is None
    corner = np.linalg.norm(limited[-1, -1])
    assert np.isnan(corner) and np.isfinite(limited[24, 32]).all()


# -- worker buffer and diagnostics ---------------------------------------------------------------
def test_latest_slot_replaces_waiting_item():
    slot = LatestSlot()
    assert slot.put(1) is None
    assert slot.put(2) == 1
    assert slot.take(0.1) == 2
    assert slot.take(0.01) is None
    result = []
    thread = threading.Thread(target=lambda: result.append(slot.take(5.0)))
    thread.start()
    slot.close()
    thread.join(5.0)
    assert result == [None]


def test_diagnostics_report_counts_and_warn_on_new_errors():
    stats = PerceptionStats()
    stats.set_state('active', 'plane')
    for _ in range(3):
        stats.image_received()
        stats.frame_done(0.05, 0.02, 0.1, 0.007, 0.75)
    before = stats.snapshot()
    stats.dropped(2)
    stats.error('bad_image', 'unsupported image encoding')
    snap = stats.snapshot()
    msg = diagnostic_array(snap, _header().stamp, 'promptda_perception', previous=before)
    values = diagnostic_values(msg)
    assert values['dropped_frames'] == '2' and values['errors.bad_image'] == '1'
    assert values['backend'] == 'plane' and float(values['latency_ms']) == pytest.approx(50.0)
    assert float(values['lidar_age_ms']) == pytest.approx(7.0)
    assert values['supported_fraction'] == '0.7500'
    assert msg.status[0].level == msg.status[0].WARN
    ok = diagnostic_array(snap, _header().stamp, 'n', previous=snap)
    assert ok.status[0].level == ok.status[0].OK
    # what the backend reports about itself (the starrygazer guard) is appended as it is
    sg = diagnostic_array(snap, _header().stamp, 'n', previous=snap,
                          backend_values={'starrygazer.fallbacks': '3'})
    assert diagnostic_values(sg)['starrygazer.fallbacks'] == '3'
    assert sg.status[0].level == sg.status[0].OK


def test_image_from_conversions_has_fast_array_data():
    msg = conversions.image_msg(np.zeros((3, 4), np.float32), '32FC1', _header())
    assert isinstance(msg, Image) and len(msg.data) == 48


# -- LiDAR pairing: the frame assembler and the message_filters path agree ----------------------
def _fake_message_filters():
    """A stand-in with the semantics of ros2/message_filters' Python SimpleFilter/Subscriber/Cache.

    Stamps are kept as rclpy Time (ROS clock, as ``Time.from_msg`` gives) so a query with another
    clock type fails as it does with the real package.
    """
    import types

    from rclpy.time import Time

    class SimpleFilter:
        def __init__(self):
            self.callbacks = []

        def registerCallback(self, cb, *args):
            self.callbacks.append((cb, args))

        def signalMessage(self, *msg):
            for cb, args in self.callbacks:
                cb(*(msg + args))

    class Subscriber(SimpleFilter):
        def __init__(self, *args, **kwargs):
            super().__init__()
            self.sub = args[0].create_subscription(*args[1:], self.signalMessage, **kwargs)

    class Cache(SimpleFilter):
        def __init__(self, f, cache_size=1):
            super().__init__()
            f.registerCallback(self.add)
            self.size, self.msgs, self.times = cache_size, [], []

        def add(self, msg):
            self.times.append(Time.from_msg(msg.header.stamp))
            self.msgs.append(msg)
            del self.msgs[:-self.size], self.times[:-self.size]
            self.signalMessage(msg)

        def getInterval(self, from_stamp, to_stamp):
            return [m for m, t in zip(self.msgs, self.times) if from_stamp <= t <= to_stamp]

    return types.SimpleNamespace(SimpleFilter=SimpleFilter, Subscriber=Subscriber, Cache=Cache)


def test_assembler_and_message_filters_cache_pair_the_same():
    """Sweeps kept by the frame assembler pair as through a message_filters Cache (stand-in)."""
    from rclpy.clock_type import ClockType
    from rclpy.time import Time

    from promptda_ros.core.assembly import FrameAssembler
    from promptda_ros.core.sync import match_filter_cache

    fake = _fake_message_filters()
    slop_ns = 50_000_000
    source = fake.SimpleFilter()
    cache = fake.Cache(source, cache_size=4)
    assembler = FrameAssembler(slop_ns, prompt_capacity=4, max_pending=100)
    assembler.add_camera_info(0, 'camera')
    stamps = [1_000_000_000, 1_100_000_000, 1_130_000_000, 1_200_000_000, 1_300_000_000,
              1_400_000_000]
    for stamp in stamps:
        msg = conversions.cloud_msg(np.zeros((1, 3), np.float32), _header(*divmod(stamp, 10**9)))
        source.signalMessage(msg)
        assembler.add_prompt(stamp, msg)

    def pair(query, slop=slop_ns):
        via_cache = match_filter_cache(
            cache, query, slop, lambda m: conversions.stamp_to_ns(m.header.stamp),
            lambda ns: Time(nanoseconds=ns, clock_type=ClockType.ROS_TIME))
        events = assembler.add_image(query, query)
        frames = [e.frame for e in events if e.kind == 'complete']
        assert (via_cache is None) == (not frames), query
        if via_cache is None:
            return None
        assert frames[-1].prompt is via_cache.item, query
        return via_cache.stamp_ns

    queries = [1_000_000_000, 1_115_000_000, 1_150_000_000, 1_250_000_000, 1_349_000_000,
               1_420_000_000, 1_460_000_000]
    paired = [pair(query) for query in queries]
    assert paired[3] == 1_300_000_000  # tie -> newer sweep
    assert paired[0] is None  # evicted (capacity 4)
    assembler.set_slop(10_000_000)
    assert pair(1_470_000_000, 10_000_000) is None


# -- one parameter-spec system for every node ---------------------------------------------------
def test_one_spec_system_read_only_unless_marked_and_frozen_params():
    import dataclasses

    from promptda_policy.ros.policy_node import POLICY_SPECS, PolicyParams
    from promptda_policy.ros.recorder_node import RECORDER_SPECS
    from promptda_ros.ros.params import changeable, params_class, ParamSpec

    for spec in (*PARAMETERS, *POLICY_SPECS, *RECORDER_SPECS):
        assert type(spec) is ParamSpec, spec.name  # one class, one default
    assert ParamSpec('x', 1.0, 'd').read_only
    assert not changeable(ParamSpec('x', 1.0, 'd'))[0].read_only
    ranged = ParamSpec('rate', 30.0, 'Hz', float_range=(1.0, 100.0))
    assert (ranged.low, ranged.high) == (1.0, 100.0)
    desc = descriptor(ranged)
    assert desc.read_only and desc.floating_point_range[0].to_value == 100.0
    assert not SPECS['slop_s'].read_only and SPECS['backend'].read_only
    by_name = {spec.name: spec for spec in POLICY_SPECS}
    assert not by_name['max_depth_age_s'].read_only and by_name['policy_path'].read_only
    params = PolicyParams.from_mapping({'control_rate_hz': 15.0, 'joint_names': ['a', 'b']})
    assert params['control_rate_hz'] == params.control_rate_hz == 15.0
    assert params.joint_names == ('a', 'b') and params.autostart is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.control_rate_hz = 1.0
    with pytest.raises(InputError, match='unknown'):
        PolicyParams.from_mapping({'no_such': 1})
    Demo = params_class('Demo', (ParamSpec('a', 1, 'n'),))
    assert Demo().as_dict() == {'a': 1}
