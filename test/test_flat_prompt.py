# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""A flat wall (a constant prompt) is valid input: every backend gives depth for it.

16UC1 quantises a wall at 2 m to exactly 2000 mm in every cell. The weights-free backends
return that depth as it is; the network path raises the first row by 1e-6 m exactly as
transformers' PromptDepthAnythingImageProcessor does, and leaves any prompt with a non-zero
range (however tiny) to the official min/max rule.
"""

import numpy as np
import pytest
import torch
from transformers import PromptDepthAnythingImageProcessorPil

from promptda_ros.backends import make_backend
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.prompt import validate_prompt
from promptda_ros.model.config import TINY
from promptda_ros.model.hf_adapter import PromptDANetwork
from promptda_ros.model.processing import (
    CONSTANT_PROMPT_EPS_M,
    guard_constant_prompt,
    prepare_prompt,
)
from promptda_ros.model.runtime import DepthEstimator
from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_points

WALL_MM = 2000


def _wall():
    """(48, 64, 3) uint8 image, (12, 16) float32 prompt: every 2nd cell 2000 mm, others 0."""
    rgb = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    prompt = np.zeros((12, 16), np.float32)
    prompt[::2, ::2] = np.uint16(WALL_MM) / np.float32(1000.0)
    return rgb, prompt


@pytest.fixture(scope='module')
def network():
    """A tiny PromptDA with every weight random (the prompt branches included), fixed seed."""
    torch.manual_seed(7)
    net = PromptDANetwork(TINY)
    with torch.no_grad():
        for param in net.parameters():
            param.normal_(0.0, 0.05)
    return net.eval()


def test_a_flat_wall_is_a_valid_prompt():
    _, prompt = _wall()
    stats = validate_prompt(prompt)
    assert stats.min_m == stats.max_m == 2.0 and stats.n_valid == 48


@pytest.mark.parametrize('name', ['default', 'bilinear'])
def test_a_lidar_sweep_of_a_flat_wall_gives_depth_through_the_pipeline(name):
    """What the node and promptda-eval run: LiDAR points -> prompt -> backend -> depth."""
    camera = PinholeCamera.from_intrinsics(60.0, 60.0, 32.0, 24.0, 64, 48)
    xs, ys = np.meshgrid(np.linspace(-1.5, 1.5, 80), np.linspace(-1.2, 1.2, 60))
    wall = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 2.0)], 1).astype(np.float32)
    config = PipelineConfig(prompt_height=12, prompt_width=16)
    prompt = prompt_from_points(wall, None, camera, config)
    assert prompt.stats.min_m == prompt.stats.max_m == 2.0
    rgb = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    result = DepthPipeline(make_backend(name)).predict(rgb, camera, prompt, config)
    assert np.all(result.depth_m == np.float32(2.0)), np.unique(result.depth_m)


@pytest.mark.parametrize('name', ['default', 'bilinear'])
def test_weights_free_backends_return_the_wall_as_it_is(name):
    rgb, prompt = _wall()
    depth = make_backend(name).predict(rgb, prompt)
    assert depth.shape == (48, 64) and np.all(depth == np.float32(2.0)), np.unique(depth)


def test_guard_matches_transformers_processor_and_leaves_ranges_alone():
    _, prompt = _wall()
    dense = np.full_like(prompt, 2.0)
    processor = PromptDepthAnythingImageProcessorPil()
    mm = np.full(prompt.shape, WALL_MM, np.uint16)
    theirs = processor(images=np.zeros((48, 64, 3), np.uint8), prompt_depth=mm,
                       return_tensors='pt')['prompt_depth'][0, 0].numpy()
    ours = guard_constant_prompt(dense)
    assert np.array_equal(ours, theirs) and np.all(dense == 2.0)  # input untouched
    assert float(ours.max() - ours.min()) == pytest.approx(CONSTANT_PROMPT_EPS_M, rel=0.05)
    tiny = dense.copy()
    tiny[5, 7] = np.nextafter(np.float32(2.0), np.float32(3.0))  # one float32 step: a range
    assert np.array_equal(guard_constant_prompt(tiny), tiny)
    far = np.full((3, 4), 100.0, np.float32)  # 1e-6 m is below float32 resolution at 100 m
    assert float(guard_constant_prompt(far).max()) > 100.0
    filled, stats = prepare_prompt(prompt)
    assert stats.min_m == stats.max_m == 2.0
    assert np.array_equal(filled, ours)


def test_network_follows_the_official_rule_on_tiny_ranges(network):
    """PromptDANetwork == transformers' forward (the official min/max rule) for span > 0."""
    pixels = torch.randn(1, 3, 56, 70, generator=torch.Generator().manual_seed(1))
    results = []
    for span in (1e-3, 1e-5, 2.4e-7):
        prompt = torch.full((1, 1, 12, 16), 2.0)
        prompt[0, 0, 5, 7] += span
        assert float(prompt.max() - prompt.min()) > 0
        with torch.inference_mode():
            ours = network(pixels, prompt)
            official = network.hf(pixels, prompt_depth=prompt).predicted_depth
        assert torch.isfinite(ours).all()
        assert torch.allclose(ours, official, rtol=0.0, atol=1e-6)
        results.append(ours)
    # The prompt branch is live: the same range at another cell changes the output.
    here, there = torch.full((2, 1, 12, 16), 2.0).unbind(0)
    here[0, 5, 7] += 1.0
    there[0, 0, 0] += 1.0
    with torch.inference_mode():
        change = network(pixels, here[None]) - network(pixels, there[None])
    assert float(change.abs().max()) > 1e-5  # 3e-5 m here, 100x float32 noise at 2 m
    flat = torch.full((1, 1, 12, 16), 2.0)
    with torch.inference_mode():
        official_flat = network.hf(pixels, prompt_depth=flat).predicted_depth
    assert torch.isnan(official_flat).all()  # what the unguarded official rule gives


def test_estimator_gives_the_wall_depth(network):
    rgb, prompt = _wall()
    estimator = DepthEstimator(network, input_size=(56, 70), warmup=0)
    depth = estimator.predict(rgb, prompt)
    assert depth.shape == (48, 64) and np.all(np.isfinite(depth))
    # Exactly what transformers' processor + forward give on the guarded prompt, i.e. the wall
    # plus at most 1e-6 m times the network's relative output.
    assert float(np.abs(depth - 2.0).max()) <= 2e-6
