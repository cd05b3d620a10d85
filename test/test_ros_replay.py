# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Replay of a small bag through the perception node (real rclpy graph) into an output bag."""

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, Writer
from rosbags.typesys import get_typestore, Stores
from sensor_msgs.msg import Image

from promptda_ros.core import msg_codec
from promptda_ros.core.errors import InputError
from promptda_ros.core.transforms import matrix_to_quat
from promptda_ros.ros import conversions
from promptda_ros.ros.replay import load_params_file, main, replay_bag, static_extrinsics_from_bag
from promptda_ros.sample.scene import SampleGenerator

DOMAIN_ID = 72
FRAMES = 5
GEN = SampleGenerator(frames=FRAMES, width=128, height=96, seed=5)


def _tf(store, parent: str, child: str, T: np.ndarray, stamp_ns: int):
    types = store.types
    Time = types['builtin_interfaces/msg/Time']
    sec, nanosec = divmod(stamp_ns, 10**9)
    q = matrix_to_quat(T[:3, :3])
    return types['geometry_msgs/msg/TransformStamped'](
        header=types['std_msgs/msg/Header'](stamp=Time(sec=sec, nanosec=nanosec),
                                            frame_id=parent),
        child_frame_id=child,
        transform=types['geometry_msgs/msg/Transform'](
            translation=types['geometry_msgs/msg/Vector3'](x=T[0, 3], y=T[1, 3], z=T[2, 3]),
            rotation=types['geometry_msgs/msg/Quaternion'](x=q[0], y=q[1], z=q[2], w=q[3])))


@pytest.fixture(scope='module')
def sample_bag(tmp_path_factory):
    """A rosbag2 with camera, camera_info, LiDAR (own frame) and /tf_static base->lidar/camera."""
    path = tmp_path_factory.mktemp('replay') / 'sample'
    store = get_typestore(Stores.ROS2_JAZZY)
    T_base_cam = np.eye(4)
    T_base_cam[:3, 3] = [0.1, 0.0, 0.5]
    T_base_cam[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]  # optical frame: z forward
    T_base_lidar = T_base_cam @ GEN.T_cam_lidar
    t0 = GEN.frame(0).stamp_ns
    with Writer(path, version=8) as writer:
        conns = {topic: writer.add_connection(topic, msgtype, typestore=store)
                 for topic, msgtype in
                 (('/tf_static', 'tf2_msgs/msg/TFMessage'),
                  ('/camera/image_raw', 'sensor_msgs/msg/Image'),
                  ('/camera/camera_info', 'sensor_msgs/msg/CameraInfo'),
                  ('/lidar/points', 'sensor_msgs/msg/PointCloud2'))}
        tf_msg = store.types['tf2_msgs/msg/TFMessage'](transforms=[
            _tf(store, 'base_link', 'camera_optical_frame', T_base_cam, t0),
            _tf(store, 'base_link', 'lidar', T_base_lidar, t0)])
        writer.write(conns['/tf_static'], t0, store.serialize_cdr(tf_msg,
                                                                  'tf2_msgs/msg/TFMessage'))
        for frame in GEN.frames():
            header = conversions.copy_header(type('H', (), {
                'stamp': conversions.ns_to_stamp(frame.stamp_ns),
                'frame_id': 'camera_optical_frame'})())
            lidar_header = conversions.copy_header(type('H', (), {
                'stamp': conversions.ns_to_stamp(frame.lidar_stamp_ns), 'frame_id': 'lidar'})())
            writer.write(conns['/camera/camera_info'], frame.stamp_ns, serialize_message(
                conversions.camera_info_msg(GEN.camera, header)))
            writer.write(conns['/camera/image_raw'], frame.stamp_ns, serialize_message(
                conversions.image_msg(frame.rgb, 'rgb8', header)))
            writer.write(conns['/lidar/points'], frame.lidar_stamp_ns, serialize_message(
                conversions.cloud_msg(frame.points_lidar, lidar_header)))
    return path


