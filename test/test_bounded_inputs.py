# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Bounded inputs without ROS: prompt images reduced to the grid, the image-area bound."""

import time

import numpy as np
import pytest

from promptda_ros.core.errors import InputError
from promptda_ros.pipeline import PipelineConfig, prompt_from_depth, reduce_to_grid
from promptda_ros.ros.params import apply_changes, MAX_IMAGE_AREA, PerceptionParams


def _zbuffer_reference(sparse: np.ndarray, grid_hw: tuple) -> np.ndarray:
    """Per-cell minimum of the valid pixels, one pixel at a time (np.minimum.at)."""
    height, width = sparse.shape
    out_h, out_w = min(height, grid_hw[0]), min(width, grid_hw[1])
    rows = (np.arange(height) * out_h) // height
    cols = (np.arange(width) * out_w) // width
    ref = np.full((out_h, out_w), np.inf, np.float32)
    v, u = np.nonzero(sparse > 0)
    np.minimum.at(ref, (rows[v], cols[u]), sparse[v, u])
    return np.where(np.isfinite(ref), ref, 0.0).astype(np.float32)


@pytest.mark.parametrize('shape, grid', [((1440, 1920), (192, 256)), ((97, 131), (10, 7)),
                                         ((50, 300), (192, 256)), ((5, 5), (5, 5))])
def test_reduce_to_grid_keeps_the_nearest_measurement_of_each_cell(shape, grid):
    rng = np.random.default_rng(sum(shape))
    sparse = np.where(rng.random(shape) < 0.05, 0.5 + 9.0 * rng.random(shape), 0.0)
    sparse = sparse.astype(np.float32)
    out = reduce_to_grid(sparse, grid)
    assert out.dtype == np.float32
    assert out.shape == (min(shape[0], grid[0]), min(shape[1], grid[1]))
    assert np.array_equal(out, _zbuffer_reference(sparse, grid))
    empty = reduce_to_grid(np.zeros(shape, np.float32), grid)
    assert not empty.any()


def test_a_full_resolution_prompt_image_takes_bounded_time():
    rng = np.random.default_rng(0)
    prompt = np.where(rng.random((1440, 1920)) < 0.3, 0.0, 1.0 + rng.random((1440, 1920)))
    config = PipelineConfig(prompt_fill='knn')  # ~10 s at 1440 x 1920, ms at 192 x 256
    start = time.perf_counter()
    result = prompt_from_depth(prompt.astype(np.float32), config)
    assert time.perf_counter() - start < 3.0
    assert result.filled_m.shape == result.sparse_m.shape == config.prompt_hw
    small = prompt_from_depth(prompt[:96, :128].astype(np.float32), config)
    assert small.sparse_m.shape == (96, 128)  # within the grid: used at its own resolution


def test_output_size_is_bounded_by_max_image_area():
    assert MAX_IMAGE_AREA == PerceptionParams().max_image_area == 4096 * 3072
    PerceptionParams(output_size=(3072, 4096))
    with pytest.raises(InputError, match='max_image_area'):
        PerceptionParams(output_size=(3073, 4096))
    params = PerceptionParams(output_size=(480, 640))
    with pytest.raises(InputError, match='max_image_area'):
        apply_changes(params, {'output_size': [100000, 100000]})
    with pytest.raises(InputError, match='max_image_area'):
        apply_changes(params, {'max_image_area': 480 * 640 - 1})
    assert apply_changes(params, {'max_image_area': 480 * 640}).max_image_area == 480 * 640
    with pytest.raises(InputError, match='max_image_area'):
        PerceptionParams(max_image_area=0)
