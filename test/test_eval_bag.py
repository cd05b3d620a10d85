# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""promptda-eval on small generated sample bags (sqlite3 and mcap)."""

import json

import pytest

from promptda_ros.eval.cli import main
from promptda_ros.sample.bag_writer import write_sample_bag
from promptda_ros.sample.scene import SampleConfig

FRAMES = 3


@pytest.fixture(scope='module')
def sqlite_bag(tmp_path_factory):
    # full sample resolution (the weights-free default is tuned for it), few frames
    path = tmp_path_factory.mktemp('bags') / 'sample_sqlite'
    write_sample_bag(path, SampleConfig(frames=FRAMES, width=640, height=480), progress=False)
    return path


def test_sample_bag_default_beats_bilinear(sqlite_bag, tmp_path, capsys):
    out = tmp_path / 'out'
    assert main([str(sqlite_bag), '--out', str(out)]) == 0, capsys.readouterr().err
    rep = json.loads((out / 'report.json').read_text())
    # all that can run without extra inputs: the sample's relative-depth topic adds the
    # aligned relative maps
    assert list(rep['methods']) == ['default', 'bilinear', 'ransac_bag', 'lstsq_bag']
    ds = rep['dataset']
    assert ds['kind'] == 'bag' and ds['n_frames'] == FRAMES and ds['has_poses']
    assert ds['image_size'] == '640x480' and ds['prompt_size'] == '256x192'
    d, b = rep['methods']['default']['aggregate'], rep['methods']['bilinear']['aggregate']
    assert d['l1'] < b['l1'], (d['l1'], b['l1'])
    for a in (d, b):
        assert a['n_frames'] == FRAMES and a['coverage'] > 0.9
        assert a['flicker'] > 0.0 and 0.0 < a['fscore'] <= 1.0
    assert rep['config']['recon'] is True
    for name in ('report.md', 'error_maps.png', 'per_frame.png', 'error_hist.png'):
        assert (out / name).stat().st_size > 0
    assert '| default |' in (out / 'report.md').read_text()


def test_mcap_bag_with_depth_image_prompt(tmp_path, capsys):
    bag = tmp_path / 'sample_mcap'
    write_sample_bag(bag, SampleConfig(frames=2, width=128, height=96), progress=False,
                     storage='mcap')
    out = tmp_path / 'out'
    rc = main([str(bag), '--out', str(out), '--methods', 'bilinear', '--prompt-source',
               'depth_image', '--no-recon', '--no-plots'])
    assert rc == 0, capsys.readouterr().err
    rep = json.loads((out / 'report.json').read_text())
    assert rep['dataset']['prompt_source'] == 'depth_image'
    assert rep['methods']['bilinear']['aggregate']['n_frames'] == 2


def test_bag_errors_exit_2(sqlite_bag, tmp_path, capsys):
    rc = main([str(sqlite_bag), '--out', str(tmp_path / 'o'), '--topics', 'nonsense=/x'])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and 'nonsense' in err and '\n' not in err
    rc = main([str(sqlite_bag), '--out', str(tmp_path / 'o'), '--topics', 'gt=/nope'])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "no reference depth topic '/nope'" in err and '\n' not in err
    rc = main([str(sqlite_bag), '--out', str(tmp_path / 'o'), '--topics',
               'lidar=/none,prompt_depth=/none'])
    assert rc == 2
    assert 'no prompt source' in capsys.readouterr().err
    broken = tmp_path / 'broken_bag'
    broken.mkdir()
    (broken / 'metadata.yaml').write_text('not: a bag\n')
    assert main([str(broken), '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err


def test_frames_without_reference_or_prompt_are_skipped_with_a_reason():
    from types import SimpleNamespace

    import numpy as np

    from promptda_ros.core.camera import PinholeCamera
    from promptda_ros.eval.dataset import _bag_frames

    cam = PinholeCamera.from_intrinsics(20.0, 20.0, 7.5, 5.5, 16, 12)
    gt = np.full((12, 16), 2.0, np.float32)
    prompt = np.full((3, 4), 2.0, np.float32)

    def frame(stamp, depth_gt_m, prompt_depth_m):
        return SimpleNamespace(stamp_ns=stamp, rgb=np.zeros((12, 16, 3), np.uint8), camera=cam,
                               points_lidar=None, T_cam_lidar=None, T_world_cam=np.eye(4),
                               depth_gt_m=depth_gt_m, prompt_depth_m=prompt_depth_m)

    fake = SimpleNamespace(read_frames=lambda path, **kw: iter([
        frame(10, gt, prompt), frame(20, None, prompt), frame(30, gt, None),
        frame(40, gt, prompt)]))
    skipped = []
    frames = list(_bag_frames(fake, 'bag', 'auto', (3, 4), None, {}, skipped))
    assert [f.index for f in frames] == [0, 3]
    assert [f.name for f in frames] == ['10', '40']
    assert len(skipped) == 2
    assert 'no reference depth' in skipped[0] and 'no prompt depth image' in skipped[1]


def test_tum_poses_match_bag_stamps_by_the_pairing_rule(sqlite_bag, tmp_path):
    """Stamps are read as exact decimals and matched like sweeps: nearest within 50 ms."""
    from promptda_ros.bagio import read_frames
    from promptda_ros.eval.dataset import read_bag, seconds_to_ns

    stamps = [fr.stamp_ns for fr in read_frames(str(sqlite_bag))]

    def sec(ns: int) -> str:  # exact decimal text of integer ns
        return f'{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}'

    lines = [
        # frame 0: 20 ms before and 20 ms after -> a tie, the later stamp wins (x = 2)
        f'{sec(stamps[0] - 20_000_000)} 1 0 0 0 0 0 1',
        f'{sec(stamps[0] + 20_000_000)} 2 0 0 0 0 0 1',
        # frame 1: 100 ns after beats 150 ns before (float seconds hold ~240 ns at 1.7e9 s)
        f'{sec(stamps[1] + 100)} 3 0 0 0 0 0 1',
        f'{sec(stamps[1] - 150)} 4 0 0 0 0 0 1',
        # frame 2: only a pose 50 ms + 1 ns away -> no pose
        f'{sec(stamps[2] + 50_000_001)} 5 0 0 0 0 0 1',
    ]
    poses = tmp_path / 'poses.txt'
    poses.write_text('\n'.join(lines) + '\n')
    frames = list(read_bag(str(sqlite_bag), poses_path=str(poses)))
    assert [None if f.T_world_cam is None else f.T_world_cam[0, 3] for f in frames] == \
        [2.0, 3.0, None]
    assert seconds_to_ns('1700000000.123456789') == 1_700_000_000_123_456_789
    for bad in ('nan', '-1', 'x', 'inf'):
        with pytest.raises(ValueError):
            seconds_to_ns(bad)
