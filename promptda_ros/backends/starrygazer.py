# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth backend 'starrygazer': the LiDAR-only completion refined with relative depth, guarded.

The backend runs a relative-depth *network* on every image (a live node has no relative-depth
files, and the node subscribes to no relative-depth topic): ``relative_source`` is
``'promptda_noprompt'`` (the PromptDA network of ``relative_checkpoint`` run without a prompt)
or ``'depth_anything_v2'`` (Depth Anything V2 weights in ``relative_checkpoint``).  The
refinement network (``checkpoint``, written by ``promptda-adapt``) gates, per pixel, between the
LiDAR-only completion (the ``default`` backend through the frame pipeline,
:class:`promptda_ros.backends.starrygazer_refiner.LidarOnly`) and the relative map locally
aligned to the prompt.  The relative map of a live image
comes from the source's ``from_image`` (:func:`promptda_ros.backends.relative.relative_of_image`):
no evaluation frame is involved.

**Guard** (on by default), a gate per region: before trusting the refinement on a frame, the
backend holds out whole blocks of the frame's own prompt cells (:func:`block_holdout`, seeded:
the same blocks for the same prompt), completes the rest both ways and compares them on the
held-out cells.  Whole blocks, not single cells: a cell held out next to measured neighbours
(the rest of its LiDAR row) is where the LiDAR-only interpolation is already right, and scores
there said the refinement was worse on frames where it was better everywhere between the rows
(docs/starrygazer.md).  The image is cut into :data:`GUARD_REGIONS` regions; each region keeps
the refinement only when its L1 on the held-out cells of that region is below the LiDAR-only
one by more than :data:`GUARD_Z` standard errors (one-sided, paired, the held-out block the
unit), else the LiDAR-only completion (:func:`region_gate`).  The cells are weighted so that
their distances to the remaining measurements follow those of the grid's cells to the full
prompt (:func:`distance_weights`): block cells alone lie farther from the measurements than
most pixels, where a refinement is at its best.  The region decisions, 1 or 0,
are interpolated bilinearly between region centres into a per-pixel weight ``w`` and the
published depth is ``lidar * (refined / lidar) ** w`` (:func:`gate_weights`); with no region
kept it is the LiDAR-only completion of the full prompt, bit for bit.
:meth:`StarryGazerBackend.diagnostics` reports what it did (the node publishes it on
``/diagnostics``).  Bags that carry a relative-depth topic are served by ``promptda-eval
--methods starrygazer`` through the same class (:meth:`StarryGazerBackend.with_relative`).

