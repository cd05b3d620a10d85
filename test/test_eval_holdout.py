# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Held-out measured points: the split, and ``promptda-eval --holdout`` on bags and real frames.

Real frames: the KITTI depth-completion frame of ``shared/realdata`` (zhiyuandaily/Any2Full
@9523b1b ``assets/{rgb,depth}/kittidc_64l_1``, Apache-2.0) and the iPhone + ARKit frame in
``test/data/arkit_example`` (DepthAnything/PromptDA b05523c, Apache-2.0).
"""

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from promptda_ros import bagio
from promptda_ros.backends import make_backend
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.core.holdout import holdout_mask
from promptda_ros.core.projection import project_to_grid
from promptda_ros.eval.cli import main
from promptda_ros.eval.holdout import (
    cells_to_image,
    holdout_sweep,
    split_depth,
)
from promptda_ros.eval.metrics import depth_metrics
from promptda_ros.pipeline import (
    DepthPipeline,
    lidar_prompt_grid,
    PipelineConfig,
    prompt_from_depth,
)
from promptda_ros.sample.bag_writer import copy_bag, write_sample_bag
from promptda_ros.sample.scene import SampleConfig

KITTI = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'realdata',
                     'any2full_kittidc_64l_1', 'depth.npz')
# The frame ships without intrinsics. Assumed: KITTI's published P_rect_02 of the 2011_09_26
# drives, the principal point moved by the depth-completion crop (13 px left, 23 px top).
KITTI_K = {'fx': 721.5377, 'fy': 721.5377, 'cx': 596.5593, 'cy': 149.854,
           'width': 1216, 'height': 352}
ARKIT_DIR = os.path.join(os.path.dirname(__file__), 'data', 'arkit_example')
ARKIT_IMAGE = os.path.join(ARKIT_DIR, 'image.jpg')
ARKIT_DEPTH = os.path.join(ARKIT_DIR, 'arkit_depth.png')
# Assumed (no intrinsics ship with the photo): a 1920x1440 iPhone wide camera, centred.
ARKIT_K = {'fx': 1450.0, 'fy': 1450.0, 'cx': 959.5, 'cy': 719.5, 'width': 1920, 'height': 1440}


def test_mask_count_and_seed():
    valid = np.zeros((10, 20), bool)
    valid[::2, ::3] = True
    a = holdout_mask(valid, 0.2, seed=3)
    assert a.sum() == round(0.2 * valid.sum())
    assert not (a & ~valid).any()
    assert np.array_equal(a, holdout_mask(valid, 0.2, seed=3))
    assert not np.array_equal(a, holdout_mask(valid, 0.2, seed=4))


@pytest.mark.parametrize('fraction', [0.0, 1.0, -0.1, float('nan')])
def test_fraction_out_of_range_refused(fraction):
    with pytest.raises(InputError, match='fraction'):
        holdout_mask(np.ones(5, bool), fraction)


def test_split_real_frame_is_disjoint_and_complete():
    if not os.path.exists(KITTI):
        pytest.skip('shared real data not present')
    depth = np.load(KITTI)['depth_m']
    prompt, ref = split_depth(depth, 0.2, seed=0)
    measured = depth > 0
    held = np.isfinite(ref)
    assert held.sum() == round(0.2 * measured.sum())
    assert not ((prompt > 0) & held).any()
    assert np.array_equal((prompt > 0) | held, measured)
    assert np.array_equal(ref[held], depth[held])


def test_cells_to_image_places_cell_centres_and_keeps_the_nearest():
    cells = np.zeros((3, 4), np.float32)
    cells[0, 0], cells[2, 3] = 1.0, 2.0
    image = cells_to_image(cells, (6, 8))  # cell centres at pixel (2i + 0.5, 2j + 0.5)
    assert np.argwhere(np.isfinite(image)).tolist() == [[1, 1], [5, 7]]
    assert image[1, 1] == 1.0 and image[5, 7] == 2.0
    coarse = cells_to_image(np.array([[3.0, 2.0, 5.0, 4.0]], np.float32), (1, 2))
    assert coarse.tolist() == [[2.0, 4.0]]  # two cells per pixel: the nearest wins
    same = np.array([[0.0, 1.5], [np.nan, 2.5]], np.float32)
    assert np.array_equal(cells_to_image(same, (2, 2)), [[np.nan, 1.5], [np.nan, 2.5]],
                          equal_nan=True)


def test_holdout_sweep_prompts_with_the_rest_and_keeps_far_returns_as_reference():
    camera = PinholeCamera.from_intrinsics(100.0, 100.0, 79.5, 59.5, 160, 120)
    rng = np.random.default_rng(5)
    z = rng.uniform(1.0, 40.0, 3000)  # some beyond the pipeline's 20 m
    uv = rng.uniform([0, 0], [160, 120], (3000, 2))
    points = np.stack([(uv[:, 0] - 79.5) * z / 100.0, (uv[:, 1] - 59.5) * z / 100.0, z], 1)
    points[:50] = np.nan  # no measurement: never held out
    config = PipelineConfig.with_prompt_hw((48, 64))
    prompt, reference = holdout_sweep(points, None, camera, config, 0.25, seed=2)
    held = holdout_mask(np.isfinite(points).all(axis=1), 0.25, seed=2)
    assert held.sum() == round(0.25 * 2950) and not held[:50].any()
    assert np.array_equal(prompt, lidar_prompt_grid(points[~held], None, camera, config))
    expected = project_to_grid(points[held], camera)
    assert np.array_equal(np.nan_to_num(reference), expected)
    assert np.nanmax(reference) > 20.0  # a far return is scored against, not dropped
    again = holdout_sweep(points, None, camera, config, 0.25, seed=2)
    assert np.array_equal(again[0], prompt)


@pytest.fixture(scope='module')
def no_gt_bag(tmp_path_factory):
    """A generated 2-frame sample bag without its ground-truth topic."""
    root = tmp_path_factory.mktemp('holdout_bags')
    write_sample_bag(root / 'full', SampleConfig(frames=2, width=160, height=120),
                     progress=False)
    return copy_bag(root / 'full', root / 'no_gt', [bagio.GT_TOPIC])


def _report(out):
    return json.loads((out / 'report.json').read_text())


@pytest.mark.parametrize('source', ['lidar', 'depth_image'])
def test_cli_holdout_on_a_bag_without_ground_truth(no_gt_bag, tmp_path, capsys, source):
    args = [str(no_gt_bag), '--methods', 'default,bilinear', '--prompt-source', source,
            '--holdout', '0.2', '--no-plots']
    assert main(args + ['--out', str(tmp_path / 'a')]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert 'held-out measurements, 20 % ' in out and '(seed 0)' in out
    rep = _report(tmp_path / 'a')
    assert rep['config']['holdout'] == {'fraction': 0.2, 'seed': 0}
    assert rep['config']['recon'] is False
    assert rep['dataset']['reference'].startswith('held-out measurements')
    md = (tmp_path / 'a' / 'report.md').read_text()
    assert f"Reference: {rep['dataset']['reference']}." in md
    for name in ('default', 'bilinear'):
        frames = rep['methods'][name]['frames']
        assert len(frames) == 2
        for f in frames:
            assert f['n_heldout'] > 100 and 0 < f['n_valid'] <= f['n_heldout']
            assert 0.0 < f['l1'] < 0.5
    # seeded: the same seed scores the same points, another seed others
    assert main(args + ['--out', str(tmp_path / 'b')]) == 0
    assert main(args + ['--out', str(tmp_path / 'c'), '--holdout-seed', '1']) == 0
    l1 = [[f['l1'] for f in _report(tmp_path / d)['methods']['bilinear']['frames']]
          for d in 'abc']
    assert l1[0] == l1[1] and l1[0] != l1[2]


def test_cli_without_ground_truth_or_holdout_names_the_missing_topic(no_gt_bag, tmp_path, capsys):
    assert main([str(no_gt_bag), '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'reference depth topic' in err


def _real_folder(root, src_dir, intrinsics):
    """A one-frame folder from a shared real frame: its rgb, its measured depth as the prompt."""
    for d in ('rgb', 'prompt'):
        os.makedirs(root / d)
    shutil.copy(os.path.join(src_dir, 'rgb.png'), root / 'rgb' / '000000.png')
    np.save(root / 'prompt' / '000000.npy', np.load(os.path.join(src_dir, 'depth.npz'))['depth_m'])
    (root / 'intrinsics.json').write_text(json.dumps(intrinsics))
    return root


def test_cli_holdout_on_the_real_kitti_frame_scores_what_the_pipeline_publishes(tmp_path,
                                                                                capsys):
    """20 % of the real 64-beam returns held out; the methods see only the other 80 %."""
    if not os.path.exists(KITTI):
        pytest.skip('shared real data not present')
    folder = _real_folder(tmp_path / 'kitti', os.path.dirname(KITTI), KITTI_K)
    out = tmp_path / 'out'
    rc = main([str(folder), '--out', str(out), '--methods', 'bilinear,default', '--holdout',
               '0.2', '--holdout-seed', '3', '--max-depth', '20', '--no-plots'])
    assert rc == 0, capsys.readouterr().err
    rep = _report(out)
    depth = np.load(KITTI)['depth_m']
    n_held = round(0.2 * np.count_nonzero(depth > 0))
    assert n_held == 3650 and f'{n_held} held-out points per frame' in capsys.readouterr().out
    # the same split and the node's pipeline, computed here without the CLI
    prompt, reference = split_depth(depth, 0.2, seed=3)
    rgb = cv2.cvtColor(cv2.imread(str(folder / 'rgb' / '000000.png')), cv2.COLOR_BGR2RGB)
    camera = PinholeCamera.from_intrinsics(*(KITTI_K[k] for k in ('fx', 'fy', 'cx', 'cy')),
                                           KITTI_K['width'], KITTI_K['height'])
    config = PipelineConfig()
    pred = DepthPipeline(make_backend('bilinear')).predict(
        rgb, camera, prompt_from_depth(prompt, config), config).depth_m
    expected = depth_metrics(pred, reference, 0.0, 20.0)
    frame = rep['methods']['bilinear']['frames'][0]
    assert frame['n_heldout'] == n_held
    assert frame['n_valid'] == expected['n_valid'] > 2000
    assert frame['l1'] == pytest.approx(expected['l1'], rel=1e-9)
    assert frame['l1'] < 0.5  # real held-out LiDAR returns, metres
    assert rep['methods']['default']['frames'][0]['n_valid'] > 2000


def test_cli_holdout_cells_of_a_real_iphone_prompt(tmp_path, capsys):
    """The real 256x192 ARKit depth for a 1920x1440 photo: held-out cells score at their pixels."""
    depth_mm = cv2.imread(ARKIT_DEPTH, cv2.IMREAD_UNCHANGED)
    folder = tmp_path / 'arkit'
    for d in ('rgb', 'prompt'):
        os.makedirs(folder / d)
    shutil.copy(ARKIT_IMAGE, folder / 'rgb' / '000000.jpg')
    cv2.imwrite(str(folder / 'prompt' / '000000.png'), depth_mm)
    (folder / 'intrinsics.json').write_text(json.dumps(ARKIT_K))
    rc = main([str(folder), '--out', str(tmp_path / 'out'), '--methods', 'bilinear',
               '--holdout', '0.2', '--no-plots'])
    assert rc == 0, capsys.readouterr().err
    frame = _report(tmp_path / 'out')['methods']['bilinear']['frames'][0]
    assert frame['n_heldout'] == round(0.2 * depth_mm.size) == 9830
    assert frame['coverage'] == 1.0 and 0.0 < frame['l1'] < 0.1
