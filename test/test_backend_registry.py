# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Backend registry, shapes, errors, and default beating bilinear on the generated sample."""

import numpy as np
import pytest

from promptda_ros.backends import available_backends, make_backend, register_backend
from promptda_ros.backends.default import OCCLUSION_WINDOW, remove_occluded
from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.core.projection import project_to_grid
from promptda_ros.core.prompt import fill_knn
from promptda_ros.core.transforms import transform_points
from promptda_ros.eval.metrics import depth_metrics
from promptda_ros.sample.bench_cli import _sample_frames, format_table, main, run_bench


def _inputs(H=48, W=64, h=12, w=16):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    prompt = np.zeros((h, w), np.float32)
    prompt[::2, ::3] = 2.0
    return rgb, prompt


def test_registry_lists_builtins_and_registers_new():
    assert {'default', 'bilinear', 'promptda'} <= set(available_backends())
    register_backend('const_test', lambda **o: make_backend('bilinear', **o))
    assert make_backend('const_test').name == 'bilinear'
    with pytest.raises(InputError, match='unknown depth backend'):
        make_backend('nope')
    with pytest.raises(InputError, match='unknown option'):
        make_backend('default', radius=3)
    with pytest.raises(InputError):
        register_backend('', lambda: None)


@pytest.mark.parametrize('name', ['default', 'bilinear'])
@pytest.mark.parametrize('grid', [(12, 16), (48, 64), (7, 30)])
def test_shapes_any_grid_and_range(name, grid):
    rgb, _ = _inputs()
    prompt = np.zeros(grid, np.float32)
    prompt[::2, ::2] = np.linspace(1.0, 3.0, prompt[::2, ::2].size).reshape(
        prompt[::2, ::2].shape)
    out = make_backend(name).predict(rgb, prompt)
    assert out.shape == (48, 64) and out.dtype == np.float32
    assert np.nanmin(out) >= 1.0 - 1e-4 and np.nanmax(out) <= 3.0 + 1e-4
    clipped = make_backend(name, max_depth=2.0).predict(rgb, prompt)
    assert np.isnan(clipped).any() and np.nanmax(clipped) <= 2.0


def test_constant_prompt_gives_constant_depth_and_filled_prompt_works():
    rgb, prompt = _inputs()
    for name in ('default', 'bilinear'):
        np.testing.assert_allclose(make_backend(name).predict(rgb, prompt), 2.0, rtol=1e-4)
        dense = np.full((12, 16), 1.5, np.float32)
        np.testing.assert_allclose(make_backend(name).predict(rgb, dense), 1.5, rtol=1e-4)


def test_bad_inputs_raise_project_errors():
    rgb, prompt = _inputs()
    be = make_backend('default')
    with pytest.raises(InputError, match='rgb'):
        be.predict(rgb[..., 0], prompt)
    with pytest.raises(InputError, match='uint8'):
        be.predict(rgb.astype(np.float32), prompt)
    with pytest.raises(PromptError, match='no valid'):
        be.predict(rgb, np.zeros_like(prompt))
    with pytest.raises(PromptError, match='negative'):
        be.predict(rgb, -prompt)
    with pytest.raises(InputError, match='prompt_m'):
        be.predict(rgb, prompt[0])
    with pytest.raises(InputError, match='sigma'):
        make_backend('default', sigma_r=0)


def test_default_is_not_worse_than_bilinear_on_generated_sample(capsys):
    frames = list(_sample_frames(seed=1, frames=2, width=320, height=240))
    result = run_bench(frames, (96, 128))
    # A 96x128 LiDAR grid is dense: 'default' interpolates it as 'bilinear' does.
    assert result['default']['l1'] <= result['bilinear']['l1'] * (1 + 1e-6)
    assert result['default']['frames'] == 2
    assert 'L1 default / bilinear' in format_table(result)
    assert main(['--frames', '1', '--width', '160', '--height', '120']) == 0
    assert '| default |' in capsys.readouterr().out
    assert main(['--bag', '/nonexistent/bag']) == 1


def test_occlusion_filter_drops_background_behind_foreground_only():
    prompt = np.zeros((20, 20), np.float32)
    prompt[::4, :] = 3.0                  # background scanlines
    prompt[8, 5:10] = 1.0                 # foreground object on one scanline
    prompt[10, 6:9] = 3.0                 # background returns bleeding onto it (parallax)
    out = remove_occluded(prompt, (3, 1), 0.15)
    assert np.all(out[10, 6:9] == 0) and np.all(out[8, 5:10] == 1.0)
    assert np.all(out[0] == 3.0) and np.all(out[12] == 3.0) and np.all(out[16] == 3.0)
    np.testing.assert_array_equal(remove_occluded(prompt, (0, 0), 0.15), prompt)


@pytest.mark.parametrize('width, height, grid', [(160, 120, (120, 160)), (320, 240, (96, 128))])
def test_occlusion_filter_option_helps_on_the_generated_sample(width, height, grid):
    """The occlusion window is angular: it must scale down with the image, not stay in pixels.

    The generated LiDAR has parallax bleed-through that the option removes (off by default:
    on real LiDAR scored at held-out returns it removes real returns at depth edges).
    """
    fr = next(_sample_frames(seed=0, frames=1, width=width, height=height))
    pts = transform_points(fr.T_cam_lidar, np.asarray(fr.points_lidar, np.float64))
    sparse = project_to_grid(pts, fr.camera, grid)
    plain, filtered = (depth_metrics(make_backend('default', **o).predict(fr.rgb, sparse),
                                     fr.depth_gt_m)['l1']
                       for o in ({}, {'occlusion_window': OCCLUSION_WINDOW}))
    assert filtered < 0.9 * plain


def test_default_on_a_dense_prompt_is_the_interpolated_prompt():
    fr = next(_sample_frames(seed=1, frames=1, width=320, height=240))
    pts = transform_points(fr.T_cam_lidar, np.asarray(fr.points_lidar, np.float64))
    dense = fill_knn(project_to_grid(pts, fr.camera, (96, 128)), k=4)
    out = {n: make_backend(n).predict(fr.rgb, dense, fr.camera) for n in ('default', 'bilinear')}
    np.testing.assert_array_equal(out['default'], out['bilinear'])


def test_bench_rejects_a_prompt_grid_larger_than_the_image(capsys):
    frames = list(_sample_frames(0, 1, 64, 48))
    with pytest.raises(InputError, match='prompt grid 100x64 .* image size 48x64'):
        run_bench(frames, (100, 64))
    assert main(['--frames', '1', '--width', '64', '--height', '48',
                 '--prompt-height', '0']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: prompt grid 0x256') and len(err.splitlines()) == 1
