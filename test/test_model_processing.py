# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Pre/post-processing and the DepthEstimator runtime."""

import numpy as np
import pytest
import torch

from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.model import processing as pp
from promptda_ros.model.runtime import DepthEstimator, DeviceError, resolve_device

from test_model_helpers import load_case, loaded_network


def test_input_size_rules():
    assert pp.network_input_size((480, 640)) == (378, 504)
    assert pp.network_input_size((1440, 1920)) == (378, 504)
    assert pp.network_input_size((480, 640), long_side=1008) == (756, 1008)
    assert pp.network_input_size((720, 1280)) == (280, 504)
    assert pp.network_input_size((378, 504), 'native') == (378, 504)
    assert pp.network_input_size((480, 640), (196, 252)) == (196, 252)
    with pytest.raises(InputError, match='multiples of 14'):
        pp.network_input_size((480, 640), 'native')
    with pytest.raises(InputError, match='multiples of 14'):
        pp.network_input_size((480, 640), (480, 640))
    assert pp.parse_input_size('378x504') == (378, 504)
    assert pp.parse_input_size('native') == 'native'
    with pytest.raises(InputError, match='HxW'):
        pp.parse_input_size('378,504')


def test_image_normalisation_matches_official_and_names_channel_order():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (28, 42, 3), dtype=np.uint8)
    norm = pp.ImageNormaliser('cpu')
    x = norm(rgb, (28, 42), 'rgb8')
    mean = np.array([0.485, 0.456, 0.406]).reshape(3, 1, 1)
    std = np.array([0.229, 0.224, 0.225]).reshape(3, 1, 1)
    expected = (rgb.transpose(2, 0, 1) / 255.0 - mean) / std
    assert x.shape == (1, 3, 28, 42)
    assert np.abs(x[0].numpy() - expected).max() < 1e-5
    assert torch.equal(norm(np.ascontiguousarray(rgb[..., ::-1]), (28, 42), 'bgr8'), x)
    rgba = np.concatenate([rgb, np.full((28, 42, 1), 7, np.uint8)], axis=2)
    assert torch.equal(norm(rgba, (28, 42), 'rgba8'), x)
    # Resizing keeps a constant image constant (antialiased bilinear, no ringing).
    flat = np.full((480, 640, 3), 128, np.uint8)
    y = norm(flat, (378, 504))
    assert y.shape == (1, 3, 378, 504)
    assert float(y.std(dim=(2, 3)).max()) < 1e-5
    cubic = pp.ImageNormaliser('cpu', resample='bicubic')
    assert float(cubic(flat, (378, 504)).std(dim=(2, 3)).max()) < 1e-5
    noisy = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    a, b = norm(noisy, (378, 504)), cubic(noisy, (378, 504))
    assert 1e-3 < float((a - b).abs().max())
    assert float(b.min()) >= float(((0 - mean) / std).min()) - 1e-5  # clipped to [0, 1]
    with pytest.raises(InputError, match='resample must be one of'):
        pp.ImageNormaliser('cpu', resample='lanczos')
    with pytest.raises(InputError, match='uint8'):
        norm(rgb.astype(np.float32), (28, 42))
    with pytest.raises(InputError, match="unsupported colour encoding 'yuv'"):
        norm(rgb, (28, 42), 'yuv')
    with pytest.raises(InputError, match=r'\(H, W, 3\)'):
        norm(rgb[..., 0], (28, 42))


