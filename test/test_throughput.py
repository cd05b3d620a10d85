# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Throughput work that must not change a single output value."""

from concurrent.futures import ThreadPoolExecutor
import math
import pickle

import numpy as np
import pytest

from promptda_ros.backends import make_backend
from promptda_ros.backends.default import DefaultBackend, domain_transform_nc
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
    expected = fill_prompt(prompt.sparse_m, 'pyramid')
    assert prompt.filled_m.dtype == np.float32
    assert prompt.filled_m.tobytes() == expected.astype(np.float32).tobytes()
    assert prompt.filled_m is prompt.filled_m  # computed once
    morph_config = PipelineConfig(prompt_height=60, prompt_width=80, prompt_fill='morph')
    frame, morph = _prompt(morph_config)
    DepthPipeline(make_backend('bilinear')).predict(frame.rgb, GEN.camera, morph, morph_config)
    assert 'filled_m' in morph.__dict__  # bilinear needs the filled grid
    expected = fill_morphological(morph.sparse_m, max_depth=max(100.0, 2.0 * morph.stats.max_m))
    assert morph.filled_m.tobytes() == expected.astype(np.float32).tobytes()


def _reference_box_pass(signal, ct, radius):
    """The straightforward pass the default backend is pinned against: (n, m, C) layout."""
    n, m, C = signal.shape
    reach = min(m - 1, int(math.floor(radius)))
    left = np.zeros((n, m), np.int64)
    right = np.zeros((n, m), np.int64)
    for k in range(1, reach + 1):
        inside = (ct[:, k:] - ct[:, :-k]) <= radius
        left[:, k:] += inside
        right[:, :-k] += inside
    cs = np.zeros((n, m + 1, C), np.float64)
    np.cumsum(signal, axis=1, out=cs[:, 1:])
    base = (np.arange(n) * (m + 1))[:, None] + np.arange(m)[None, :]
    flat = cs.reshape(n * (m + 1), C)
    return (np.take(flat, (base + right + 1).ravel(), axis=0)
            - np.take(flat, (base - left).ravel(), axis=0)).reshape(n, m, C)


def _reference_domain_transform_nc(guide, signal, sigma_s, sigma_r, iterations):
    ratio = sigma_s / sigma_r
    gx = np.abs(np.diff(guide, axis=1)).sum(axis=-1, dtype=np.float64)
    gy = np.abs(np.diff(guide, axis=0)).sum(axis=-1, dtype=np.float64)

    def coords(step):
        ct = np.zeros((step.shape[0], step.shape[1] + 1), np.float64)
        np.cumsum(step, axis=1, out=ct[:, 1:])
        return ct

    ct_x, ct_y = coords(1.0 + ratio * gx), coords(1.0 + ratio * gy.T)
    out = np.asarray(signal, dtype=np.float64)
    for i in range(iterations):
        sigma_i = sigma_s * math.sqrt(3.0) * 2.0 ** (iterations - i - 1) \
            / math.sqrt(4.0 ** iterations - 1.0)
        radius = sigma_i * math.sqrt(3.0)
        out = _reference_box_pass(out, ct_x, radius)
        out = _reference_box_pass(np.ascontiguousarray(out.transpose(1, 0, 2)), ct_y, radius)
        out = np.ascontiguousarray(out.transpose(1, 0, 2))
    return out


@pytest.mark.parametrize('shape, sigma_s, sigma_r', [((240, 320), 5.0, 0.15),
                                                     ((120, 160), 5.0, 0.45),
                                                     ((61, 33), 40.0, 0.15), ((1, 5), 5.0, 0.15),
                                                     ((7, 2), 5.0, 0.15)])
def test_domain_transform_is_bit_identical_to_the_reference(shape, sigma_s, sigma_r):
    rng = np.random.default_rng(shape[0])
    guide = rng.integers(0, 256, (*shape, 3), dtype=np.uint8).astype(np.float32) \
        * np.float32(1.0 / 255.0)
    signal = np.stack([rng.random(shape) * 5.0, (rng.random(shape) < 0.1) * 1.0], axis=-1)
    reference = _reference_domain_transform_nc(guide, signal, sigma_s, sigma_r, 3)
    with ThreadPoolExecutor(1) as pool:
        for helper in (None, pool):  # one thread, or each pass's rows split over two
            out = domain_transform_nc(guide, signal, sigma_s, sigma_r, 3, helper)
            assert out.shape == reference.shape and out.dtype == np.float64
            assert out.tobytes() == reference.tobytes()


def test_default_backend_gives_the_same_depth_on_one_or_two_threads():
    config = PipelineConfig()
    gen = SampleGenerator(frames=2, width=640, height=480, seed=7)
    one, two = DefaultBackend(threads=1), DefaultBackend(threads=2)
    for index in range(2):
        frame = gen.frame(index)
        prompt = prompt_from_points(frame.points_lidar, gen.T_cam_lidar, gen.camera, config)
        a = one.predict(frame.rgb, prompt.sparse_m, gen.camera)
        b = two.predict(frame.rgb, prompt.sparse_m, gen.camera)
        assert a.tobytes() == b.tobytes()
    copied = pickle.loads(pickle.dumps(two))  # the helper thread is not part of its state
    assert copied.predict(frame.rgb, prompt.sparse_m, gen.camera).tobytes() == a.tobytes()
    with pytest.raises(Exception, match='threads'):
        DefaultBackend(threads=3)
