# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""ONNX export parity, the TensorRT message, the CLIs on the real ARKit sample, the backend."""

import os
import sys

import numpy as np
import pytest

from promptda_ros.core.errors import CheckpointError, InputError
from promptda_ros.model import cli, export

from test_model_helpers import ARKIT, load_case, loaded_network, official_checkpoint


def test_onnx_export_matches_torch_with_onnxruntime(tmp_path_factory, tmp_path, capsys):
    import onnx
    ckpt = official_checkpoint(tmp_path_factory, 'vits')
    out = str(tmp_path / 'promptda_vits.onnx')
    code = cli.export_main(['--checkpoint', ckpt, '--out', out, '--input-size', '98x126',
                            '--prompt-size', '24x32'])
    assert code == 0, capsys.readouterr().err
    assert 'onnxruntime vs torch max diff' in capsys.readouterr().out
    model = onnx.load(out, load_external_data=False)
    assert max(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')) >= 17
    assert [i.name for i in model.graph.input] == ['image', 'prompt']
    ops = {n.op_type for n in model.graph.node}
    assert 'ReduceMin' in ops and 'ReduceMax' in ops
    # Independent parity check on other inputs, and through the module API.
    err = export.onnx_parity(loaded_network(tmp_path_factory, 'vits'), out, (98, 126), (24, 32),
                             seed=7)
    assert err <= 1e-3


def test_export_rejects_old_opset_and_bad_sizes(tmp_path_factory, tmp_path, capsys):
    network = loaded_network(tmp_path_factory, 'vits')
    with pytest.raises(export.ExportError, match='opset must be >= 17'):
        export.export_onnx(network, str(tmp_path / 'm.onnx'), (98, 126), (24, 32), opset=13)
    code = cli.export_main(['--checkpoint', 'x.ckpt', '--out', str(tmp_path / 'm.onnx'),
                            '--input-size', '100x126'])
    assert code == 1 and 'multiples of 14' in capsys.readouterr().err


@pytest.mark.parametrize('argv, needle', [
    (['--out', 'm.txt'], 'must end with .onnx'),
    (['--out', 'm.onnx', '--format', 'tensorrt'], 'TensorRT engine'),
    (['--out', 'm.onnx', '--tolerance', '-1'], '--tolerance must be > 0'),
    (['--out', 'm.onnx', '--tolerance', 'nan'], '--tolerance must be > 0')])
def test_export_rejects_bad_out_and_tolerance_before_loading(tmp_path, capsys, argv, needle):
    code = cli.export_main(['--checkpoint', str(tmp_path / 'missing.ckpt')] + argv)
    err = capsys.readouterr().err
    assert code == 1 and needle in err and len(err.strip().splitlines()) == 1


def test_tensorrt_missing_gives_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'tensorrt', None)  # makes `import tensorrt` fail
    assert not export.tensorrt_available()
    code = cli.export_main(['--checkpoint', 'unused.ckpt', '--format', 'tensorrt',
                            '--out', str(tmp_path / 'm.engine')])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith('error: TensorRT is not installed')
    assert 'trtexec --onnx=' in err and len(err.strip().splitlines()) == 1
    with pytest.raises(export.ExportError, match='TensorRT is not installed'):
        export.build_tensorrt_engine(str(tmp_path / 'm.onnx'), str(tmp_path / 'm.engine'))


def test_depth_cli_on_the_real_arkit_sample(tmp_path_factory, tmp_path, capsys):
    ckpt = official_checkpoint(tmp_path_factory, 'vits')
    out = str(tmp_path / 'depth.npy')
    png = str(tmp_path / 'depth.png')
    code = cli.depth_main(['--image', os.path.join(ARKIT, 'image.jpg'),
                           '--prompt', os.path.join(ARKIT, 'arkit_depth.png'),
                           '--checkpoint', ckpt, '--out', out, '--png', png])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert 'network input 378x504' in printed.out
    depth = np.load(out)
    assert depth.shape == (1440, 1920) and depth.dtype == np.float32
    assert np.all(np.isfinite(depth))
    assert 1.566 - 1e-3 <= float(depth.min()) and float(depth.max()) <= 3.512 + 1e-3
    # Same frame as the official reference case (resized by the official tooling to 378x504):
    # the pipelines differ only in the image resampling, so the maps agree closely.
    case = load_case('vits_arkit_example_378x504')
    import cv2
    small = cv2.resize(depth, (504, 378), interpolation=cv2.INTER_AREA)
    assert float(np.median(np.abs(small - case['expected_depth_m']))) < 0.05
    assert os.path.isfile(png)


