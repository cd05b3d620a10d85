# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Method selection and execution (with an injected backend factory), relative maps on disk."""

import cv2
import numpy as np
import pytest

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.eval.dataset import EvalFrame, read_poses, strided
from promptda_ros.eval.methods import all_method_names, default_methods, MethodRunner, parse_method
from promptda_ros.pipeline import PipelineConfig

H, W = 24, 32
CAM = PinholeCamera.from_intrinsics(30.0, 30.0, 15.5, 11.5, W, H)


def _frame(index=0, name='000000'):
    yy, xx = np.mgrid[0:H, 0:W]
    gt = (1.0 + 0.1 * xx + 0.05 * yy).astype(np.float32)
    prompt = cv2.resize(gt, (8, 6), interpolation=cv2.INTER_AREA)
    return EvalFrame(index, name, None, np.zeros((H, W, 3), np.uint8), CAM, prompt, gt, None)


class FakeNet:
    """Returns the truth for a real prompt and an affine map of it for the neutral prompt."""

    name = 'promptda'

    def __init__(self):
        self.calls = []

    def predict(self, rgb, prompt_m, camera=None):
        self.calls.append(prompt_m.copy())
        gt = _frame().gt_m
        neutral = np.count_nonzero(prompt_m != 10.0) == 1
        return (0.3 * gt + 1.0) if neutral else gt


def test_method_names_and_defaults():
    assert parse_method('default') == ('backend', None)
    assert parse_method('ransac_disk') == ('ransac', 'disk')
    assert parse_method('lstsq_promptda_noprompt') == ('lstsq', 'promptda_noprompt')
    for bad in ('ransac_', 'ransac_magic', 'promptda2', ''):
        with pytest.raises(InputError, match='unknown method'):
            parse_method(bad)
    assert default_methods(None, None) == ['default', 'bilinear']
    assert set(default_methods('ck', 'rel', relative_in_input=True, starrygazer='sg')) \
        == set(all_method_names())
    assert parse_method('starrygazer') == ('starrygazer', None)
    assert parse_method('ransac_bag') == ('ransac', 'bag')


def test_noprompt_source_shares_the_network_and_aligns_in_depth_space():
    made = []

    def factory(name, **opts):
        made.append((name, opts))
        return FakeNet()

    runner = MethodRunner(['promptda', 'ransac_promptda_noprompt', 'lstsq_promptda_noprompt'],
                          checkpoint='ck.safetensors', backend_factory=factory)
    assert made == [('promptda', {'checkpoint': 'ck.safetensors', 'encoder': None})]
    fr = _frame()
    preds, times, errors = runner.run(fr)
    assert not errors
    net = runner._backends['promptda']
    assert len(net.calls) == 2  # real prompt once, neutral prompt once for both aligners
    neutral = net.calls[1]
    assert neutral.shape == fr.prompt_m.shape and neutral[0, 0] == 11.0
    assert np.all(neutral.ravel()[1:] == 10.0)
    for name in ('ransac_promptda_noprompt', 'lstsq_promptda_noprompt'):
        assert np.nanmax(np.abs(preds[name] - fr.gt_m)) < 0.05, name
        assert times[name] >= 0.0


def test_disk_relative_png_by_index_and_failures_are_recorded(tmp_path):
    fr = _frame(index=7, name='frame_a')
    disp = (1.0 / fr.gt_m) * 20000.0  # 16-bit relative disparity, scale unknown to the method
    cv2.imwrite(str(tmp_path / '000007.png'), np.rint(disp).astype(np.uint16))
    runner = MethodRunner(['ransac_disk'], relative_dir=str(tmp_path))
    preds, _, errors = runner.run(fr)
    assert not errors
    assert np.nanmean(np.abs(preds['ransac_disk'] - fr.gt_m) / fr.gt_m) < 0.01
    # a frame whose prompt is empty cannot be aligned: NaN prediction + error message
    empty = _frame(index=7, name='frame_a')
    empty.prompt_m[:] = 0.0
    preds, _, errors = runner.run(empty)
    assert 'valid prompt samples' in errors['ransac_disk']
    assert np.all(np.isnan(preds['ransac_disk']))
    with pytest.raises(InputError, match='no relative map'):
        runner.run(_frame(index=8, name='other'))


