# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Tiny networks, and Depth Anything V2 weights as the starting point of PromptDA training."""

import copy
import re
import types

import pytest
import torch
from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

from promptda_ros.core.errors import CheckpointError
from promptda_ros.model import checkpoint as ck
from promptda_ros.model.config import custom_spec, ENCODERS, TINY
from promptda_ros.model.hf_adapter import _official_interpolate_pos_encoding, PromptDANetwork

from test_model_helpers import manifest

FUSION = re.compile(r'depth_head\.scratch\.refinenet[1-4]\.resConfUnit_depth\.')


def test_tiny_spec_round_trips_through_safetensors_and_hf(tmp_path):
    torch.manual_seed(0)
    net = PromptDANetwork(TINY)
    state = net.hf_state_dict()
    assert sum(v.numel() for v in state.values()) < 300_000
    for fmt, name in (('safetensors', 'tiny.safetensors'), ('hf', 'tiny_hf')):
        path = str(tmp_path / name)
        ck.save_checkpoint(TINY, state, path, fmt)
        back = ck.read_checkpoint(path)
        assert back.spec == TINY
        assert all(torch.equal(back.hf_state_dict[k], state[k]) for k in state)
    with pytest.raises(CheckpointError, match='official format holds only'):
        ck.save_checkpoint(TINY, state, str(tmp_path / 'model.ckpt'), 'official')
    with pytest.raises(CheckpointError, match='tiny network .*not the requested vits'):
        ck.read_checkpoint(str(tmp_path / 'tiny.safetensors'), encoder='vits')
    other = custom_spec(48, 4, 3, 16, (8, 16, 32, 48))
    ck.save_checkpoint(other, PromptDANetwork(other).hf_state_dict(),
                       str(tmp_path / 'other.safetensors'), 'safetensors')
    assert ck.read_checkpoint(str(tmp_path / 'other.safetensors')).spec == other
    with pytest.raises(CheckpointError, match='custom network'):
        ck.read_checkpoint(str(tmp_path / 'other.safetensors'), encoder=TINY)


def test_custom_spec_is_validated():
    assert custom_spec(64, 8, 4, 32, (8, 16, 32, 64)).intermediate_layers == (1, 3, 5, 7)
    with pytest.raises(CheckpointError, match='divisible'):
        custom_spec(30, 4, 4, 16, (8, 16, 32, 32))
    with pytest.raises(CheckpointError, match='increasing'):
        custom_spec(32, 4, 2, 16, (8, 16, 32, 32), (0, 2, 1, 3))
    with pytest.raises(CheckpointError, match='>= 4 blocks'):
        custom_spec(32, 2, 2, 16, (8, 16, 32, 32))
    with pytest.raises(CheckpointError, match='reserved'):
        custom_spec(32, 4, 2, 16, (8, 16, 32, 32), name='vits')


def test_depth_anything_v2_official_keys_are_promptda_minus_fusion():
    """The official DA-V2 layout: the official PromptDA keys without fusion branches / buffers."""
    promptda = {k[len('pipeline.'):]: tuple(s) for k, s in manifest('vits')}
    expected = {k: s for k, s in promptda.items()
                if not FUSION.match(k) and k not in ('_mean', '_std')}
    assert ck.expected_depth_anything_shapes(ENCODERS['vits']) == expected
    assert len(promptda) - len(expected) == 4 * 6 + 2


def _tiny_depth_anything():
    """A random-weight tiny Depth Anything V2 built with transformers' own classes."""
    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                            mlp_ratio=4, patch_size=14, image_size=518, layerscale_value=1.0,
                            out_indices=[1, 2, 3, 4], apply_layernorm=True,
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32,
                                 neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                                 depth_estimation_type='relative')
    torch.manual_seed(1)
    model = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _official_positions(model):
    """Resize position embeddings as the project does (checked by the conformance tests)."""
    emb = model.backbone.embeddings
    emb.interpolate_pos_encoding = types.MethodType(_official_interpolate_pos_encoding, emb)
    return model


def _conv3_output(model, run):
    """Run ``run()`` and return what ``model.head.conv3`` produced (before the activation)."""
    seen = []
    handle = model.head.conv3.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    try:
        with torch.no_grad():
            run()
    finally:
        handle.remove()
    return seen[0]


@pytest.fixture(scope='module')
def da2_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp('da2')
    model = _tiny_depth_anything()
    hf_dir = str(folder / 'depth-anything-v2-tiny-hf')
    model.save_pretrained(hf_dir)
    # The official .pth: a plain state dict under the official key names.
    official = {k: v for k, v in ck.hf_to_official(model.state_dict()).items()
                if k not in ('_mean', '_std')}
    pth = str(folder / 'depth_anything_v2_tiny.pth')
    torch.save(official, pth)
    return model, hf_dir, pth, official