def test_prompt_preparation_fills_validates_and_accepts_constant():
    prompt = np.zeros((24, 32), np.float32)
    prompt[::3, ::3] = np.linspace(1.0, 3.0, prompt[::3, ::3].size).reshape(8, 11)
    filled, stats = pp.prepare_prompt(prompt)
    assert np.all(filled > 0) and stats.n_valid == 88
    assert np.array_equal(filled[::3, ::3], prompt[::3, ::3])
    constant = np.where(prompt > 0, 2.0, 0.0).astype(np.float32)
    filled_c, stats_c = pp.prepare_prompt(constant)
    assert stats_c.min_m == stats_c.max_m == 2.0
    # transformers' guard: the first row 1e-6 m higher (test_flat_prompt.py pins it).
    assert np.all(filled_c[1:] == 2.0) and np.all(filled_c[0] == np.float32(2.0 + 1e-6))
    with pytest.raises(PromptError, match='too few valid cells'):
        pp.prepare_prompt(np.where(np.arange(768).reshape(24, 32) < 5, 1.0, 0.0))
    with pytest.raises(PromptError, match='NaN'):
        pp.prepare_prompt(np.where(prompt > 0, prompt, np.nan))
    with pytest.raises(PromptError, match='too few valid cells'):
        pp.prepare_prompt(np.zeros((24, 32), np.float32))
    with pytest.raises(PromptError, match='holes'):
        pp.prepare_prompt(prompt, fill='none')


def test_postprocess_resizes_clamps_and_marks_invalid():
    depth = torch.tensor([[[1.0, 2.0], [float('nan'), 50.0]]])
    out = pp.postprocess_depth(depth, (2, 2), min_depth=0.5, max_depth=10.0)
    assert out.dtype == np.float32
    assert out[0, 0] == 1.0 and out[1, 1] == 10.0 and np.isnan(out[1, 0])
    big = pp.postprocess_depth(torch.full((1, 14, 14), 3.0), (480, 640))
    assert big.shape == (480, 640) and np.all(big == 3.0)


@pytest.fixture(scope='module')
def estimator(tmp_path_factory):
    return DepthEstimator(loaded_network(tmp_path_factory, 'vits'), input_size=(98, 126),
                          warmup=1)


def test_estimator_output_at_camera_resolution_without_nan(estimator):
    case = load_case('vits_case1')
    rgb = np.ascontiguousarray(np.repeat(np.repeat(case['image_rgb_uint8'], 2, 0), 2, 1)[:480])
    prompt = case['prompt_depth_m'].copy()
    prompt[::2, 1::2] = 0.0  # holes, filled before the network
    depth = estimator.predict(rgb, prompt)
    assert depth.shape == rgb.shape[:2] and depth.dtype == np.float32
    assert np.all(np.isfinite(depth))
    lo, hi = float(prompt[prompt > 0].min()), float(prompt.max())
    assert lo - 1e-4 <= float(depth.min()) and float(depth.max()) <= hi + 1e-4
    # A constant prompt gives that constant depth, not NaN.
    flat = estimator.predict(rgb, np.where(prompt > 0, 1.75, 0.0).astype(np.float32))
    assert np.all(np.isfinite(flat)) and np.allclose(flat, 1.75, atol=1e-6)


def test_estimator_clamps_to_configured_range(tmp_path_factory):
    est = DepthEstimator(loaded_network(tmp_path_factory, 'vits'), input_size=(98, 126),
                         warmup=0, processing=pp.ProcessingConfig(min_depth=1.5, max_depth=2.5,
                                                                  output_size=(60, 80)))
    case = load_case('vits_case0')
    depth = est.predict(case['image_rgb_uint8'], case['prompt_depth_m'])
    assert depth.shape == (60, 80)
    assert float(depth.min()) >= 1.5 and float(depth.max()) <= 2.5
    assert np.any(depth == 1.5) and np.any(depth == 2.5)


def test_device_and_precision_errors():
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match='CUDA is not available'):
            resolve_device('cuda')
    with pytest.raises(DeviceError, match='fp16 needs'):
        resolve_device('cpu', 'fp16')
    with pytest.raises(DeviceError, match='precision must be'):
        resolve_device('cpu', 'int8')
    with pytest.raises(DeviceError, match="'cpu' or 'cuda"):
        resolve_device('tpu')
    assert resolve_device('cpu', 'bf16').type == 'cpu'
