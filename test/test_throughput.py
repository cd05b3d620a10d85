# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Throughput work that must not change a single output value."""

import numpy as np

from promptda_ros.backends import make_backend
from promptda_ros.core.prompt import fill_morphological, fill_prompt
from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_points
from promptda_ros.sample.scene import SampleGenerator

GEN = SampleGenerator(frames=2, width=160, height=120, seed=5)


def _prompt(config: PipelineConfig, index: int = 0):
    frame = GEN.frame(index)
    return frame, prompt_from_points(frame.points_lidar, GEN.T_cam_lidar, GEN.camera, config)


def test_the_prompt_is_filled_only_when_asked():
    config = PipelineConfig(prompt_height=60, prompt_width=80)
    frame, prompt = _prompt(config)
    DepthPipeline(make_backend('default')).predict(frame.rgb, GEN.camera, prompt, config)
    assert 'filled_m' not in prompt.__dict__  # the default backend fills on its own
    expected = fill_morphological(prompt.sparse_m, max_depth=max(100.0, 2.0 * prompt.stats.max_m))
    assert prompt.filled_m.dtype == np.float32
    assert prompt.filled_m.tobytes() == expected.astype(np.float32).tobytes()
    assert prompt.filled_m is prompt.filled_m  # computed once
    knn_config = PipelineConfig(prompt_height=60, prompt_width=80, prompt_fill='knn')
    frame, knn = _prompt(knn_config)
    DepthPipeline(make_backend('bilinear')).predict(frame.rgb, GEN.camera, knn, knn_config)
    assert 'filled_m' in knn.__dict__  # bilinear needs the filled grid
    assert knn.filled_m.tobytes() == \
        np.asarray(fill_prompt(knn.sparse_m, 'knn'), np.float32).tobytes()
