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