def test_depth_anything_v2_pth_names_are_official(da2_files):
    _, _, _, official = da2_files
    vits = {k[len('pipeline.'):] for k, _ in manifest('vits')}
    # The same names as the official vits layout, restricted to the tiny net's 4 blocks.
    blocks = re.compile(r'pretrained\.blocks\.(\d+)\.')
    want = {k for k in vits if not FUSION.match(k) and k not in ('_mean', '_std')
            and not (blocks.match(k) and int(blocks.match(k).group(1)) >= 4)}
    assert set(official) == want


def test_depth_anything_v2_loads_tensor_by_tensor(da2_files):
    ref, hf_dir, pth, _ = da2_files
    expected = ref.state_dict()
    x = torch.randn(1, 3, 56, 70, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = _official_positions(copy.deepcopy(ref))(pixel_values=x).predicted_depth
    for path, kw in ((hf_dir, {}), (pth, {'encoder': TINY})):
        model = ck.load_depth_anything_v2(path, **kw)
        assert type(model).__name__ == 'DepthAnythingForDepthEstimation' and not model.training
        got = model.state_dict()
        assert set(got) == set(expected)
        for key, value in expected.items():
            assert torch.equal(got[key], value), key
        with torch.no_grad():
            torch.testing.assert_close(model(pixel_values=x).predicted_depth, want)


def test_promptda_starts_from_depth_anything_v2(da2_files):
    ref, hf_dir, pth, _ = da2_files
    ref = _official_positions(copy.deepcopy(ref))
    x = torch.randn(1, 3, 56, 70, generator=torch.Generator().manual_seed(3))
    prompt = torch.rand(1, 1, 12, 16, generator=torch.Generator().manual_seed(4)) * 3 + 1
    for path, kw in ((pth, {'encoder': TINY}), (hf_dir, {})):
        start = ck.read_start_checkpoint(path, **kw)
        assert start.spec == TINY and start.format in ck.DA_FORMATS
        net = ck.network_from_state_dict(start.spec, start.hf_state_dict)
        for key, value in ref.state_dict().items():
            assert torch.equal(start.hf_state_dict[key], value), key
        for conv in net.fusion_output_convs():
            assert not conv.weight.any() and not conv.bias.any()
        for branch in net.fusion_branches():
            assert branch.convolution1.weight.abs().sum() > 0
        # Zero last convs: with a prompt, the decoder computes what Depth Anything V2 computes.
        ours = _conv3_output(net.hf, lambda: net(x, prompt))
        theirs = _conv3_output(ref, lambda: ref(pixel_values=x))
        torch.testing.assert_close(ours, theirs)
    again = ck.read_start_checkpoint(pth, encoder=TINY)
    assert all(torch.equal(again.hf_state_dict[k], start.hf_state_dict[k])
               for k in start.hf_state_dict)


def test_depth_anything_v2_bad_inputs(da2_files, tmp_path):
    _, hf_dir, pth, official = da2_files
    net = PromptDANetwork(TINY)
    promptda = ck.hf_to_official(net.hf_state_dict())
    path = str(tmp_path / 'promptda.pth')
    torch.save(promptda, path)
    with pytest.raises(CheckpointError, match='PromptDA network .*not Depth Anything V2'):
        ck.read_depth_anything_v2(path, encoder=TINY)
    # read_start_checkpoint takes it as the PromptDA network it is (infers vits? no: width 32)
    with pytest.raises(CheckpointError, match='embedding width 32'):
        ck.read_start_checkpoint(path)
    broken = dict(official)
    broken.pop('depth_head.scratch.output_conv1.weight')
    torch.save(broken, str(tmp_path / 'broken.pth'))
    with pytest.raises(CheckpointError, match='missing: depth_head.scratch.output_conv1.weight'):
        ck.read_depth_anything_v2(str(tmp_path / 'broken.pth'), encoder=TINY)
    with pytest.raises(CheckpointError, match='embedding width 32'):
        ck.read_depth_anything_v2(pth)
    folder = str(tmp_path / 'promptda_hf')
    ck.save_checkpoint(TINY, net.hf_state_dict(), folder, 'hf')
    with pytest.raises(CheckpointError, match="model_type is 'prompt_depth_anything'"):
        ck.read_depth_anything_v2(folder)
    with pytest.raises(CheckpointError, match='not found'):
        ck.load_depth_anything_v2(str(tmp_path / 'missing.pth'))
