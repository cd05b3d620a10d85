# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The perception node end to end with the real PromptDA network backend (ViT-S checkpoint).

The checkpoint is an official-format ``model.ckpt`` with the deterministic conformance weights
(test_model_helpers); the depth is not accurate with such weights, but PromptDA's head is a
sigmoid mapped into [prompt min, prompt max], so every output pixel must lie in that range.
"""

import numpy as np
import pytest
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import Image

from promptda_ros.bagio import read_frames
from promptda_ros.core import msg_codec
from promptda_ros.core.errors import InputError
from promptda_ros.core.transforms import transform_points
from promptda_ros.ros import conversions
from promptda_ros.ros.perception_node import PerceptionNode
from promptda_ros.ros.replay import replay_bag
from promptda_ros.sample.bag_writer import write_sample_bag
from promptda_ros.sample.scene import SampleConfig

from test_model_helpers import official_checkpoint

DOMAIN_ID = 63
FRAMES = 2
WIDTH, HEIGHT = 320, 240
INPUT_SIZE = [126, 168]  # network input (h, w), multiples of 14
MIN_DEPTH, MAX_DEPTH = 0.1, 20.0  # the node's default valid depth range, metres


@pytest.fixture(scope='module')
def sample_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp('promptda_node') / 'sample'
    return write_sample_bag(path, SampleConfig(frames=FRAMES, width=WIDTH, height=HEIGHT),
                            progress=False)


def _prompt_range(frame) -> tuple:
    """Depth range (m) of the in-view LiDAR returns the node can put into ``frame``'s prompt."""
    pts = transform_points(frame.T_cam_lidar, frame.points_lidar.astype(np.float64))
    uv, z = frame.camera.project(pts)
    with np.errstate(invalid='ignore'):
        keep = ((z > MIN_DEPTH) & (z <= MAX_DEPTH) & (uv[:, 0] >= 0)
                & (uv[:, 0] < frame.camera.width) & (uv[:, 1] >= 0)
                & (uv[:, 1] < frame.camera.height))
    assert np.count_nonzero(keep) > 100
    return float(z[keep].min()), float(z[keep].max())


def test_replay_through_the_promptda_network(sample_bag, tmp_path, tmp_path_factory):
    """2 frames through node + ViT-S: one 32FC1 depth per frame, in the prompt's depth range."""
    checkpoint = official_checkpoint(tmp_path_factory, 'vits')
    out = tmp_path / 'out'
    stats = replay_bag(sample_bag, out, {'backend': 'promptda', 'checkpoint': checkpoint,
                                         'input_size': INPUT_SIZE},
                       progress=False, domain_id=DOMAIN_ID, timeout_s=20.0)
    assert (stats.frames_in, stats.frames_out) == (FRAMES, FRAMES)
    assert stats.errors == 0 and stats.dropped == 0 and stats.timeouts == 0
    assert stats.mean_network_ms > 0  # the network ran (and was timed) in the node

    frames = {f.stamp_ns: f for f in read_frames(sample_bag)}
    assert len(frames) == FRAMES
    stamps = []
    with Reader(out) as reader:
        conns = [c for c in reader.connections if c.topic == '/promptda/depth/image']
        assert len(conns) == 1 and conns[0].msgcount == FRAMES
        for _c, t_ns, raw in reader.messages(connections=conns):
            msg = deserialize_message(raw, Image)
            stamp = conversions.stamp_to_ns(msg.header.stamp)
            assert t_ns == stamp
            stamps.append(stamp)
            assert msg.encoding == '32FC1'
            assert (msg.height, msg.width) == (HEIGHT, WIDTH)
            depth = msg_codec.image_to_array(msg)
            assert depth.dtype == np.float32 and depth.shape == (HEIGHT, WIDTH)
            finite = np.isfinite(depth)
            assert finite.mean() > 0.9, 'only %.1f %% finite' % (100 * finite.mean())
            lo, hi = _prompt_range(frames[stamp])
            values = depth[finite]
            assert values.min() >= lo - 1e-3 * lo and values.max() <= hi + 1e-3 * hi, \
                'depth %.3f..%.3f m outside the prompt range %.3f..%.3f m' % (
                    values.min(), values.max(), lo, hi)
            assert values.max() - values.min() > 0.05  # not a constant map
    assert stamps == sorted(frames)


def test_configure_fails_naming_a_missing_checkpoint(tmp_path):
    """A checkpoint path that does not exist: configure fails and the reason names the path."""
    missing = str(tmp_path / 'no_such' / 'model.ckpt')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    try:
        node = PerceptionNode(context=context, parameter_overrides=[
            rclpy.parameter.Parameter('autostart', value=False),
            rclpy.parameter.Parameter('backend', value='promptda'),
            rclpy.parameter.Parameter('checkpoint', value=missing)])
        try:
            assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
            assert node.stats.snapshot().state == 'unconfigured'
            assert 'checkpoint not found' in node.configure_error
            assert missing in node.configure_error
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_replay_error_names_the_configure_failure(sample_bag, tmp_path):
    """replay_bag raises with the node's configure reason, not just 'see the log'."""
    missing = str(tmp_path / 'missing.ckpt')
    with pytest.raises(InputError, match='checkpoint not found.*missing.ckpt'):
        replay_bag(sample_bag, tmp_path / 'out', {'backend': 'promptda', 'checkpoint': missing},
                   progress=False, domain_id=DOMAIN_ID)
    assert not (tmp_path / 'out').exists()
