# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Precision modes: bf16 / fp16 against fp32 on the conformance vectors, fp32 islands, 'auto'."""

import numpy as np
import pytest
import torch

from promptda_ros.model.runtime import (
    AUTO_PRECISION,
    DepthEstimator,
    PRECISION_CHOICES,
    resolve_precision,
)

from test_model_helpers import load_case, loaded_network, official_forward_inputs

TOL_M = 1e-2  # the target of a reduced-precision mode against fp32, max over the image
CASES = ('vits_case0', 'vits_case1')


def _forward(network, case_name, dtype=None):
    pixels, prompt = official_forward_inputs(load_case(case_name))
    with torch.inference_mode(), torch.autocast('cpu', dtype=dtype or torch.bfloat16,
                                                enabled=dtype is not None):
        return network(pixels, prompt)


@pytest.mark.parametrize('case_name', CASES)
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16], ids=['bf16', 'fp16'])
def test_reduced_precision_within_1cm_of_fp32(tmp_path_factory, case_name, dtype):
    """Autocast to bf16 / fp16 stays within 1e-2 m of fp32 (and of the official output)."""
    network = loaded_network(tmp_path_factory, 'vits')
    fp32 = _forward(network, case_name)
    low = _forward(network, case_name, dtype)
    assert low.dtype == torch.float32
    err = float((low - fp32).abs().max())
    assert 0.0 < err <= TOL_M, '%s %s: %.4f m' % (case_name, dtype, err)
    official = torch.from_numpy(load_case(case_name)['expected_depth_m'])
    assert float((low[0] - official).abs().max()) <= TOL_M + 1e-3


def test_only_the_vit_blocks_run_in_reduced_precision(tmp_path_factory):
    """Under bf16 autocast: patch embedding, prompt fusion and head in fp32, ViT linears bf16."""
    network = loaded_network(tmp_path_factory, 'vits')
    hf = network.hf
    watched = {
        'patch_embedding': hf.backbone.embeddings.patch_embeddings.projection,
        'vit_mlp': hf.backbone.encoder.layer[0].mlp.fc1,
        'prompt_branch': network.fusion_branches()[0].convolution1,
        'neck_conv': hf.neck.convs[0],
        'head_out': hf.head.conv3,
    }
    seen = {}

    def record(name):
        def hook(_module, _inputs, output):
            seen.setdefault(name, output.dtype)
        return hook
    hooks = [m.register_forward_hook(record(name)) for name, m in watched.items()]
    try:
        _forward(network, 'vits_case0', torch.bfloat16)
    finally:
        for hook in hooks:
            hook.remove()
    assert seen == {'patch_embedding': torch.float32, 'vit_mlp': torch.bfloat16,
                    'prompt_branch': torch.float32, 'neck_conv': torch.float32,
                    'head_out': torch.float32}


def test_whole_network_autocast_would_miss_the_target(tmp_path_factory):
    """Control: autocast inside the decoder too (no fp32 islands) is further than 1e-2 m off."""
    network = loaded_network(tmp_path_factory, 'vits')
    pixels, prompt = official_forward_inputs(load_case('vits_case0'))
    spec, hf = network.spec, network.hf
    patch_h, patch_w = pixels.shape[2] // spec.patch_size, pixels.shape[3] // spec.patch_size
    with torch.inference_mode():
        fp32 = network(pixels, prompt)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            features = hf.backbone(pixels).feature_maps
            lo, hi = prompt.min(), prompt.max()
            hidden = hf.neck(list(features), patch_h, patch_w,
                             prompt_depth=(prompt - lo) / (hi - lo))
            whole = hf.head(hidden, patch_h, patch_w).float() * (hi - lo) + lo
    assert float((whole - fp32).abs().max()) > TOL_M


def test_estimator_bf16_and_auto(tmp_path_factory):
    """DepthEstimator: bf16 within 1e-2 m of fp32 on the real frame; 'auto' is fp32 on the CPU."""
    network = loaded_network(tmp_path_factory, 'vits')
    case = load_case('vits_arkit_example_378x504')
    auto = DepthEstimator(network, input_size='native', warmup=0)
    assert auto.precision == 'fp32' == AUTO_PRECISION['cpu']
    bf16 = DepthEstimator(network, input_size='native', precision='bf16', warmup=0)
    assert bf16.precision == 'bf16'
    a = auto.predict(case['image_rgb_uint8'], case['prompt_depth_m'])
    b = bf16.predict(case['image_rgb_uint8'], case['prompt_depth_m'])
    assert b.dtype == np.float32 and np.all(np.isfinite(b))
    assert 0.0 < float(np.abs(a - b).max()) <= TOL_M


def test_resolve_precision():
    assert PRECISION_CHOICES == ('auto', 'fp32', 'fp16', 'bf16')
    assert resolve_precision('auto', torch.device('cuda')) == 'fp16'
    assert resolve_precision('auto', 'cpu') == 'fp32'
    assert resolve_precision('bf16', 'cpu') == 'bf16'


def test_node_parameter_offers_the_same_precisions():
    from promptda_ros.ros.params import PerceptionParams, PRECISIONS
    assert PRECISIONS == PRECISION_CHOICES
    assert PerceptionParams().precision == 'auto'
    assert PerceptionParams(backend='promptda', precision='bf16').backend_options()[
        'precision'] == 'bf16'
