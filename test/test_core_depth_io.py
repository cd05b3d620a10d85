# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Round trips of the depth file formats; depth in another unit than metres is refused."""

import cv2
import numpy as np
import pytest

from promptda_ros.core.depth_io import (
    check_metres,
    load_depth,
    load_depth_npy_m,
    load_depth_png_mm,
    save_depth_npy_m,
    save_depth_png_mm,
)
from promptda_ros.core.errors import InputError


def _depth():
    rng = np.random.default_rng(0)
    d = rng.uniform(0.2, 20.0, (12, 16)).astype(np.float32)
    d[0, 0] = np.nan
    d[1, 1] = 0.0
    d[2, 2] = np.inf
    d[3, 3] = -2.0
    return d


def test_png_mm_round_trip(tmp_path):
    d = _depth()
    path = tmp_path / 'depth.png'
    save_depth_png_mm(path, d)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == (12, 16)
    assert raw[0, 0] == raw[1, 1] == raw[2, 2] == raw[3, 3] == 0
    assert raw[5, 5] == int(np.rint(d[5, 5] * 1000))
    back = load_depth_png_mm(path)
    invalid = ~(np.isfinite(d) & (d > 0))
    assert np.all(np.isnan(back[invalid]))
    np.testing.assert_allclose(back[~invalid], d[~invalid], atol=0.0005 + 1e-6)
    sparse = load_depth_png_mm(path, sparse=True)
    assert np.all(sparse[invalid] == 0.0)
    np.testing.assert_array_equal(load_depth(path), sparse)


def test_npy_m_round_trip(tmp_path):
    d = _depth()
    path = tmp_path / 'depth.npy'
    save_depth_npy_m(path, d)
    back = load_depth_npy_m(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, d)
    prompt = load_depth(path)
    assert prompt[0, 0] == prompt[1, 1] == prompt[2, 2] == prompt[3, 3] == 0.0
    assert prompt[5, 5] == d[5, 5]


def test_depth_io_errors(tmp_path):
    with pytest.raises(InputError, match='exceed 65.535 m'):
        save_depth_png_mm(tmp_path / 'far.png', np.full((2, 2), 70.0))
    with pytest.raises(InputError, match=r'\(H, W\)'):
        save_depth_png_mm(tmp_path / 'x.png', np.zeros((2, 2, 3)))
    with pytest.raises(InputError, match='.png'):
        save_depth_png_mm(tmp_path / 'x.jpg', np.ones((2, 2)))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load_depth_png_mm(tmp_path / 'missing.png')
    cv2.imwrite(str(tmp_path / 'rgb.png'), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match='single-channel uint16'):
        load_depth_png_mm(tmp_path / 'rgb.png')
    with pytest.raises(InputError, match='unknown depth file type'):
        load_depth(tmp_path / 'depth.tiff')
    np.save(tmp_path / 'obj.npy', np.array([{'a': 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match='cannot load'):
        load_depth_npy_m(tmp_path / 'obj.npy')
    with pytest.raises(OSError):
        save_depth_png_mm(tmp_path / 'no' / 'such' / 'dir.png', np.ones((2, 2)))


def test_check_metres_names_millimetres():
    metres = np.array([[0.0, 0.55, 1.2], [np.nan, 77.8, 4.0]], np.float32)
    check_metres(metres, 'prompt')  # KITTI-like ranges pass
    check_metres(np.zeros((2, 2)), 'prompt')  # nothing measured: nothing to judge
    with pytest.raises(InputError, match=r'^reference x is not in metres \(median 2600, '
                       r'range 550\.\.77800\): it looks like millimetres'):
        check_metres(metres * 1000, 'reference x')
    with pytest.raises(InputError, match='no depth sensor measures a median beyond 200 m'):
        check_metres(metres * 1e6, 'prompt')
