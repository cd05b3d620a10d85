# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Checkpoint formats, named converters, strict key checks and safe loading."""

import json
import os

import pytest
import torch

from promptda_ros.core.errors import CheckpointError
from promptda_ros.model import checkpoint as ck
from promptda_ros.model.config import ENCODERS

from test_model_helpers import (
    deterministic_state_dict,
    load_case,
    loaded_network,
    official_checkpoint,
    official_forward_inputs,
)


def _depth(network, case='vits_case0'):
    pixels, prompt = official_forward_inputs(load_case(case))
    with torch.inference_mode():
        return network(pixels, prompt)


class CodeCarrier:
    """A pickle payload that would create a directory when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_missing_checkpoint_names_the_path(tmp_path):
    path = str(tmp_path / 'nope' / 'model.ckpt')
    with pytest.raises(CheckpointError, match='not found: .*nope/model.ckpt'):
        ck.load_network(path)
    os.makedirs(tmp_path / 'hfdir')
    with pytest.raises(CheckpointError, match='config.json'):
        ck.load_network(str(tmp_path / 'hfdir'))


def test_pickle_carrying_code_is_refused_without_running_it(tmp_path):
    marker = str(tmp_path / 'code_ran')
    path = str(tmp_path / 'model.ckpt')
    torch.save({'state_dict': {'pipeline.x': torch.zeros(1)}, 'payload': CodeCarrier(marker)},
               path)
    with pytest.raises(CheckpointError, match='refusing to load .*model.ckpt'):
        ck.read_checkpoint(path)
    assert not os.path.exists(marker)
    # Control: an unsafe load of the same file does run the payload.
    torch.load(path, weights_only=False)
    assert os.path.isdir(marker)


def test_official_hf_official_round_trip_is_exact():
    official = ck.strip_official_prefix(deterministic_state_dict('vits'))
    spec = ck.infer_encoder(official)
    assert spec.name == 'vits'
    hf = ck.official_to_hf(official, spec)
    assert not any(k.startswith('pipeline.') or k.startswith('pretrained.') for k in hf)
    back = ck.hf_to_official(hf)
    assert set(back) == set(official)
    for key, value in official.items():
        assert torch.equal(back[key], value), key
    # Named key converters agree in both directions.
    assert ck.official_key_to_hf('depth_head.scratch.refinenet4.resConfUnit_depth.4.weight') == \
        ['neck.fusion_stage.layers.0.prompt_depth_layer.convolution3.weight']
    assert ck.hf_key_to_official('neck.convs.0.weight') == 'depth_head.scratch.layer1_rn.weight'
    assert ck.hf_key_to_official(
        'backbone.encoder.layer.3.attention.attention.key.bias') == \
        'pretrained.blocks.3.attn.qkv.bias'


@pytest.mark.parametrize('fmt', ['official', 'hf', 'safetensors'])
def test_every_format_loads_to_the_same_network(tmp_path_factory, tmp_path, fmt):
    reference = loaded_network(tmp_path_factory, 'vits')
    dst = str(tmp_path / ('out.safetensors' if fmt == 'safetensors' else 'out'))
    read = ck.convert_checkpoint(official_checkpoint(tmp_path_factory, 'vits'), dst, fmt)
    assert read.format == 'official' and read.spec.name == 'vits'
    assert ck.detect_format(dst) == fmt
    network = ck.load_network(dst)
    assert network.spec.name == 'vits'
    assert torch.equal(_depth(network), _depth(reference))


def test_hf_directory_is_readable_by_transformers_and_legacy_names(tmp_path_factory, tmp_path):
    from safetensors.torch import load_file, save_file
    from transformers import PromptDepthAnythingForDepthEstimation
    hf_dir = str(tmp_path / 'vits-hf')
    ck.convert_checkpoint(official_checkpoint(tmp_path_factory, 'vits'), hf_dir, 'hf')
    with open(os.path.join(hf_dir, 'config.json'), encoding='utf-8') as f:
        config = json.load(f)
    assert config['model_type'] == 'prompt_depth_anything'
    assert config['backbone_config']['hidden_size'] == 384
    model, info = PromptDepthAnythingForDepthEstimation.from_pretrained(
        hf_dir, output_loading_info=True)
    assert not info['missing_keys'] and not info['unexpected_keys']
    # transformers 4 wrote attention.attention.{query,key,value} / attention.output.dense.
    tensors = load_file(os.path.join(hf_dir, 'model.safetensors'))
    legacy = {}
    for key, value in tensors.items():
        key = key.replace('attention.q_proj', 'attention.attention.query')
        key = key.replace('attention.k_proj', 'attention.attention.key')
        key = key.replace('attention.v_proj', 'attention.attention.value')
        key = key.replace('attention.o_proj', 'attention.output.dense')
        legacy[key] = value
    save_file(legacy, os.path.join(hf_dir, 'model.safetensors'))
    network = ck.load_network(hf_dir)
    assert torch.equal(_depth(network), _depth(loaded_network(tmp_path_factory, 'vits')))


def _write(tmp_path, state, name='bad.ckpt'):
    path = str(tmp_path / name)
    torch.save({'state_dict': state}, path)
    return path


def test_checkpoint_without_prompt_fusion_lists_missing_keys(tmp_path):
    """A Depth-Anything-style checkpoint (no prompt fusion) is rejected, keys named."""
    state = {k: v for k, v in deterministic_state_dict('vits').items()
             if 'resConfUnit_depth' not in k}
    with pytest.raises(CheckpointError) as err:
        ck.read_checkpoint(_write(tmp_path, state))
    message = str(err.value)
    assert '24 missing' in message
    assert 'depth_head.scratch.refinenet1.resConfUnit_depth.0.bias' in message


def test_wrong_architecture_errors_name_the_keys(tmp_path):
    state = deterministic_state_dict('vits')
    extra = dict(state, **{'pipeline.depth_head.extra_conv.weight': torch.zeros(2, 2)})
    with pytest.raises(CheckpointError, match='depth_head.extra_conv.weight'):
        ck.read_checkpoint(_write(tmp_path, extra, 'extra.ckpt'))
    wrong = dict(state)
    wrong['pipeline.depth_head.scratch.output_conv1.weight'] = torch.zeros(16, 64, 3, 3)
    with pytest.raises(CheckpointError,
                       match=r'wrong shape: depth_head.scratch.output_conv1.weight '
                             r'\(16, 64, 3, 3\) \(expected \(32, 64, 3, 3\)\)'):
        ck.read_checkpoint(_write(tmp_path, wrong, 'wrong.ckpt'))
    with pytest.raises(CheckpointError, match='vits network .*not the requested vitl'):
        ck.read_checkpoint(_write(tmp_path, state, 'ok.ckpt'), encoder='vitl')
    truncated = {k: v for k, v in state.items() if '.blocks.11.' not in k}
    with pytest.raises(CheckpointError, match='12 blocks, but the checkpoint has 11'):
        ck.read_checkpoint(_write(tmp_path, truncated, 'short.ckpt'))
    mixed = dict(state, **{'stray.weight': torch.zeros(1)})
    with pytest.raises(CheckpointError, match="lack the official 'pipeline.' prefix: stray"):
        ck.read_checkpoint(_write(tmp_path, mixed, 'mixed.ckpt'))
    odd_mean = dict(state, **{'pipeline._mean': torch.zeros(1, 3, 1, 1)})
    with pytest.raises(CheckpointError, match='_mean is .*ImageNet'):
        ck.read_checkpoint(_write(tmp_path, odd_mean, 'mean.ckpt'))


def test_safetensors_metadata_is_checked(tmp_path_factory, tmp_path):
    from safetensors.torch import load_file, save_file
    path = str(tmp_path / 'm.safetensors')
    ck.convert_checkpoint(official_checkpoint(tmp_path_factory, 'vits'), path, 'safetensors')
    tensors = load_file(path)
    assert 'pretrained.blocks.0.attn.qkv.weight' in tensors  # official names, no prefix
    save_file(tensors, path, metadata={'format': 'promptda_ros', 'format_version': '1',
                                       'encoder': 'vitl'})
    with pytest.raises(CheckpointError, match="metadata says encoder 'vitl'"):
        ck.read_checkpoint(path)
    save_file(tensors, path, metadata={'format': 'promptda_ros', 'format_version': '9'})
    with pytest.raises(CheckpointError, match="format_version '9'"):
        ck.read_checkpoint(path)
    with open(path, 'wb') as f:
        f.write(b'not a safetensors file')
    with pytest.raises(CheckpointError, match='cannot read .*m.safetensors'):
        ck.read_checkpoint(path)


def test_unknown_format_and_expected_shapes():
    with pytest.raises(CheckpointError, match='unknown checkpoint format'):
        ck.save_checkpoint(ENCODERS['vits'], {}, 'x', 'onnx')
    shapes = ck.expected_official_shapes(ENCODERS['vitl'])
    assert shapes['pretrained.pos_embed'] == (1, 1370, 1024)
    assert shapes['pretrained.blocks.23.attn.qkv.weight'] == (3072, 1024)


@pytest.mark.parametrize('content', [b'not a checkpoint\n', b'\x89PNG\r\n\x1a\n'])
def test_non_torch_file_is_named_not_a_traceback(tmp_path, content):
    path = tmp_path / 'model.ckpt'
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match='model.ckpt is not a PyTorch checkpoint'):
        ck.read_checkpoint(str(path))


def test_corrupt_torch_archive_is_a_checkpoint_error(tmp_path):
    import zipfile
    path = str(tmp_path / 'model.ckpt')
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('a.txt', 'hi')  # a zip, but not a torch.save archive
    with pytest.raises(CheckpointError, match='cannot read .*model.ckpt as a torch checkpoint'):
        ck.read_checkpoint(path)
    good = str(tmp_path / 'good.ckpt')
    torch.save({'state_dict': {'pipeline.x': torch.zeros(4)}}, good)
    with open(good, 'rb') as f:
        head = f.read(200)
    with open(path, 'wb') as f:
        f.write(head)  # truncated
    with pytest.raises(CheckpointError, match='model.ckpt'):
        ck.read_checkpoint(path)


def test_directory_without_hf_files_says_what_it_needs(tmp_path):
    with pytest.raises(CheckpointError, match='config.json \\+ model.safetensors'):
        ck.read_checkpoint(str(tmp_path))


def test_convert_refuses_destinations_that_would_not_read_back(tmp_path_factory, tmp_path):
    src = official_checkpoint(tmp_path_factory, 'vits')
    (tmp_path / 'file.txt').write_text('x')
    cases = [(tmp_path / 'm.txt', 'safetensors', 'named \\*.safetensors'),
             (tmp_path / 'm.safetensors', 'official', 'read back as safetensors'),
             (tmp_path / 'file.txt', 'hf', 'existing file'),
             (tmp_path, 'official', 'is a directory'),
             (tmp_path / 'nope' / 'm.ckpt', 'official', 'folder .*nope does not exist')]
    for dst, fmt, needle in cases:
        with pytest.raises(CheckpointError, match=needle):
            ck.convert_checkpoint(src, str(dst), fmt)
    assert sorted(os.listdir(tmp_path)) == ['file.txt']


def test_convert_write_failure_is_a_checkpoint_error(tmp_path_factory, tmp_path, monkeypatch):
    from safetensors import SafetensorError
    src = official_checkpoint(tmp_path_factory, 'vits')

    def fail(*_args, **_kwargs):
        raise SafetensorError('Error while serializing: I/O error')

    monkeypatch.setattr('safetensors.torch.save_file', fail)
    with pytest.raises(CheckpointError, match='cannot write .*m.safetensors: Error while'):
        ck.convert_checkpoint(src, str(tmp_path / 'm.safetensors'), 'safetensors')
