# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""promptda-eval end to end on small generated inputs (frame folder and sample bag)."""

import json
import os

import cv2
import numpy as np
import pytest

from promptda_ros.core.projection import project_to_grid
from promptda_ros.core.transforms import matrix_to_quat, transform_points
from promptda_ros.eval.cli import main
from promptda_ros.eval.metrics import METRIC_KEYS
from promptda_ros.sample.scene import SampleGenerator

FRAMES = 4


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    """A 160x120 frame folder from the sample scene, with relative disparity maps on disk."""
    root = tmp_path_factory.mktemp('frames')
    gen = SampleGenerator(frames=FRAMES, width=160, height=120)
    for d in ('rgb', 'prompt', 'gt', 'rel'):
        os.makedirs(root / d)
    cam = gen.camera
    with open(root / 'intrinsics.json', 'w') as f:
        json.dump({'fx': cam.fx, 'fy': cam.fy, 'cx': cam.cx, 'cy': cam.cy,
                   'width': cam.width, 'height': cam.height}, f)
    lines = ['# stem tx ty tz qx qy qz qw']
    for fr in gen.frames():
        stem = f'{fr.index:06d}'
        cv2.imwrite(str(root / 'rgb' / f'{stem}.png'), cv2.cvtColor(fr.rgb, cv2.COLOR_RGB2BGR))
        pts = transform_points(gen.T_cam_lidar, fr.points_lidar)
        prompt_mm = np.rint(project_to_grid(pts, cam, (48, 64)) * 1000).astype(np.uint16)
        cv2.imwrite(str(root / 'prompt' / f'{stem}.png'), prompt_mm)   # uint16 mm
        np.save(root / 'gt' / f'{stem}.npy', fr.depth_gt_m)              # float32 m
        # relative disparity with an unknown scale / shift, as a Depth-Anything-style model
        np.save(root / 'rel' / f'{stem}.npy', (1.0 / fr.depth_gt_m - 0.02) / 0.5)
        T = gen.T_world_cam(fr.stamp_ns)
        vals = list(T[:3, 3]) + list(matrix_to_quat(T[:3, :3]))
        lines.append(stem + ' ' + ' '.join(f'{v:.9f}' for v in vals))
    (root / 'poses.txt').write_text('\n'.join(lines) + '\n')
    return root


def test_cli_on_frame_folder_writes_full_report(folder, tmp_path, capsys):
    out = tmp_path / 'out'
    rc = main([str(folder), '--out', str(out), '--methods', 'ransac_disk,lstsq_disk',
               '--relative-dir', str(folder / 'rel'), '--max-depth', '8', '--save-recon'])
    assert rc == 0, capsys.readouterr().err
    for name in ('report.json', 'report.md', 'error_maps.png', 'per_frame.png',
                 'error_hist.png', 'recon_ransac_disk.ply', 'recon_reference.ply'):
        assert (out / name).stat().st_size > 0, name
    rep = json.loads((out / 'report.json').read_text())
    assert set(rep) >= {'methods', 'dataset', 'config'}
    assert rep['dataset']['n_frames'] == FRAMES and rep['dataset']['has_poses']
    for name in ('ransac_disk', 'lstsq_disk'):
        m = rep['methods'][name]
        expected = set(METRIC_KEYS) | {'flicker', 'fscore', 'acc', 'comp', 'prec', 'recall'}
        assert set(m['aggregate']) >= expected
        assert len(m['frames']) == FRAMES
        assert m['frames'][0]['flicker'] is None
        assert all(f['flicker'] is not None for f in m['frames'][1:])
        l1s = [f['l1'] for f in m['frames']]
        assert m['aggregate']['l1'] == pytest.approx(np.mean(l1s))
    r, ls = rep['methods']['ransac_disk']['aggregate'], rep['methods']['lstsq_disk']['aggregate']
    # exact relative maps + noisy LiDAR: RANSAC gets close, least squares is pulled by outliers
    assert r['absrel'] < 0.01
    assert r['l1'] < ls['l1']
    assert r['fscore'] > 0.95 and r['fscore'] > ls['fscore']
    md = (out / 'report.md').read_text()
    assert '| ransac_disk |' in md and 'F-score' in md
    assert 'ransac_disk' in capsys.readouterr().out


def test_cli_stride_max_frames_and_no_recon(folder, tmp_path):
    out = tmp_path / 'out'
    rc = main([str(folder), '--out', str(out), '--methods', 'lstsq_disk', '--relative-dir',
               str(folder / 'rel'), '--stride', '2', '--max-frames', '1', '--no-recon',
               '--no-plots'])
    assert rc == 0
    rep = json.loads((out / 'report.json').read_text())
    frames = rep['methods']['lstsq_disk']['frames']
    assert [f['index'] for f in frames] == [0]
    assert 'fscore' not in rep['methods']['lstsq_disk']['aggregate']
    assert not (out / 'error_maps.png').exists()


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err, err
    return err


