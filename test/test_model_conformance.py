# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Conformance to the official PromptDA code: same weights + same inputs -> same depth (1e-3 m)."""

import os

import numpy as np
import pytest
import torch

from promptda_ros.model.checkpoint import expected_official_shapes, manifest_shapes
from promptda_ros.model.config import ENCODERS
from promptda_ros.model.processing import ProcessingConfig
from promptda_ros.model.runtime import DepthEstimator

from test_model_helpers import (
    ARKIT,
    load_case,
    loaded_network,
    manifest_path,
    official_forward_inputs,
)

TOL_M = 1e-3
CASES = [('vits', 'vits_case0'), ('vits', 'vits_case1'),
         ('vits', 'vits_arkit_example_378x504'), ('vitb', 'vitb_case0'), ('vitl', 'vitl_case0')]


@pytest.mark.parametrize('encoder,case_name', CASES)
def test_official_checkpoint_reproduces_reference(tmp_path_factory, encoder, case_name):
    """An official model.ckpt read by the project loader gives the official output."""
    network = loaded_network(tmp_path_factory, encoder)
    assert network.spec.name == encoder  # inferred from the weights, not passed in
    case = load_case(case_name)
    pixels, prompt = official_forward_inputs(case)
    with torch.inference_mode():
        depth = network(pixels, prompt)[0].numpy()
    expected = case['expected_depth_m']
    assert depth.shape == expected.shape
    err = float(np.abs(depth - expected).max())
    assert err <= TOL_M, '%s: max abs diff %.6f m' % (case_name, err)
    if encoder == 'vitl':
        # 340M parameters: free this one once used.
        from test_model_helpers import _CACHE
        _CACHE.pop(('network', 'vitl'), None)


def test_estimator_pipeline_matches_reference_on_real_frame(tmp_path_factory):
    """DepthEstimator (uint8 in, metres out) equals the official forward on the ARKit frame."""
    case = load_case('vits_arkit_example_378x504')
    est = DepthEstimator(loaded_network(tmp_path_factory, 'vits'), input_size='native',
                         warmup=0)
    depth = est.predict(case['image_rgb_uint8'], case['prompt_depth_m'])
    assert depth.dtype == np.float32 and depth.shape == (378, 504)
    assert float(np.abs(depth - case['expected_depth_m']).max()) <= TOL_M
    # bgr8 input named as such gives the same result.
    bgr = np.ascontiguousarray(case['image_rgb_uint8'][..., ::-1])
    depth_bgr = est.predict(bgr, case['prompt_depth_m'], encoding='bgr8')
    assert float(np.abs(depth_bgr - depth).max()) < 1e-5
    assert set(est.last_timings) == {'pre', 'network', 'post'}


@pytest.mark.parametrize('encoder,count', [('vits', 25083073), ('vitb', 98656577),
                                           ('vitl', 340046529)])
def test_parameter_counts_match_official(encoder, count):
    """The manifests and the built network both hold the official number of parameters."""
    manifest = manifest_shapes(manifest_path(encoder))
    buffers = {'pipeline._mean', 'pipeline._std'}
    in_manifest = sum(int(np.prod(s)) for k, s in manifest.items() if k not in buffers)
    expected = expected_official_shapes(ENCODERS[encoder])
    in_network = sum(int(np.prod(s)) for k, s in expected.items() if k not in ('_mean', '_std'))
    assert in_manifest == count  # vits / vitl: the official code's counts; vitb: its manifest
    assert in_network == in_manifest
    assert {'pipeline.' + k: v for k, v in expected.items()} == manifest


def test_zeroed_fusion_makes_output_independent_of_prompt_shape(tmp_path_factory):
    """With the fusion branches' last convs zeroed, only the prompt's min/max matter."""
    from promptda_ros.model.checkpoint import network_from_state_dict
    base = loaded_network(tmp_path_factory, 'vits')
    state = base.hf_state_dict()
    network = network_from_state_dict(base.spec, {k: v.clone() for k, v in state.items()})
    for conv in network.fusion_output_convs():
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    case = load_case('vits_case0')
    pixels, prompt = official_forward_inputs(case)
    lo, hi = float(prompt.min()), float(prompt.max())
    # Same min / max, completely different spatial layout.
    other = lo + (hi - lo) * torch.rand(prompt.shape, generator=torch.Generator().manual_seed(0))
    other.view(-1)[0], other.view(-1)[1] = lo, hi
    with torch.inference_mode():
        a = network(pixels, prompt)
        b = network(pixels, other)
        # Control: the real fusion branches do react to the prompt layout.
        c = base(pixels, prompt)
        d = base(pixels, other)
        # Changing the range rescales the output affinely.
        e = network(pixels, prompt * 2.0)
    assert float((a - b).abs().max()) < 1e-5
    assert float((c - d).abs().max()) > 1e-3
    assert float((e - 2.0 * a).abs().max()) < 1e-4


# predicted_depth[0, :3, :3] of the real checkpoints on the ARKit pair at 756x1008, as checked by
# the transformers conversion of PromptDA (tolerance 5 mm).
REAL_WEIGHT_FIGURES = {
    'vits': [[3.0100, 3.0016, 3.0219], [3.0046, 3.0137, 3.0275], [3.0083, 3.0191, 3.0292]],
    'vitl': [[3.1336, 3.1358, 3.1363], [3.1368, 3.1267, 3.1414], [3.1397, 3.1385, 3.1448]],
}


@pytest.mark.parametrize('encoder', sorted(REAL_WEIGHT_FIGURES))
def test_real_weights_on_arkit_sample(encoder):
    """With real weights (set PROMPTDA_VITS_CHECKPOINT / PROMPTDA_VITL_CHECKPOINT)."""
    path = os.environ.get('PROMPTDA_%s_CHECKPOINT' % encoder.upper())
    if not path:
        pytest.skip('real %s weights not given (PROMPTDA_%s_CHECKPOINT)'
                    % (encoder, encoder.upper()))
    import cv2

    from promptda_ros.core.depth_io import load_depth
    est = DepthEstimator(path, encoder=encoder, input_size=(756, 1008), warmup=0,
                         processing=ProcessingConfig(resample='bicubic',
                                                     output_size=(756, 1008)))
    bgr = cv2.imread(os.path.join(ARKIT, 'image.jpg'), cv2.IMREAD_COLOR)
    depth = est.predict(bgr, load_depth(os.path.join(ARKIT, 'arkit_depth.png')), 'bgr8')
    expected = np.array(REAL_WEIGHT_FIGURES[encoder], dtype=np.float32)
    assert float(np.abs(depth[:3, :3] - expected).max()) <= 5e-3
