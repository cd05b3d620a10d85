# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The one frame pipeline: what promptda-eval scores is what the node publishes, bit for bit."""

import numpy as np
import pytest

from promptda_ros.backends import make_backend
from promptda_ros.bagio import read_frames
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.eval.dataset import open_input
from promptda_ros.eval.methods import MethodRunner
from promptda_ros.pipeline import (
    DEFAULT_FILL,
    DepthPipeline,
    lidar_prompt_grid,
    PipelineConfig,
    prompt_from_depth,
    prompt_from_points,
    unit_quaternion,
)
from promptda_ros.ros.params import PerceptionParams
from promptda_ros.ros.replay import read_depth_bag, replay_bag
from promptda_ros.sample.bag_writer import write_sample_bag
from promptda_ros.sample.scene import SampleConfig

DOMAIN_ID = 57
CAMERA = PinholeCamera.from_intrinsics(60.0, 60.0, 31.5, 23.5, 64, 48)


def _slanted_points() -> np.ndarray:
    """(N, 3) float32 metres: a plane z = 2 + 0.25 y in front of the camera."""
    xs, ys = np.meshgrid(np.linspace(-1.5, 1.5, 60), np.linspace(-1.0, 1.0, 40))
    return np.stack([xs.ravel(), ys.ravel(), 2.0 + 0.25 * ys.ravel()], 1).astype(np.float32)


def test_config_defaults_are_the_node_defaults_and_are_validated():
    config = PipelineConfig()
    assert config.prompt_fill == DEFAULT_FILL
    assert PerceptionParams().pipeline == config
    assert PerceptionParams(prompt_fill='knn', output_size=(24, 32)).pipeline == \
        PipelineConfig(prompt_fill='knn', output_size=(24, 32))
    for bad in ({'prompt_fill': 'magic'}, {'min_depth': 5.0, 'max_depth': 1.0},
                {'output_size': (0, 5)}, {'prompt_height': 0}):
        with pytest.raises(InputError):
            PipelineConfig(**bad)
    with pytest.raises(Exception, match='non-zero'):
        unit_quaternion([0.0, 0.0, 0.0, 0.0])


def test_points_and_depth_image_prompts_are_one_chain():
    """A LiDAR prompt is the projected grid put through the depth-image path, bit for bit."""
    config = PipelineConfig(prompt_height=24, prompt_width=32, max_depth=2.1)
    T = np.eye(4)
    T[0, 3] = 0.1
    grid = lidar_prompt_grid(_slanted_points(), T, CAMERA, config)
    assert grid.dtype == np.float32 and grid.shape == (24, 32)
    # Returns beyond max_depth stay in the grid; the prompt leaves them out and marks them.
    assert grid.max() > 2.1 and np.count_nonzero((grid > 0) & (grid <= 2.1)) > 16
    from_points = prompt_from_points(_slanted_points(), T, CAMERA, config)
    from_depth = prompt_from_depth(grid, config)
    assert from_points.filled_m.tobytes() == from_depth.filled_m.tobytes()
    in_range = np.where(grid <= 2.1, grid, np.float32(0.0))
    assert from_points.sparse_m.tobytes() == in_range.tobytes()
    np.testing.assert_array_equal(from_points.far_mask, grid > 2.1)
    with pytest.raises(PromptError):
        prompt_from_points(_slanted_points()[:3], None, CAMERA, config)


@pytest.fixture(scope='module')
def sample_bag(tmp_path_factory):
    """A 3-frame 128x96 sample: LiDAR in its own frame, extrinsics only in /tf_static."""
    path = tmp_path_factory.mktemp('pipeline') / 'sample'
    write_sample_bag(path, SampleConfig(seed=3, frames=3, width=128, height=96), progress=False)
    return path