def test_extrinsics_are_chained_from_tf_static(sample_bag):
    with Reader(sample_bag) as reader:
        T = static_extrinsics_from_bag(reader, 'camera_optical_frame', 'lidar')
        assert static_extrinsics_from_bag(reader, 'camera_optical_frame', 'elsewhere') is None
    np.testing.assert_allclose(T, GEN.T_cam_lidar, atol=1e-9)


def test_replay_writes_one_depth_per_input_frame(sample_bag, tmp_path):
    out = tmp_path / 'out'
    stats = replay_bag(sample_bag, out, {},
                       record_points=True, progress=False, domain_id=DOMAIN_ID)
    assert stats.frames_in == FRAMES and stats.frames_out == FRAMES
    assert stats.dropped == 0 and stats.errors == 0 and stats.timeouts == 0
    assert stats.mean_latency_ms > 0 and stats.hz > 0
    with Reader(out) as reader:
        topics = {c.topic: c for c in reader.connections}
        assert topics['/promptda/depth/image'].msgcount == FRAMES
        assert topics['/promptda/depth/camera_info'].msgcount == FRAMES
        assert topics['/promptda/depth/points'].msgcount == FRAMES
        depth_conn = [topics['/promptda/depth/image']]
        stamps = []
        for _c, t_ns, raw in reader.messages(connections=depth_conn):
            msg = deserialize_message(raw, Image)
            stamps.append(conversions.stamp_to_ns(msg.header.stamp))
            assert t_ns == stamps[-1]
            frame = GEN.frame(len(stamps) - 1)
            depth = msg_codec.image_to_array(msg)
            valid = np.isfinite(depth) & np.isfinite(frame.depth_gt_m)
            assert np.median(np.abs(depth[valid] - frame.depth_gt_m[valid])) < 0.05
    assert stamps == [GEN.frame(i).stamp_ns for i in range(FRAMES)]


def test_replay_errors_name_the_problem(sample_bag, tmp_path):
    with pytest.raises(InputError, match='does not exist'):
        replay_bag(tmp_path / 'missing', tmp_path / 'o', progress=False, domain_id=DOMAIN_ID)
    with pytest.raises(InputError, match='exists already'):
        replay_bag(sample_bag, sample_bag, progress=False, domain_id=DOMAIN_ID)
    with pytest.raises(InputError, match='/nope'):
        replay_bag(sample_bag, tmp_path / 'o', image_topic='/nope', progress=False,
                   domain_id=DOMAIN_ID)
    with pytest.raises(InputError, match='unknown perception parameter'):
        replay_bag(sample_bag, tmp_path / 'o', {'slop': 1}, progress=False, domain_id=DOMAIN_ID)
    (tmp_path / 'not_a_bag').mkdir()
    with pytest.raises(InputError, match='not a rosbag2 bag'):
        replay_bag(tmp_path / 'not_a_bag', tmp_path / 'o', progress=False, domain_id=DOMAIN_ID)
    with pytest.raises(InputError, match='timeout must be > 0'):
        replay_bag(sample_bag, tmp_path / 'o', timeout_s=-5.0, progress=False,
                   domain_id=DOMAIN_ID)
    with pytest.raises(InputError, match="unknown backend 'magic'; available: .*default"):
        replay_bag(sample_bag, tmp_path / 'o', {'backend': 'magic'}, progress=False,
                   domain_id=DOMAIN_ID)
    with pytest.raises(InputError, match="'promptda' needs a checkpoint"):
        replay_bag(sample_bag, tmp_path / 'o', {'backend': 'promptda'}, progress=False,
                   domain_id=DOMAIN_ID)
    # rclpy's range / type checks surface as InputError, not as a ParameterException traceback
    with pytest.raises(InputError, match='parameter.*max_depth.*refused'):
        replay_bag(sample_bag, tmp_path / 'o', {'max_depth': -3.0}, progress=False,
                   domain_id=DOMAIN_ID)
    assert not (tmp_path / 'o').exists()


