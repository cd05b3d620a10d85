# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Sample bag written by write_sample_bag / promptda-make-sample and read back by bagio."""

import numpy as np
import pytest
from rosbags.rosbag2 import Reader, Writer
from rosbags.typesys import get_typestore, Stores

from promptda_ros.bagio import bag_topics, read_frames
from promptda_ros.core.errors import InputError
from promptda_ros.sample.bag_writer import write_sample_bag
from promptda_ros.sample.cli import main as make_sample_main
from promptda_ros.sample.scene import SampleConfig, SampleGenerator

CONFIG = SampleConfig(seed=4, frames=3, width=160, height=120)


@pytest.fixture(scope='module')
def bag(tmp_path_factory):
    return write_sample_bag(tmp_path_factory.mktemp('bag') / 'sample', CONFIG, progress=False)


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_round_trip_recovers_stamps_frames_extrinsics(bag, tmp_path, storage):
    path = bag if storage == 'sqlite3' else write_sample_bag(tmp_path / 'm', CONFIG, False,
                                                             storage='mcap')
    gen = SampleGenerator(CONFIG)
    topics = bag_topics(path)
    assert topics['/lidar/points'] == 'sensor_msgs/msg/PointCloud2'
    assert topics['/tf_static'] == 'tf2_msgs/msg/TFMessage'
    frames = list(read_frames(path))
    assert len(frames) == CONFIG.frames
    for fr in frames:
        ref = gen.frame(fr.index)
        assert fr.stamp_ns == ref.stamp_ns and fr.lidar_stamp_ns == ref.lidar_stamp_ns
        assert fr.camera_frame == 'camera_optical_frame' and fr.lidar_frame == 'lidar'
        assert np.array_equal(fr.rgb, ref.rgb)
        assert np.array_equal(fr.points_lidar, ref.points_lidar)
        np.testing.assert_allclose(fr.depth_gt_m, ref.depth_gt_m)
        np.testing.assert_allclose(fr.T_cam_lidar, gen.T_cam_lidar, atol=1e-9)
        np.testing.assert_allclose(fr.T_world_cam, gen.T_world_cam(fr.stamp_ns), atol=1e-9)
        np.testing.assert_allclose(fr.camera.K, gen.camera.K)
        assert fr.prompt_depth_m.shape == (192, 256) and np.any(fr.prompt_depth_m > 0)


def test_small_slop_drops_the_offset_sweep(bag):
    frames = list(read_frames(bag, slop_s=0.005))  # LiDAR is 7 ms after the camera
    assert all(fr.points_lidar is None and fr.lidar_stamp_ns is None for fr in frames)


def test_missing_topics_raise_named_errors(bag, tmp_path):
    with pytest.raises(InputError, match='/cam/nothing'):
        list(read_frames(bag, image_topic='/cam/nothing'))
    with pytest.raises(InputError, match='does not exist'):
        list(read_frames(tmp_path / 'none'))
    (tmp_path / 'not_a_bag').mkdir()
    with pytest.raises(InputError, match='not_a_bag is not a rosbag2 bag: .* no metadata.yaml'):
        list(read_frames(tmp_path / 'not_a_bag'))
    (tmp_path / 'notes.txt').write_text('x')
    with pytest.raises(InputError, match='notes.txt is not a rosbag2 bag: .*.db3 / .mcap'):
        bag_topics(tmp_path / 'notes.txt')
    # A bag with images only: camera_info is required.
    store = get_typestore(Stores.ROS2_JAZZY)
    only = tmp_path / 'only_image'
    with Reader(bag) as reader, Writer(only, version=8) as writer:
        conns = [c for c in reader.connections if c.topic == '/camera/image_raw']
        out = writer.add_connection('/camera/image_raw', 'sensor_msgs/msg/Image',
                                    typestore=store)
        for _c, t, raw in reader.messages(connections=conns):
            writer.write(out, t, raw)
    with pytest.raises(InputError, match='camera_info'):
        list(read_frames(only))
    with pytest.raises(InputError, match='LiDAR topic'):
        list(read_frames(bag, lidar_topic='/nope', require_lidar=True))


def test_cli_writes_bag_and_refuses_existing(tmp_path, capsys):
    out = tmp_path / 'cli_bag'
    assert make_sample_main(['--out', str(out), '--seed', '1', '--frames', '2', '--width',
                             '64', '--height', '48', '--quiet']) == 0
    assert len(list(read_frames(out))) == 2
    assert make_sample_main(['--out', str(out), '--quiet']) == 1
    assert 'error:' in capsys.readouterr().err
    assert make_sample_main(['--out', str(tmp_path / 'x'), '--frames', '0']) == 1


def test_pairs_in_recording_order_as_the_node_does(tmp_path):
    """Sweeps recorded 1 s late: the first images overflow the node's wait, as in the node.

    The bag reader feeds the recording order to the node's frame assembler: an image waits
    for its sweep while at most MAX_PENDING_IMAGES wait, so the three oldest images of seven
    are left without LiDAR (a reader that looked ahead in the file would pair them all); the
    prompt depth images, recorded on time, pair with every image.
    """
    from promptda_ros.core.assembly import MAX_PENDING_IMAGES

    config = SampleConfig(seed=2, frames=MAX_PENDING_IMAGES + 3, width=64, height=48)
    source = write_sample_bag(tmp_path / 'on_time', config, progress=False)
    late = tmp_path / 'late_sweeps'
    with Reader(source) as reader, Writer(late, version=8) as writer:
        conns = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=get_typestore(
            Stores.ROS2_JAZZY)) for c in reader.connections}
        for conn, t, raw in reader.messages():
            delay = 10**9 if conn.topic == '/lidar/points' else 0
            writer.write(conns[conn.id], t + delay, raw)
    on_time = list(read_frames(source))
    frames = list(read_frames(late))
    assert [f.stamp_ns for f in frames] == [f.stamp_ns for f in on_time]
    assert all(f.lidar_stamp_ns is not None for f in on_time)
    assert [f.lidar_stamp_ns is None for f in frames] == [True] * 3 + [False] * (len(frames) - 3)
    assert [f.lidar_stamp_ns for f in frames[3:]] == [f.lidar_stamp_ns for f in on_time[3:]]
    assert all(f.prompt_depth_m is not None for f in frames)