@pytest.mark.parametrize('backend', ['default', 'bilinear'])
def test_eval_scores_exactly_the_depth_the_node_publishes(sample_bag, tmp_path, backend):
    """Node on a real rclpy graph (through promptda-replay) vs the promptda-eval method path."""
    stats = replay_bag(sample_bag, tmp_path / 'out', {'backend': backend, 'prompt_width': 64,
                                                      'prompt_height': 48},
                       progress=False, domain_id=DOMAIN_ID)
    assert stats.frames_out == 3 and stats.errors == 0
    published = read_depth_bag(tmp_path / 'out')
    assert len(published) == 3
    frames = list(open_input(str(sample_bag), prompt_hw=(48, 64)))
    assert [f.stamp_ns for f in frames] == sorted(published)
    runner = MethodRunner([backend])
    for frame in frames:
        preds, _times, errors = runner.run(frame)
        assert not errors
        scored = preds[backend]
        node = published[frame.stamp_ns]
        assert scored.dtype == node.dtype == np.float32 and scored.shape == node.shape
        assert np.isfinite(node).mean() > 0.5
        assert scored.tobytes() == node.tobytes(), (
            f'max |diff| {np.nanmax(np.abs(scored - node))} m')
    # The same frame through the pipeline directly (as the benchmarks and the demo call it).
    frame = next(read_frames(sample_bag))
    config = PipelineConfig(prompt_height=48, prompt_width=64)
    prompt = prompt_from_points(frame.points_lidar, frame.T_cam_lidar, frame.camera, config)
    pipeline = DepthPipeline(make_backend(backend))
    direct = pipeline.predict(frame.rgb, frame.camera, prompt, config).depth_m
    assert direct.tobytes() == published[frame.stamp_ns].tobytes()


@pytest.mark.parametrize('backend', ['default', 'bilinear'])
def test_eval_with_the_params_file_scores_the_published_depth(sample_bag, tmp_path, backend):
    """Non-default slop_s, depth range, fill and grid, read by node and evaluation alike."""
    from promptda_ros.eval.cli import node_settings
    from promptda_ros.ros.replay import load_params_file

    params_file = tmp_path / 'params.yaml'
    params_file.write_text(
        '/**/promptda_perception:\n  ros__parameters:\n'
        f'    backend: {backend}\n    slop_s: 0.012\n    lidar_cache_size: 3\n'
        '    min_depth: 0.8\n    max_depth: 3.5\n    prompt_fill: knn\n'
        '    prompt_height: 36\n    prompt_width: 48\n    support_radius_deg: 6.0\n')
    settings = node_settings(str(params_file))
    assert settings.pairing() == {'slop_s': 0.012, 'lidar_cache_size': 3}
    assert settings.pipeline == PerceptionParams.from_mapping(
        load_params_file(params_file)).pipeline
    stats = replay_bag(sample_bag, tmp_path / 'out', load_params_file(params_file),
                       progress=False, domain_id=DOMAIN_ID)
    assert stats.frames_out == 3 and stats.errors == 0
    published = read_depth_bag(tmp_path / 'out')
    frames = list(open_input(str(sample_bag), config=settings.pipeline,
                             pairing=settings.pairing()))
    assert [f.stamp_ns for f in frames] == sorted(published)
    runner = MethodRunner([backend], config=settings.pipeline)
    for frame in frames:
        preds, _times, errors = runner.run(frame)
        assert not errors
        node = published[frame.stamp_ns]
        assert np.nanmax(node) <= 3.5 and np.nanmin(node) >= 0.8  # the range is applied
        assert preds[backend].tobytes() == node.tobytes()
    # The defaults would score other depth: the test tells the settings apart.
    default = MethodRunner([backend]).run(frames[0])[0][backend]
    assert default.tobytes() != published[frames[0].stamp_ns].tobytes()


def test_bag_reader_pairs_by_the_node_rule():
    """The bag reader's nearest-stamp choice is the node's (core.sync), ties included."""
    from promptda_ros import bagio
    from promptda_ros.core.sync import NearestSweepCache

    rng = np.random.default_rng(4)
    stamps = np.unique(rng.integers(0, 2_000, 40) * 1_000_000).astype(np.int64)
    cache = NearestSweepCache(slop_ns=50_000_000, capacity=len(stamps))
    for stamp in stamps:
        cache.add(int(stamp), int(stamp))
    for query in [0, 5_000_000, *range(0, 2_100_000_000, 7_000_000)]:
        k = bagio._nearest(stamps, query, 50_000_000)
        match = cache.match(query)
        assert (k is None) == (match is None), query
        if k is not None:
            assert int(stamps[k]) == match.stamp_ns, query
