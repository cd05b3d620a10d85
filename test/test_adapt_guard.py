# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The 'starrygazer' backend is never worse than the LiDAR-only completion on the frame's LiDAR.

The refinement is a residual on the ``default`` backend's output; the serve-time guard holds out
part of the frame's own prompt and publishes the refinement only where it beats the LiDAR-only
completion there, else that completion itself (bit for bit what ``default`` publishes).
"""

import dataclasses

import numpy as np
import pytest
import torch

from promptda_ros.backends import make_backend
from promptda_ros.backends.relative import BagRelative, relative_for
from promptda_ros.backends.starrygazer import (
    block_holdout,
    distance_weights,
    gate_weights,
    grid_values,
    region_gate,
    seen_by_camera,
    StarryGazerBackend,
)
from promptda_ros.backends.starrygazer_net import RefineNet, save_refiner
from promptda_ros.backends.starrygazer_refiner import LidarOnly, StarryGazer
from promptda_ros.core.alignment import align_relative_depth
from promptda_ros.core.errors import InputError
from promptda_ros.eval.dataset import read_bag
from promptda_ros.eval.holdout import split_depth
from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_depth

from test_adapt_helpers import TINY, tiny_sample

CONFIG = PipelineConfig()


def _misleading(shape, seed=0):
    """A relative map that knows nothing of the scene: smooth random disparity."""
    import cv2

    grid = np.random.default_rng(seed).uniform(-1.0, 1.0, (3, 4))
    return np.exp(cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC))


class Trusting:
    """A refiner test double that trusts the relative map fully: its lstsq fit to the prompt."""

    lidar_only = LidarOnly()

    def refine(self, rgb, prompt_m, rel, space, camera=None, lidar_m=None):
        """Return the relative map aligned to the prompt (the LiDAR-only depth where invalid)."""
        aligned, _ = align_relative_depth(rel, prompt_m, method='lstsq', space=space)
        return np.where(np.isfinite(aligned) & (aligned > 0), aligned, lidar_m).astype(
            np.float32)


def _frames(tmp_path_factory):
    return list(read_bag(tiny_sample(tmp_path_factory, seed=6, frames=2, width=128,
                                     height=96)))


def test_misleading_relative_map_costs_nothing_on_held_out_points(tmp_path_factory, tmp_path):
    """Deliberately misleading maps: the output equals or beats default on held-out points."""
    rng = np.random.default_rng(0)
    net = RefineNet(dataclasses.replace(TINY, max_log_correction=1.0))
    with torch.no_grad():  # a refinement that is plainly wrong: 25 % too far everywhere
        net.head.bias[0].fill_(float(np.arctanh(np.log(1.25))))  # residual only
    far = save_refiner(net, str(tmp_path / 'far.safetensors'))
    default = DepthPipeline(make_backend('default'))
    for refiner in (StarryGazer(far), Trusting()):
        guarded = StarryGazerBackend(refiner, None)
        open_ = StarryGazerBackend(refiner, None, guard=False)
        worse_without_guard = 0
        for fr in _frames(tmp_path_factory):
            prompt_m, reference = split_depth(fr.prompt_m, 0.3, seed=7)
            prompt = prompt_from_depth(prompt_m, CONFIG)
            rel = _misleading(fr.rgb.shape[:2], int(rng.integers(100)))
            ref_cells = np.isfinite(reference)
            truth = reference[ref_cells]

            def score(backend):
                depth = DepthPipeline(backend.with_relative(rel, 'inverse')).predict(
                    fr.rgb, fr.camera, prompt, CONFIG).depth_m
                got = grid_values(depth, reference.shape, ref_cells)
                ok = np.isfinite(got)
                return depth, float(np.mean(np.abs(got[ok] - truth[ok])))

            lidar = default.predict(fr.rgb, fr.camera, prompt, CONFIG).depth_m
            got = grid_values(lidar, reference.shape, ref_cells)
            l1_default = float(np.mean(np.abs(got - truth)[np.isfinite(got)]))
            depth, l1_guarded = score(guarded)
            _, l1_open = score(open_)
            assert l1_guarded <= l1_default
            worse_without_guard += l1_open > l1_default
            if guarded.stats.last == 'lidar_only':
                assert np.array_equal(depth, lidar, equal_nan=True)  # default, bit for bit
        assert worse_without_guard >= 1  # the guard had something to catch
        assert guarded.stats.fallbacks >= 1


def test_guard_keeps_a_better_refinement_and_reports_it(tmp_path_factory, tmp_path):
    """A refinement that beats the LiDAR-only completion on held-out cells is published."""
    fr = _frames(tmp_path_factory)[0]

    class Oracle:
        """A refiner test double whose 'refinement' is the ground truth."""

        lidar_only = LidarOnly()

        def refine(self, rgb, prompt_m, rel, space, camera=None, lidar_m=None):
            return np.where(np.isfinite(fr.gt_m), fr.gt_m, lidar_m).astype(np.float32)

    backend = StarryGazerBackend(Oracle(), BagRelative())
    # every other measured cell: held-out blocks then lie between measured cells on all sides
    cells = np.flatnonzero(fr.prompt_m > 0)[::2]
    half = np.zeros_like(fr.prompt_m)
    half.flat[cells] = fr.prompt_m.flat[cells]
    prompt = prompt_from_depth(half, CONFIG)
    depth = DepthPipeline(backend.with_relative(relative_for(BagRelative(), fr),
                                                'inverse')).predict(
        fr.rgb, fr.camera, prompt, CONFIG).depth_m
    lidar = DepthPipeline(make_backend('default')).predict(fr.rgb, fr.camera, prompt,
                                                           CONFIG).depth_m
    st = backend.stats
    assert (st.frames, st.refined, st.fallbacks) == (1, 1, 0)
    # the sample's LiDAR is not its ground truth (noise, returns past edges): near measured
    # cells the LiDAR-only completion can look as good as the truth, so not every region wins
    assert st.last in ('refined', 'partial') and st.last_regions_refined >= 5
    assert st.last_l1_refined_m < st.last_l1_lidar_only_m and st.last_held_out > 8
    assert 0.5 < st.last_weight <= 1.0

    def l1(d):
        m = np.isfinite(d) & np.isfinite(fr.gt_m)
        return float(np.mean(np.abs(d[m] - fr.gt_m[m])))

    assert l1(depth) < 0.5 * l1(lidar)
    diag = backend.diagnostics()
    assert diag['starrygazer.refined'] == '1' and diag['starrygazer.last'] == st.last
    assert diag['starrygazer.guard'] == 'on'
    # too few prompt cells to judge by: the LiDAR-only completion, with the reason
    sparse = np.zeros_like(prompt.sparse_m)
    rows, cols = np.nonzero(prompt.sparse_m > 0)
    sparse[rows[:30], cols[:30]] = prompt.sparse_m[rows[:30], cols[:30]]
    backend.with_relative(relative_for(BagRelative(), fr), 'inverse').predict(
        fr.rgb, sparse, fr.camera)
    assert backend.stats.last == 'lidar_only' and 'held-out cells' in backend.stats.last_reason
    assert backend.diagnostics()['starrygazer.last_weight'] == '0.00'
    with pytest.raises(InputError):
        StarryGazerBackend(Oracle(), None, guard_fraction=1.5)


def test_grid_values_samples_cell_centres():
    depth = np.arange(48, dtype=np.float32).reshape(6, 8)
    cells = np.zeros((3, 4), bool)
    cells[0, 0] = cells[2, 3] = True
    assert grid_values(depth, (3, 4), cells).tolist() == [depth[1, 1], depth[5, 7]]


def test_block_holdout_holds_out_whole_blocks_reproducibly():
    """Held-out cells come in whole blocks, about the asked share, the same for the same seed."""
    valid = np.random.default_rng(4).uniform(size=(48, 64)) < 0.3
    held, blocks = block_holdout(valid, 0.2, seed=3, blocks_across=8)  # 8 x 8-cell blocks
    assert not (held & ~valid).any()
    assert blocks[0, 7] == blocks[7, 0] == 0 and blocks[0, 8] == 1 and blocks[8, 0] == 8
    for b in np.unique(blocks[held]):  # every valid cell of a chosen block is held out
        assert held[(blocks == b) & valid].all()
    # the blocks stop as soon as they reach the share: one block fewer would fall short
    last = np.bincount(blocks[held]).max()
    assert 0.2 * valid.sum() <= held.sum() < 0.2 * valid.sum() + last
    again, _ = block_holdout(valid, 0.2, seed=3, blocks_across=8)
    other, _ = block_holdout(valid, 0.2, seed=4, blocks_across=8)
    assert np.array_equal(held, again) and not np.array_equal(held, other)
    with pytest.raises(InputError):
        block_holdout(valid, 0.0)


def test_region_gate_decides_each_region_on_its_own_blocks():
    """Regions where the refinement wins keep it; losing, tied and unjudged regions do not."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:30, 0:30]
    rows, cols = rows.ravel(), cols.ravel()
    blocks = (rows // 2) * 15 + cols // 2
    gains = rng.normal(0.0, 0.01, rows.size)  # tied: noise around 0
    gains[cols < 10] += 0.05                  # left column of regions: the refinement wins
    gains[cols >= 20] -= 0.05                 # right column: it loses
    # top-left region: 2 blocks left (cells of rows 0-1, cols 6-9), too few to decide
    keep = ~((rows < 10) & (cols < 10) & ~((rows < 2) & (cols >= 6)))
    gate = region_gate(gains[keep], blocks[keep], rows[keep], cols[keep], (30, 30), (3, 3),
                       z=1.0, min_blocks=4)
    assert gate[1:, 0].tolist() == [1.0, 1.0] and gate[0, 0] == 0.0
    assert not gate[:, 2].any()
    # a refinement better across the frame, too little in each region to win there alone: the
    # frame's test keeps it wherever its region's mean gain is positive, not where it loses
    gains = rng.normal(0.0, 0.05, rows.size) + 0.012
    gains[(rows >= 20) & (cols >= 20)] -= 0.05
    gate = region_gate(gains, blocks, rows, cols, (30, 30), (3, 3), z=2.0, min_blocks=4)
    assert gate[2, 2] == 0.0 and gate.sum() >= 6
    region = rows // 10 * 3 + cols // 10
    alone = sum(region_gate(gains[region == k], blocks[region == k], rows[region == k],
                            cols[region == k], (30, 30), (3, 3), z=2.0, min_blocks=4).sum()
                for k in range(9))
    assert alone < gate.sum()  # judged one region at a time, most would fall back
    w = gate_weights(np.array([[1.0, 0.0]], np.float32), (4, 8))
    assert w[:, 0].tolist() == [1.0] * 4 and w[:, -1].tolist() == [0.0] * 4
    assert np.all(np.diff(w[0]) <= 0)  # no seam: falls from 1 to 0 between the centres


def test_gate_falls_back_region_wise_on_a_map_wrong_in_one_half(tmp_path_factory):
    """A refinement right on the left, 25 % too far on the right: kept left, LiDAR-only right."""
    fr = _frames(tmp_path_factory)[0]
    W = fr.rgb.shape[1]

    class HalfWrong:
        """A refiner test double: the ground truth on the left half, 25 % too far on the right."""

        lidar_only = LidarOnly()

        def refine(self, rgb, prompt_m, rel, space, camera=None, lidar_m=None):
            out = np.where(np.isfinite(fr.gt_m), fr.gt_m, lidar_m).astype(np.float32)
            out[:, W // 2:] = 1.25 * lidar_m[:, W // 2:]
            return out

    backend = StarryGazerBackend(HalfWrong(), None)
    # the prompt measures the ground truth (the sample's LiDAR has its own errors), so the
    # guard's held-out cells judge both completions against the truth
    cells = fr.prompt_m > 0
    exact = np.zeros_like(fr.prompt_m)
    exact[cells] = grid_values(fr.gt_m, fr.prompt_m.shape, cells)
    exact[~np.isfinite(exact)] = 0.0
    prompt = prompt_from_depth(exact, CONFIG)
    view = backend.with_relative(np.ones(fr.rgb.shape[:2]), 'inverse')
    depth = DepthPipeline(view).predict(fr.rgb, fr.camera, prompt, CONFIG).depth_m
    lidar = DepthPipeline(make_backend('default')).predict(fr.rgb, fr.camera, prompt,
                                                           CONFIG).depth_m
    st = backend.stats
    assert st.last == 'partial' and 3 <= st.last_regions_refined <= 6
    right = slice(W - W // 6, W)  # beyond the centres of the right regions: weight 0
    assert np.array_equal(depth[:, right], lidar[:, right], equal_nan=True)
    left = slice(0, W // 6)       # before the centres of the left regions: weight 1
    ok = np.isfinite(fr.gt_m[:, left]) & np.isfinite(lidar[:, left])
    assert np.allclose(depth[:, left][ok], fr.gt_m[:, left][ok], rtol=1e-4)

    def l1(d):
        m = np.isfinite(d) & np.isfinite(fr.gt_m)
        return float(np.mean(np.abs(d[m] - fr.gt_m[m])))

    unguarded = DepthPipeline(StarryGazerBackend(HalfWrong(), None, guard=False).with_relative(
        np.ones(fr.rgb.shape[:2]), 'inverse')).predict(fr.rgb, fr.camera, prompt, CONFIG)
    assert l1(depth) < min(l1(lidar), l1(unguarded.depth_m))
    assert backend.diagnostics()['starrygazer.last_regions_refined'] == \
        f'{st.last_regions_refined}/9'


def test_distance_weights_give_held_out_cells_the_grids_distances():
    """Blocks held out of a dense grid: inner cells lie far and weigh less than edge ones."""
    valid = np.ones((32, 32), bool)
    held, _ = block_holdout(valid, 0.2, seed=1, blocks_across=4)  # 8 x 8-cell blocks
    w = distance_weights(held, valid)
    from scipy import ndimage

    d = ndimage.distance_transform_edt(~(valid & ~held))[held]
    # every grid cell holds a measurement: all its distances are 0, so only the held-out cells
    # next to a kept one (distance 1, the first bin) carry weight, the inner ones none
    assert np.all(w[d <= 1.0] > 0) and np.all(w[d > 1.5] == 0)
    assert np.isclose(np.mean(w), 1.0)  # the weights of the held-out cells average to 1
    sparse = np.zeros((32, 32), bool)
    sparse[::4, ::2] = True  # rows of measurements 4 cells apart, like LiDAR scan lines
    held, _ = block_holdout(sparse, 0.2, seed=1, blocks_across=4)
    w = distance_weights(held, sparse)
    d = ndimage.distance_transform_edt(~(sparse & ~held))[held]
    # no grid cell lies more than 2 cells from a scan line: held-out cells farther inside a
    # block stand for no pixel and weigh nothing, the others stand for their share of the grid
    assert w.shape == (int(held.sum()),) and (d > 2.5).any() and (d <= 2.5).any()
    assert np.all(w[d > 2.5] == 0) and np.all(w[d <= 2.5] > 0)


def test_returns_seen_past_a_foreground_edge_do_not_judge():
    """A held-out background return beside a foreground edge is no reference for the camera."""
    prompt = np.full((192, 256), 4.0, np.float32)
    prompt[:, 100:140] = 1.0  # a foreground pole
    prompt[1::2] = 0.0  # every other row empty, as between scan lines
    seen = seen_by_camera(prompt, (480, 640))
    assert seen.shape == prompt.shape and not seen[prompt == 0].any()
    assert seen[0, 100:140].all()               # the foreground itself
    assert not seen[0, 140] and not seen[0, 99]  # background right beside it (parallax window)
    assert seen[0, 150] and seen[0, 10]         # background away from the edge
    # the default backend drops the same cells from its prompt: one rule, one place
    from promptda_ros.backends.default import occlusion_cells, OCCLUSION_MARGIN, remove_occluded

    kept = remove_occluded(prompt, occlusion_cells((480, 640), prompt.shape), OCCLUSION_MARGIN)
    assert np.array_equal(seen, kept > 0)
