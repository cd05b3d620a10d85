# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Report writers: strict JSON, Markdown tables, bounded error-map buffer, plots."""

import json
import math

import numpy as np

from promptda_ros.eval.report import (
    ErrorMapKeeper,
    markdown,
    plot_error_maps,
    plot_histograms,
    write_json,
)


def _report():
    agg = {'l1': 0.05, 'rmse': 0.1, 'absrel': 0.02, 'delta_0.5': 0.9, 'delta_1': 0.95,
           'mae_mm': 50.0, 'rmse_mm': 100.0, 'imae_1_km': 5.0, 'irmse_1_km': 9.0,
           'flicker': math.nan, 'coverage': 1.0, 'runtime_ms': 3.0, 'acc': 0.01, 'comp': 0.02,
           'prec': 0.9, 'recall': 0.8, 'fscore': 0.847}
    return {'methods': {'default': {'aggregate': agg, 'frames': [{'l1': np.float32(0.05),
                                                                  'flicker': math.nan}]}},
            'dataset': {'input': 'x', 'kind': 'bag', 'n_frames': 1},
            'config': {'min_depth': 0.0, 'max_depth': 10.0, 'voxel': 0.04}}


def test_json_is_strict_with_nan_as_null(tmp_path):
    p = tmp_path / 'r.json'
    write_json(_report(), str(p))
    text = p.read_text()
    assert 'NaN' not in text
    data = json.loads(text)
    assert data['methods']['default']['aggregate']['flicker'] is None
    assert data['methods']['default']['frames'][0]['l1'] == np.float32(0.05).item()


def test_markdown_tables():
    md = markdown(_report())
    assert '| default | 0.0500 | 0.1000 | 0.0200 | 0.900 | 0.950 | 50.0 |' in md
    assert '| default | 0.0100 | 0.0200 | 0.9000 | 0.8000 | 0.8470 |' in md
    assert 'n/a' in md  # NaN flicker


def test_error_map_keeper_is_bounded_and_spread(tmp_path):
    keeper = ErrorMapKeeper(keep=3, max_width=16)
    gt = np.full((24, 32), 2.0, np.float32)
    for i in range(100):
        keeper.offer(str(i), np.zeros((24, 32, 3), np.uint8), gt, {'m': gt + 0.1})
        assert len(keeper.items) < 6
    sel = keeper.selected()
    names = [int(it['name']) for it in sel]
    assert len(sel) == 3 and names[0] == 0 and names[-1] >= 60
    assert sel[0]['err']['m'].shape == (12, 16)
    assert np.allclose(sel[0]['err']['m'], 0.1)
    assert plot_error_maps(keeper, str(tmp_path / 'e.png'))
    assert (tmp_path / 'e.png').stat().st_size > 1000
    edges = np.linspace(-1, 1, 5)
    assert plot_histograms({'m': (edges, np.array([0, 3, 1, 0]))}, str(tmp_path / 'h.png'))
    assert plot_error_maps(ErrorMapKeeper(), str(tmp_path / 'none.png')) is None