def test_runner_option_errors(tmp_path):
    with pytest.raises(InputError, match='needs --checkpoint'):
        MethodRunner(['ransac_promptda_noprompt'])
    with pytest.raises(InputError, match='duplicate'):
        MethodRunner(['lstsq_disk', 'lstsq_disk'], relative_dir=str(tmp_path))
    with pytest.raises(InputError, match='relative-space'):
        MethodRunner(['lstsq_disk'], relative_dir=str(tmp_path), relative_space='log')


def test_wrong_size_prediction_is_an_input_error():
    runner = MethodRunner(['default'], backend_factory=lambda name, **o: type(
        'B', (), {'predict': lambda self, rgb, p, c=None: np.ones((2, 2), np.float32)})())
    with pytest.raises(InputError, match='returned'):
        runner.run(_frame())


def test_poses_file_and_stride(tmp_path):
    p = tmp_path / 'poses.txt'
    p.write_text('# comment\na 1 2 3 0 0 0 1\nb 0 0 0 0 0 1 0  # yaw 180\n')
    poses = read_poses(str(p))
    assert poses['a'][:3, 3].tolist() == [1.0, 2.0, 3.0]
    assert np.allclose(poses['b'][:3, :3], np.diag([-1.0, -1.0, 1.0]))
    p.write_text('a 1 2 3 0 0 0 0\n')
    with pytest.raises(InputError, match='poses.txt:1'):
        read_poses(str(p))
    frames = [_frame(index=i) for i in range(7)]
    assert [f.index for f in strided(iter(frames), 3)] == [0, 3, 6]
    assert [f.index for f in strided(iter(frames), 2, max_frames=2)] == [0, 2]
    with pytest.raises(InputError):
        list(strided(iter(frames), 0))


def test_aligned_output_is_masked_to_the_depth_range_like_a_backend(tmp_path):
    """The frame's depth spans 1.0-5.65 m; with a 0.1-3 m range the rest is NaN, not published."""
    fr = _frame()
    np.save(tmp_path / '000000.npy', 1.0 / fr.gt_m)  # exact disparity
    config = PipelineConfig(max_depth=3.0)
    for name in ('lstsq_disk', 'ransac_disk'):
        runner = MethodRunner([name], relative_dir=str(tmp_path), config=config)
        pred = runner.run(fr)[0][name]
        inside, beyond = fr.gt_m < 2.9, fr.gt_m > 3.1  # the prompt is an area-averaged grid
        assert np.allclose(pred[inside], fr.gt_m[inside], rtol=0.01), name
        assert np.isnan(pred[beyond]).all() and beyond.sum() > 100, name
    backend = MethodRunner(['bilinear'], config=config).run(fr)[0]['bilinear']
    assert np.nanmax(backend) <= 3.0 and np.nanmax(pred) <= 3.0


def test_negative_alignment_scale_is_a_frame_error_naming_the_relative_space(tmp_path):
    fr = _frame()
    np.save(tmp_path / '000000.npy', 1.0 / fr.gt_m)  # disparity, read as depth below
    runner = MethodRunner(['lstsq_disk', 'ransac_disk'], relative_dir=str(tmp_path),
                          relative_space='depth')
    preds, _, errors = runner.run(fr)
    for name in ('lstsq_disk', 'ransac_disk'):
        assert 'negative scale' in errors[name] and 'wrong --relative-space?' in errors[name]
        assert np.isnan(preds[name]).all()
    ok = MethodRunner(['lstsq_disk'], relative_dir=str(tmp_path), relative_space='inverse')
    assert not ok.run(fr)[2]