Imported lazily by the backend registry, so torch loads only when this backend is asked for.
Over 500 lines because the backend and its guard are one role: the held-out blocks, their
weights, the occlusion rule, the paired region test and the blending exist only to decide what
this backend publishes, and each is a small tested function here.
"""

import copy
from dataclasses import dataclass
import threading

import numpy as np

from promptda_ros.backends import NETWORK_RELATIVE_SOURCES
from promptda_ros.backends._common import check_inputs, check_options, mask_range
from promptda_ros.backends.relative import make_relative_source, relative_of_image
from promptda_ros.core.errors import CheckpointError, InputError, PromptError
from promptda_ros.core.holdout import check_fraction, holdout_mask

NAME = 'starrygazer'
_OPTIONS = ('checkpoint', 'relative_source', 'relative_checkpoint', 'device', 'input_size',
            'min_depth', 'max_depth', 'guard', 'guard_fraction', 'guard_seed')
GUARD_FRACTION = 0.2  # share of the prompt cells held out by the guard (whole blocks)
GUARD_SEED = 0        # seed of the guard's held-out blocks (the same blocks for the same prompt)
GUARD_MIN_CELLS = 8   # fewer held-out cells than this: nothing to judge by, LiDAR-only is kept
GUARD_BLOCKS_ACROSS = 32  # held-out blocks across the prompt grid: 8 x 8 cells on 192 x 256
GUARD_REGIONS = (3, 3)  # (rows, cols) of image regions the guard decides separately
GUARD_DISTANCE_BINS = (0.0, 1.5, 2.5, 4.0, 6.0)  # cells to the nearest measurement
GUARD_MIN_BLOCKS = 4  # held-out blocks with depth a region needs to decide (else LiDAR-only)
# A region keeps the refinement when it wins by more than GUARD_Z standard errors of the
# weighted mean per-cell difference of absolute errors (a one-sided paired test, the held-out
# block the unit).  2, not 1 or 1.5: nine regions are decided on each frame, and regions won by
# chance on a misleading relative map cost 0.6 % of L1 on the generated sample with 1 and
# 4 micrometres on the real frames with 1.5 (docs/starrygazer.md).
GUARD_Z = 2.0


def seen_by_camera(prompt_m: np.ndarray, image_hw: tuple) -> np.ndarray:
    """Prompt cells that can judge a completion: not a return seen past a foreground edge.

    A LiDAR displaced from the camera measures, beside a foreground edge, the background the
    camera does not see there; such a held-out return says a completion that follows the
    camera's edge is wrong.  The ``default`` backend's occlusion filter
    (:func:`promptda_ros.backends.default.remove_occluded`, its window scaled to the image)
    finds them on the full prompt.

    Args:
        prompt_m: (h, w) float32 metres, 0 = no measurement.
        image_hw: (H, W) of the camera image.

    Returns:
        (h, w) bool, True where a measurement is kept by the occlusion filter.
    """
    from promptda_ros.backends.default import occlusion_cells, OCCLUSION_MARGIN, remove_occluded

    prompt = np.asarray(prompt_m, np.float32)
    return remove_occluded(prompt, occlusion_cells(image_hw, prompt.shape),
                           OCCLUSION_MARGIN) > 0


def grid_values(depth_m: np.ndarray, grid_hw: tuple, cells: np.ndarray) -> np.ndarray:
    """Sample an image-resolution depth at the centres of prompt-grid cells.

    Args:
        depth_m: (H, W) float metres.
        grid_hw: (h, w) of the prompt grid.
        cells: (h, w) bool, the cells to sample.

    Returns:
        (n,) float metres, in row-major order of ``cells``.
    """
    H, W = np.shape(depth_m)
    rows, cols = np.nonzero(cells)
    r = np.minimum(((rows + 0.5) * H / grid_hw[0]).astype(np.int64), H - 1)
    c = np.minimum(((cols + 0.5) * W / grid_hw[1]).astype(np.int64), W - 1)
    return np.asarray(depth_m)[r, c]


def block_holdout(valid: np.ndarray, fraction: float, seed: int = GUARD_SEED,
                  blocks_across: int = GUARD_BLOCKS_ACROSS) -> tuple:
    """Hold out whole square blocks of prompt cells, about ``fraction`` of the valid cells.

    The grid is cut into square blocks of ``ceil(w / blocks_across)`` cells a side; blocks
    holding a measurement are taken in a seeded random order until their measurements reach
    ``fraction`` of all of them.  The held-out cells then lie up to half a block from the
    measurements that remain, as the pixels between a LiDAR's rows do, not only next to
    measured neighbours on their own row (:func:`distance_weights` evens out the mix).

    Args:
        valid: (h, w) bool, the prompt cells holding a measurement.
        fraction: share of the valid cells to hold out, in (0, 1).
        seed: seed of the block order (the same (valid, fraction, seed) gives the same blocks).
        blocks_across: blocks across the grid width (>= 1).

    Returns:
        ((h, w) bool held-out cells, a subset of ``valid``; (h, w) int64 block index of every
        cell).

    Raises:
        InputError: ``fraction`` outside (0, 1).
    """
    fraction = check_fraction(fraction)
    valid = np.asarray(valid, bool)
    h, w = valid.shape
    side = max(1, -(-w // max(1, int(blocks_across))))
    across = -(-w // side)
    ids = (np.arange(h)[:, None] // side) * across + (np.arange(w)[None, :] // side)
    counts = np.bincount(ids[valid], minlength=int(ids.max()) + 1)
    order = np.random.default_rng(int(seed)).permutation(np.flatnonzero(counts))
    taken = int(np.searchsorted(np.cumsum(counts[order]), fraction * valid.sum())) + 1
    chosen = np.zeros(counts.size, bool)
    chosen[order[:taken]] = True
    return valid & chosen[ids], ids


def distance_weights(held: np.ndarray, valid: np.ndarray,
                     edges: tuple = GUARD_DISTANCE_BINS) -> np.ndarray:
    """Weights that give the held-out cells the image's distances to the nearest measurement.

    Held out in blocks, the cells lie farther from the remaining measurements than the image's
    pixels lie from the measurements of the full prompt (a block's inner cells several cells
    away, against at most half the LiDAR's row spacing for most pixels); single cells lie
    nearer.  A refinement that is better far from the measurements and worse near them would be
    judged on the wrong mix.  Each held-out cell gets the weight ``share of grid cells in its
    distance bin / share of held-out cells in that bin`` (distances in cells, bins ``edges``),
    so the weighted mean over the held-out cells estimates the mean over the grid's cells.

    Args:
        held: (h, w) bool held-out cells (a subset of ``valid``).
        valid: (h, w) bool cells with a measurement (the full prompt).
        edges: increasing bin edges in cells (the last bin is open).

    Returns:
        (n,) float64 weights of the held-out cells in row-major order (0 for a bin with no
        grid cell; a grid bin without held-out cells gets no weight anywhere).
    """
    from scipy import ndimage

    rest = np.asarray(valid, bool) & ~np.asarray(held, bool)
    if not rest.any():
        return np.ones(int(np.count_nonzero(held)))
    d_held = ndimage.distance_transform_edt(~rest)[held]
    d_grid = ndimage.distance_transform_edt(~np.asarray(valid, bool))
    bins = np.asarray(edges, np.float64)
    b_held = np.searchsorted(bins, d_held, side='right') - 1
    b_grid = np.searchsorted(bins, d_grid.ravel(), side='right') - 1
    share_grid = np.bincount(b_grid, minlength=bins.size) / max(1, b_grid.size)
    share_held = np.bincount(b_held, minlength=bins.size) / max(1, b_held.size)
    ratio = np.where(share_held > 0, share_grid / np.maximum(share_held, 1e-12), 0.0)
    return ratio[b_held]


def region_gate(gains_m: np.ndarray, blocks: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                grid_hw: tuple, regions: tuple = GUARD_REGIONS, z: float = GUARD_Z,
                min_blocks: int = GUARD_MIN_BLOCKS, weights: np.ndarray | None = None
                ) -> np.ndarray:
    """Decide per image region whether the refinement beats the LiDAR-only completion.

    Args:
        gains_m: (n,) float metres, per held-out cell ``|lidar - truth| - |refined - truth|``
            (positive = the refinement is closer).
        blocks: (n,) int block index of each cell (:func:`block_holdout`): the unit of the test.
        rows, cols: (n,) int grid position of each cell.
        grid_hw: (h, w) of the prompt grid.
        regions: (rows, cols) of regions the grid is cut into (equal shares of it).
        z: a region keeps the refinement when the weighted mean gain of its cells exceeds
            ``z`` standard errors (one-sided paired test), or when the whole frame's does
            (all held-out blocks, the same test) and the region's own mean gain is positive:
            a refinement better across the frame is kept wherever its region does not say
            otherwise, one better in one region only must win there on its own.
        min_blocks: fewer held-out blocks in a region: no decision, the LiDAR-only completion.
        weights: (n,) float weights of the cells (:func:`distance_weights`); None = all 1.
            The region's gain is the weighted mean over its cells, its standard error that of
            a ratio estimate over its blocks (the block is the unit: its cells are correlated).

    Returns:
        (regions[0], regions[1]) float32: 1 = refinement kept in that region, 0 = LiDAR-only.
    """
    ry, rx = int(regions[0]), int(regions[1])
    region = (np.minimum(np.asarray(rows) * ry // int(grid_hw[0]), ry - 1) * rx
              + np.minimum(np.asarray(cols) * rx // int(grid_hw[1]), rx - 1))
    gains = np.asarray(gains_m, np.float64)
    wts = np.ones_like(gains) if weights is None else np.asarray(weights, np.float64)
    blocks = np.asarray(blocks)
    frame = _paired_test(gains, wts, blocks, np.ones(gains.shape, bool), min_blocks)
    frame_won = frame is not None and frame[0] > z * frame[1]
    gate = np.zeros(ry * rx, np.float32)
    for k in range(ry * rx):
        test = _paired_test(gains, wts, blocks, region == k, min_blocks)
        if test is None:
            continue
        mean, stderr = test
        gate[k] = float(mean > z * stderr or (frame_won and mean > 0.0))
    return gate.reshape(ry, rx)


def _paired_test(gains: np.ndarray, wts: np.ndarray, blocks: np.ndarray, inside: np.ndarray,
                 min_blocks: int):
    """Return (weighted mean gain, its standard error) over ``inside``, blocks the unit.

    None when fewer than ``max(2, min_blocks)`` blocks or no weight lie inside.
    """
    units, inv = np.unique(blocks[inside], return_inverse=True)
    if units.size < max(2, int(min_blocks)):
        return None
    w_b = np.bincount(inv, weights=wts[inside])          # weight per block
    s_b = np.bincount(inv, weights=(wts * gains)[inside])  # weighted gain per block
    total = float(w_b.sum())
    if total <= 0:
        return None
    mean = float(s_b.sum()) / total
    n = units.size
    return mean, float(np.sqrt(n / (n - 1.0) * np.sum((s_b - mean * w_b) ** 2))) / total


def gate_weights(gate: np.ndarray, image_hw: tuple) -> np.ndarray:
    """Per-pixel weight of the refinement: region decisions interpolated between their centres.

    Args:
        gate: (ry, rx) float, 1 = refinement kept in that region, 0 = not.
        image_hw: (H, W) pixels.

    Returns:
        (H, W) float32 in [0, 1] (bilinear between region centres, constant beyond the outer
        ones): no seam where a kept region meets a rejected one.
    """
    import cv2

    H, W = int(image_hw[0]), int(image_hw[1])
    return np.clip(cv2.resize(np.asarray(gate, np.float32), (W, H),
                              interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


@dataclass
class GuardStats:
    """What the guard did (cumulative since start-up, and on the last frame).

    Attributes:
        frames: frames served.
        refined: frames that published the refinement in at least one region.
        fallbacks: frames that published the LiDAR-only completion everywhere.
        regions_refined: regions that kept the refinement, summed over frames (of
            ``frames`` x the regions of :data:`GUARD_REGIONS`).
        last: 'refined' (every region), 'partial' (some regions), 'lidar_only' or 'off'
            (guard disabled) for the last frame.
        last_reason: why the last frame fell back everywhere ('' otherwise).
        last_l1_refined_m: L1 of the refinement on the held-out cells, metres (NaN = unknown).
        last_l1_lidar_only_m: L1 of the LiDAR-only completion on the same cells, metres.
        last_held_out: held-out cells of the last frame.
        last_regions_refined: regions that kept the refinement on the last frame.
        last_weight: share of the last image where the refinement was published (the mean of
            the per-pixel weight; 0 = LiDAR-only, 1 = the refinement everywhere).
    """

    frames: int = 0
    refined: int = 0
    fallbacks: int = 0
    regions_refined: int = 0
    last: str = ''
    last_reason: str = ''
    last_l1_refined_m: float = float('nan')
    last_l1_lidar_only_m: float = float('nan')
    last_held_out: int = 0
    last_regions_refined: int = 0
    last_weight: float = 0.0


class StarryGazerBackend:
    """``predict(rgb, prompt_m, camera=None) -> (H, W) float32 metres`` (NaN = invalid)."""

    name = NAME
    needs_sparse_prompt = True  # the refinement wants measured cells only, not a filled grid

    def __init__(self, refiner, source, min_depth: float = 0.0,
                 max_depth: float = float('inf'), guard: bool = True,
                 guard_fraction: float = GUARD_FRACTION, guard_seed: int = GUARD_SEED) -> None:
        """Wrap a :class:`~promptda_ros.backends.starrygazer_refiner.StarryGazer` and a source.

        ``source`` is a network relative source (its ``from_image`` is called per image) or None
        for a backend served only through :meth:`with_relative`.
        """
        holdout_mask(np.ones(1, bool), guard_fraction)  # InputError unless in (0, 1)
        self.refiner = refiner
        self.source = source
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.guard = bool(guard)
        self.guard_fraction = float(guard_fraction)
        self.guard_seed = int(guard_seed)
        self.stats = GuardStats()
        self._lock = threading.Lock()

    def with_relative(self, rel: np.ndarray, space: str) -> 'StarryGazerBackend':
        """Return a view of this backend whose relative map is ``rel`` (one frame's, (H, W)).

        The view shares the networks and the statistics; ``promptda-eval`` runs it through the
        frame pipeline on a bag's own relative maps.
        """
        view = copy.copy(self)
        view.source = _FixedRelative(np.asarray(rel, np.float64), space)
        return view

    def predict(self, rgb: np.ndarray, prompt_m: np.ndarray, camera=None) -> np.ndarray:
        """Predict depth.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            prompt_m: (h, w) float32 metres, 0 = no measurement.
            camera: PinholeCamera of ``rgb`` or None; when given, its size must match the image.

        Returns:
            (H, W) float32 metres, NaN outside (min_depth, max_depth].
        """
        image, prompt = check_inputs(NAME, rgb, prompt_m, camera)
        rel = relative_of_image(self.source, image, prompt, camera)
        depth = self._guarded(image, prompt, rel, self.source.space, camera)
        return mask_range(depth, self.min_depth, self.max_depth)

    def _guarded(self, image, prompt, rel, space, camera) -> np.ndarray:
        """Return the refinement where the guard keeps it, the LiDAR-only completion elsewhere.

        Args:
            image: (H, W, 3) uint8 RGB. prompt: (h, w) float32 metres, 0 = no measurement.
            rel: (H, W) float relative map. space: 'inverse' or 'depth'.
            camera: PinholeCamera of ``image`` or None.

        Returns:
            (H, W) float32 metres: ``lidar * (refined / lidar) ** w`` with the per-pixel weight
            ``w`` of :func:`gate_weights` (all 1 without the guard); the LiDAR-only completion
            bit for bit where no region keeps the refinement.
        """
        refiner = self.refiner
        lidar = refiner.lidar_only(image, prompt, camera)
        gate = np.ones(GUARD_REGIONS, np.float32)
        reason, l1_ref, l1_lid, n_held = '', float('nan'), float('nan'), 0
        if self.guard:
            gate[:] = 0.0
            held, blocks = block_holdout(prompt > 0, self.guard_fraction, self.guard_seed)
            n_held = int(held.sum())
            if n_held < GUARD_MIN_CELLS:
                reason = f'{n_held} held-out cells (< {GUARD_MIN_CELLS})'
            else:
                rest = np.where(held, 0.0, prompt).astype(np.float32)
                try:
                    lid_rest = refiner.lidar_only(image, rest, camera)
                    ref_rest = refiner.refine(image, rest, rel, space, camera, lid_rest)
                except PromptError as exc:
                    reason = f'prompt without held-out cells too sparse ({exc})'
                else:
                    a = grid_values(ref_rest, prompt.shape, held)
                    b = grid_values(lid_rest, prompt.shape, held)
                    both = np.isfinite(a) & np.isfinite(b) & seen_by_camera(
                        prompt, image.shape[:2])[held]
                    if not both.any():
                        reason = 'no held-out cell with depth'
                    else:
                        truth = prompt[held][both]
                        err_lid = np.abs(b[both] - truth)
                        err_ref = np.abs(a[both] - truth)
                        l1_lid, l1_ref = float(np.mean(err_lid)), float(np.mean(err_ref))
                        rows, cols = np.nonzero(held)
                        weights = distance_weights(held, prompt > 0)[both]
                        gate = region_gate(err_lid - err_ref, blocks[held][both],
                                           rows[both], cols[both], prompt.shape,
                                           weights=weights)
                        if not gate.any():
                            reason = (f'no region won on its held-out blocks (L1 '
                                      f'{l1_ref:.4f} m refined vs {l1_lid:.4f} m LiDAR-only)')
        kept = int(np.count_nonzero(gate))
        weight = 0.0
        if kept:
            refined = refiner.refine(image, prompt, rel, space, camera, lidar)
            if kept == gate.size:
                depth, weight = refined, 1.0
            else:
                w = gate_weights(gate, image.shape[:2])
                depth = (lidar * (refined / lidar) ** w).astype(np.float32)
                weight = float(np.mean(w))
        else:
            depth = lidar
        with self._lock:
            st = self.stats
            st.frames += 1
            st.refined += int(kept > 0)
            st.fallbacks += int(kept == 0)
            st.regions_refined += kept
            if not self.guard:
                st.last = 'off'
            else:
                st.last = ('refined' if kept == gate.size else 'partial') if kept else \
                    'lidar_only'
            st.last_reason = reason
            st.last_l1_refined_m, st.last_l1_lidar_only_m = l1_ref, l1_lid
            st.last_held_out = n_held
            st.last_regions_refined = kept
            st.last_weight = weight
        return depth

    def diagnostics(self) -> dict:
        """Return the guard's statistics as ``/diagnostics`` key -> value strings."""
        with self._lock:
            st = copy.copy(self.stats)
        return {'starrygazer.guard': 'on' if self.guard else 'off',
                'starrygazer.frames': str(st.frames),
                'starrygazer.refined': str(st.refined),
                'starrygazer.fallbacks': str(st.fallbacks),
                'starrygazer.last': st.last,
                'starrygazer.last_reason': st.last_reason,
                'starrygazer.last_l1_refined_m': f'{st.last_l1_refined_m:.4f}',
                'starrygazer.last_l1_lidar_only_m': f'{st.last_l1_lidar_only_m:.4f}',
                'starrygazer.last_held_out_cells': str(st.last_held_out),
                'starrygazer.regions_refined': str(st.regions_refined),
                'starrygazer.last_regions_refined': f'{st.last_regions_refined}/'
                                                    f'{GUARD_REGIONS[0] * GUARD_REGIONS[1]}',
                'starrygazer.last_weight': f'{st.last_weight:.2f}'}


class _FixedRelative:
    """A relative source that returns one given map (see :meth:`with_relative`)."""

    def __init__(self, rel: np.ndarray, space: str) -> None:
        self.rel = rel
        self.space = space

    def from_image(self, rgb=None, prompt_m=None, camera=None) -> np.ndarray:
        """Return the (H, W) map, whatever the image."""
        return self.rel


def make_starrygazer_backend(**options) -> StarryGazerBackend:
    """Build the 'starrygazer' backend.

    Options: ``checkpoint`` (refinement weights, required), ``relative_source``
    ('promptda_noprompt' or 'depth_anything_v2', required), ``relative_checkpoint`` (weights of
    that network, required), ``device`` ('cpu' / 'cuda'), ``input_size`` (PromptDA network input
    (h, w) for 'promptda_noprompt'), ``min_depth`` / ``max_depth`` (metres, output range),
    ``guard`` (default True), ``guard_fraction`` (held-out share, default 0.2) and
    ``guard_seed`` (default 0) of the serve-time guard.

    Raises:
        InputError: unknown option, or no relative source configured.
        CheckpointError: missing or unloadable weights (refinement weights of another config
            or not refinement weights at all).
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise InputError('unknown starrygazer backend options: %s (known: %s)'
                         % (', '.join(unknown), ', '.join(_OPTIONS)))
    weights = options.get('checkpoint')
    if not weights:
        raise CheckpointError("backend 'starrygazer' needs its refinement weights: "
                              'checkpoint=PATH (written by promptda-adapt)')
    kind = options.get('relative_source') or ''
    if kind not in NETWORK_RELATIVE_SOURCES:
        raise InputError("backend 'starrygazer' has no relative source configured: set "
                         "relative_source to 'promptda_noprompt' or 'depth_anything_v2' and "
                         'relative_checkpoint to its weights' if not kind else
                         f"backend 'starrygazer': relative_source must be one of "
                         f"{', '.join(NETWORK_RELATIVE_SOURCES)}, got '{kind}'")
    rel_ckpt = options.get('relative_checkpoint') or ''
    if not rel_ckpt:
        raise CheckpointError(f"backend 'starrygazer': relative_source {kind} needs "
                              'relative_checkpoint (its network weights)')
    from promptda_ros.backends.starrygazer_refiner import StarryGazer  # loads torch

    device = options.get('device') or 'cpu'
    lo, hi = check_options(NAME, options.get('min_depth', 0.0),
                           options.get('max_depth', float('inf')))
    refiner = StarryGazer(weights, device=device)
    source = make_relative_source(kind, checkpoint=rel_ckpt, device=device,
                                  input_size=options.get('input_size'))
    return StarryGazerBackend(refiner, source, lo, hi,
                              guard=bool(options.get('guard', True)),
                              guard_fraction=float(options.get('guard_fraction', GUARD_FRACTION)),
                              guard_seed=int(options.get('guard_seed', GUARD_SEED)))
