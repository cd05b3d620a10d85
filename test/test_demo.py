# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""`promptda-demo`: sample -> perception node -> files, as `make demo` runs it (smaller)."""

import json

import numpy as np
import pytest

from promptda_ros.core.depth_io import load_depth_npy_m, load_depth_png_mm
from promptda_ros.core.pointcloud import read_ply
from promptda_ros.demo import main, run_demo
from promptda_ros.sample.scene import SampleConfig

DOMAIN_ID = 61


def test_demo_writes_every_output_and_beats_bilinear(tmp_path):
    """The node's depth is metric, saved in both units, and better than the baseline."""
    out = tmp_path / 'demo'
    config = SampleConfig(seed=7, frames=3, width=320, height=240)
    result = run_demo(out, config, progress=False, domain_id=DOMAIN_ID)
    assert result['replay']['frames_out'] == 3
    assert result['node']['l1'] < result['bilinear']['l1']
    assert result['node']['l1'] < 0.1 and result['node']['delta_0.5'] > 0.9
    pngs = sorted((out / 'depth').glob('*.png'))
    npys = sorted((out / 'depth').glob('*.npy'))
    assert len(pngs) == len(npys) == 3
    d_m = load_depth_npy_m(npys[0])
    d_mm = load_depth_png_mm(pngs[0])
    assert d_m.shape == (240, 320) and d_m.dtype == np.float32
    both = np.isfinite(d_m) & np.isfinite(d_mm)
    assert both.mean() > 0.9
    assert np.max(np.abs(d_m[both] - d_mm[both])) <= 0.0006  # mm rounding
    points, colors = read_ply(out / 'cloud.ply')[:2]
    assert points.shape[1] == 3 and len(points) > 0.9 * 240 * 320
    assert (out / 'panel.png').stat().st_size > 10_000
    saved = json.loads((out / 'metrics.json').read_text())
    assert saved['node']['l1'] == result['node']['l1']
    # A second run reuses the sample bag and replaces the node's output.
    again = run_demo(out, config, progress=False, domain_id=DOMAIN_ID)
    assert again['node']['l1'] == result['node']['l1']


def test_demo_cli_rejects_bad_arguments(capsys):
    """A bad request exits non-zero with one line naming the problem."""
    with pytest.raises(SystemExit) as usage:     # out of range: a usage error, exit 2
        main(['--frames', '1', '--no-progress'])
    assert usage.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error:') and '--frames' in err[0]
