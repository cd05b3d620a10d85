# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The perception node serves 'starrygazer' depth on a real rclpy graph.

Relative depth comes from the PromptDA ViT-S network run without a prompt (official-format
checkpoint with the deterministic conformance weights, test_model_helpers), refined by tiny
refinement weights; the node's depth must equal the backend's output on the same frame offline.
"""

import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import Image

from promptda_ros.backends import make_backend
from promptda_ros.core import msg_codec
from promptda_ros.core.errors import InputError
from promptda_ros.eval.dataset import read_bag
from promptda_ros.ros import conversions
from promptda_ros.ros.replay import replay_bag

from test_adapt_helpers import tiny_sample, tiny_weights
from test_model_helpers import official_checkpoint

DOMAIN_ID = 67
INPUT_SIZE = [42, 56]  # PromptDA network input (h, w), multiples of 14


def test_node_serves_starrygazer_depth(tmp_path_factory, tmp_path):
    bag = tiny_sample(tmp_path_factory, seed=8, frames=2, width=128, height=96)
    vits = official_checkpoint(tmp_path_factory, 'vits')
    params = {'backend': 'starrygazer', 'checkpoint': tiny_weights(tmp_path / 'sg.safetensors'),
              'relative_source': 'promptda_noprompt', 'relative_checkpoint': vits,
              'input_size': INPUT_SIZE}
    stats = replay_bag(bag, tmp_path / 'out', params, progress=False, domain_id=DOMAIN_ID,
                       timeout_s=30.0)
    assert (stats.frames_in, stats.frames_out) == (2, 2)
    assert stats.errors == 0 and stats.dropped == 0

    offline = make_backend('starrygazer', checkpoint=params['checkpoint'],
                           relative_source='promptda_noprompt', relative_checkpoint=vits,
                           input_size=INPUT_SIZE)
    frames = {f.stamp_ns: f for f in read_bag(bag)}
    with Reader(tmp_path / 'out') as reader:
        conns = [c for c in reader.connections if c.topic == '/promptda/depth/image']
        assert len(conns) == 1 and conns[0].msgcount == 2
        for _c, _t, raw in reader.messages(connections=conns):
            msg = deserialize_message(raw, Image)
            depth = msg_codec.image_to_array(msg)
            assert msg.encoding == '32FC1' and depth.shape == (96, 128)
            finite = np.isfinite(depth)
            assert finite.mean() > 0.95
            fr = frames[conversions.stamp_to_ns(msg.header.stamp)]
            ref = offline.predict(fr.rgb, fr.prompt_m, fr.camera)
            both = finite & np.isfinite(ref)
            assert both.mean() > 0.95
            assert np.allclose(depth[both], ref[both], rtol=1e-3, atol=1e-3)
            assert 0.3 < np.median(depth[finite]) < 15.0


def test_replay_refuses_starrygazer_without_relative_source(tmp_path_factory, tmp_path):
    bag = tiny_sample(tmp_path_factory, seed=8, frames=2, width=128, height=96)
    with pytest.raises(InputError, match='no relative source configured'):
        replay_bag(bag, tmp_path / 'out', {'backend': 'starrygazer',
                                           'checkpoint': tiny_weights(tmp_path / 'w')},
                   progress=False, domain_id=DOMAIN_ID)