def test_cli_reports_errors_and_reads_params_file(sample_bag, tmp_path, capsys):
    assert main([str(tmp_path / 'missing'), '--out', str(tmp_path / 'o'), '--no-progress']) == 1
    assert capsys.readouterr().err.startswith('error: ')
    params = load_params_file('config/perception.yaml')
    assert params['backend'] == 'default' and params['slop_s'] == 0.05
    bad = tmp_path / 'bad.yaml'
    bad.write_text('other_node:\n  ros__parameters: {a: 1}\n')
    with pytest.raises(InputError, match='promptda_perception'):
        load_params_file(bad)
    with pytest.raises(InputError, match='params file .*missing.yaml does not exist'):
        load_params_file(tmp_path / 'missing.yaml')
    binary = tmp_path / 'binary.yaml'
    binary.write_bytes(b'\x80\x02\xff')
    with pytest.raises(InputError, match='binary.yaml: not a ROS 2 parameters YAML file'):
        load_params_file(binary)
    assert main([str(sample_bag), '--out', str(tmp_path / 'o'), '--set', 'slop_s=abc',
                 '--no-progress']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: parameter slop_s refused') and 'DOUBLE' in err
    assert 'Traceback' not in err


def test_realtime_replay_accounts_for_every_frame(sample_bag, tmp_path):
    stats = replay_bag(sample_bag, tmp_path / 'rt', {},
                       realtime=True, rate=2.0, copy_inputs=True, progress=False,
                       domain_id=DOMAIN_ID)
    assert stats.frames_in == FRAMES and stats.frames_out > 0
    assert stats.frames_out + stats.dropped + stats.unpaired + stats.errors == FRAMES
    with Reader(tmp_path / 'rt') as reader:
        topics = {c.topic: c.msgcount for c in reader.connections}
    assert topics['/camera/image_raw'] == FRAMES and topics['/tf_static'] == 1
    assert topics['/promptda/depth/image'] == stats.frames_out


@pytest.mark.parametrize('storage, prompt_source',
                         [('sqlite3', 'points'), ('mcap', 'depth_image')])
def test_replay_of_the_generated_sample_bag(tmp_path, storage, prompt_source):
    from promptda_ros.bagio import read_frames
    from promptda_ros.sample.bag_writer import write_sample_bag
    from promptda_ros.sample.scene import SampleConfig
    bag = write_sample_bag(tmp_path / 'sample', SampleConfig(frames=4, width=160, height=120),
                           progress=False, storage=storage)
    out = tmp_path / 'out'
    stats = replay_bag(bag, out, {'prompt_source': prompt_source}, progress=False,
                       domain_id=DOMAIN_ID)
    assert (stats.frames_in, stats.frames_out, stats.errors) == (4, 4, 0)
    truth = {f.stamp_ns: f.depth_gt_m for f in read_frames(bag)}
    with Reader(out) as reader:
        conns = [c for c in reader.connections if c.topic == '/promptda/depth/image']
        for _c, _t, raw in reader.messages(connections=conns):
            msg = deserialize_message(raw, Image)
            gt = truth.pop(conversions.stamp_to_ns(msg.header.stamp))
            depth = msg_codec.image_to_array(msg)
            valid = np.isfinite(depth) & np.isfinite(gt)
            assert np.median(np.abs(depth[valid] - gt[valid])) < 0.05
    assert not truth


def test_cli_replays_with_overrides(sample_bag, tmp_path, capsys):
    code = main([str(sample_bag), '--out', str(tmp_path / 'cli'), '--params',
                 'config/perception.yaml', '--set', 'backend=bilinear', '--set',
                 'output_size=[48, 64]', '--no-progress'])
    assert code == 0
    assert f'depth out {FRAMES}' in capsys.readouterr().out
    with Reader(tmp_path / 'cli') as reader:
        conns = [c for c in reader.connections if c.topic == '/promptda/depth/image']
        messages = [deserialize_message(raw, Image)
                    for _c, _t, raw in reader.messages(connections=conns)]
    sizes = {(m.height, m.width) for m in messages}
    assert sizes == {(48, 64)} and len(messages) == FRAMES
    assert main([str(sample_bag), '--out', str(tmp_path / 'x'), '--set', 'slop']) == 1
    assert 'NAME=VALUE' in capsys.readouterr().err