def test_depth_cli_errors_are_one_line(tmp_path, capsys):
    code = cli.depth_main(['--image', os.path.join(ARKIT, 'image.jpg'),
                           '--prompt', os.path.join(ARKIT, 'arkit_depth.png'),
                           '--checkpoint', str(tmp_path / 'missing.ckpt'),
                           '--out', str(tmp_path / 'd.npy')])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith('error: checkpoint not found')
    code = cli.depth_main(['--image', os.path.join(ARKIT, 'image.jpg'),
                           '--prompt', os.path.join(ARKIT, 'arkit_depth.png'),
                           '--checkpoint', 'x', '--out', 'd.npy', '--input-size', 'native'])
    assert code == 1 and 'native' in capsys.readouterr().err
    code = cli.depth_main(['--image', os.path.join(ARKIT, 'image.jpg'),
                           '--prompt', os.path.join(ARKIT, 'arkit_depth.png'),
                           '--checkpoint', 'x', '--out', str(tmp_path / 'd.txt')])
    err = capsys.readouterr().err
    assert code == 1 and '--out must end with .npy' in err and len(err.splitlines()) == 1
    assert not os.listdir(tmp_path)


def test_convert_cli(tmp_path_factory, tmp_path, capsys):
    ckpt = official_checkpoint(tmp_path_factory, 'vits')
    dst = str(tmp_path / 'm.safetensors')
    assert cli.convert_main([ckpt, dst, '--to', 'safetensors']) == 0
    assert '25083073 parameters' in capsys.readouterr().out
    assert cli.convert_main([dst, str(tmp_path / 'hf'), '--to', 'hf']) == 0
    assert os.path.isfile(str(tmp_path / 'hf' / 'config.json'))
    assert cli.convert_main([dst, str(tmp_path / 'x'), '--to', 'official',
                             '--encoder', 'vitb']) == 1
    assert 'not the requested vitb' in capsys.readouterr().err


def test_promptda_backend(tmp_path_factory):
    from promptda_ros.backends.promptda_backend import make_promptda_backend
    from promptda_ros.core.camera import PinholeCamera
    with pytest.raises(CheckpointError, match='needs a checkpoint'):
        make_promptda_backend(checkpoint=None)
    with pytest.raises(InputError, match='unknown promptda backend options: colour'):
        make_promptda_backend(checkpoint='x', colour=1)
    backend = make_promptda_backend(checkpoint=official_checkpoint(tmp_path_factory, 'vits'),
                                    encoder=None, device='cpu', precision='fp32',
                                    input_size=[98, 126], warmup=0)
    assert backend.name == 'promptda'
    case = load_case('vits_case0')
    camera = PinholeCamera.from_intrinsics(200.0, 200.0, 125.5, 97.5, 252, 196)
    depth = backend.predict(case['image_rgb_uint8'], case['prompt_depth_m'], camera)
    assert depth.shape == (196, 252) and np.all(np.isfinite(depth))
    with pytest.raises(InputError, match='camera is 640x480'):
        backend.predict(case['image_rgb_uint8'], case['prompt_depth_m'],
                        PinholeCamera.from_intrinsics(500.0, 500.0, 320.0, 240.0, 640, 480))


def test_depth_cli_with_npy_prompt_and_input_size(tmp_path_factory, tmp_path, capsys):
    """A .npy prompt in metres with holes, and an explicit --input-size."""
    import cv2
    case = load_case('vits_case0')
    image = str(tmp_path / 'rgb.png')
    cv2.imwrite(image, np.ascontiguousarray(case['image_rgb_uint8'][..., ::-1]))
    prompt = case['prompt_depth_m'].copy()
    prompt[::2, ::2] = 0.0
    np.save(str(tmp_path / 'prompt.npy'), prompt)
    out = str(tmp_path / 'd.npy')
    code = cli.depth_main(['--image', image, '--prompt', str(tmp_path / 'prompt.npy'),
                           '--checkpoint', official_checkpoint(tmp_path_factory, 'vits'),
                           '--out', out, '--input-size', 'native', '--max-depth', '3.0'])
    assert code == 0, capsys.readouterr().err
    depth = np.load(out)
    assert depth.shape == (196, 252) and np.all(np.isfinite(depth))
    assert float(depth.max()) <= 3.0