@pytest.mark.parametrize('argv, needle', [
    (['--methods', 'magic'], "unknown method 'magic'"),
    (['--methods', 'promptda'], 'needs --checkpoint'),
    (['--methods', 'ransac_disk'], 'needs --relative-dir'),
    (['--methods', 'lstsq_disk', '--relative-dir', '/nonexistent-rel'], 'not a folder'),
    (['--min-depth', '5', '--max-depth', '1'], '--max-depth'),
])
def test_cli_bad_options_exit_2_with_one_line(folder, tmp_path, capsys, argv, needle):
    rc = main([str(folder), '--out', str(tmp_path / 'o')] + argv)
    assert rc == 2
    assert needle in _one_line_error(capsys)


def test_cli_unreadable_inputs_exit_2(folder, tmp_path, capsys):
    assert main([str(tmp_path / 'missing'), '--out', str(tmp_path / 'o')]) == 2
    assert 'does not exist' in _one_line_error(capsys)
    (tmp_path / 'junk').mkdir()
    (tmp_path / 'junk' / 'a.txt').write_text('x')
    assert main([str(tmp_path / 'junk'), '--out', str(tmp_path / 'o')]) == 2
    assert 'neither a ROS 2 bag' in _one_line_error(capsys)
    broken = tmp_path / 'broken'
    os.makedirs(broken / 'rgb')
    cv2.imwrite(str(broken / 'rgb' / 'a.png'), np.zeros((8, 8, 3), np.uint8))
    (broken / 'intrinsics.json').write_text('{"fx": 1}')
    assert main([str(broken), '--out', str(tmp_path / 'o'), '--methods', 'lstsq_disk',
                 '--relative-dir', str(folder / 'rel')]) == 2
    assert 'intrinsics.json' in _one_line_error(capsys)
    bad_poses = tmp_path / 'poses.txt'
    bad_poses.write_text('000000 1 2 3\n')
    assert main([str(folder), '--out', str(tmp_path / 'o'), '--methods', 'lstsq_disk',
                 '--relative-dir', str(folder / 'rel'), '--poses', str(bad_poses)]) == 2
    assert 'poses.txt:1' in _one_line_error(capsys)


def test_cli_help_explains_units(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for needle in ('metres', 'ransac_', 'flicker', 'intrinsics.json', '--checkpoint'):
        assert needle in out


def test_cli_promptda_and_noprompt_alignment_with_a_checkpoint(
        folder, tmp_path, capsys, tmp_path_factory):
    """The network rows run from a real (deterministic-weight) official checkpoint."""
    from test_model_helpers import official_checkpoint

    ckpt = official_checkpoint(tmp_path_factory, 'vits')
    out = tmp_path / 'out'
    rc = main([str(folder), '--out', str(out), '--checkpoint', ckpt, '--input-size', '98x126',
               '--max-frames', '1', '--no-recon', '--no-plots'])
    assert rc == 0, capsys.readouterr().err
    rep = json.loads((out / 'report.json').read_text())
    assert list(rep['methods']) == ['default', 'bilinear', 'promptda',
                                    'ransac_promptda_noprompt', 'lstsq_promptda_noprompt']
    for name, m in rep['methods'].items():
        frame = m['frames'][0]
        if 'noprompt' in name and 'error' in frame:
            # Untrained weights: a map that does not grow with depth is refused, not published.
            assert 'negative scale' in frame['error'], (name, frame['error'])
            assert frame['l1'] is None and frame['n_valid'] == 0, name
            continue
        assert m['aggregate']['n_frames'] == 1, name
        assert m['aggregate']['coverage'] > 0.99, name
        assert 'error' not in frame, name


def test_wrong_relative_space_fails_loudly(folder, tmp_path, capsys):
    """Disparity maps read as depth fit a negative scale: an error, not an RMSE of 0.5 m."""
    rc = main([str(folder), '--out', str(tmp_path / 'a'), '--methods', 'ransac_disk,lstsq_disk',
               '--relative-dir', str(folder / 'rel'), '--relative-space', 'depth',
               '--no-recon', '--no-plots'])
    assert rc == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith('error: no frame could be scored') and 'negative scale' in err
    assert 'wrong --relative-space?' in err
    # next to methods that run, the run succeeds and the console says which rows failed and why
    rc = main([str(folder), '--out', str(tmp_path / 'b'), '--methods', 'bilinear,ransac_disk',
               '--relative-dir', str(folder / 'rel'), '--relative-space', 'depth',
               '--no-recon', '--no-plots'])
    assert rc == 0
    out = capsys.readouterr().out
    assert f'note: ransac_disk failed on {FRAMES} of {FRAMES} frames' in out
    assert 'wrong --relative-space?' in out
