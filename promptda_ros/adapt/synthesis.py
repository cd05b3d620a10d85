# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Synthetic training pairs from relative depth (StarryGazer), no ground truth involved.

For one frame (RGB, its relative map, its real LiDAR prompt), at the *synthesis* resolution
(the image's, long side capped at 640 px: the resolution the LiDAR-only completion is computed
at, as at inference):

1. **normalise** the relative map (:func:`promptda_ros.backends.relative.normalise_relative`);
2. **metric base** ``D0``: the relative map aligned to the frame's *real* LiDAR by one
   least-squares scale and shift in inverse depth -- the LiDAR gives the metric scale only;
3. **segment** RGB + normalised relative depth with scikit-image's SLIC
   (:func:`segment`; ``n_segments`` drawn from :attr:`SynthesisConfig.n_segments`);
4. **pseudo-truth**: every segment gets its own factor ``f_k = exp(clip(N(0, sigma^2), -m, m))``
   (``sigma`` drawn per pair, log-uniform in :attr:`SynthesisConfig.segment_sigma`, so pairs
   range from a monocular model right to 2 % between segments to one wrong by 8 %, the range
   of published relative-depth models after alignment; ``m`` = 0.4 bounds any factor to
   0.67..1.49)
   and the whole image a global factor ``g``, log-uniform in
   :attr:`SynthesisConfig.global_scale` (0.8..1.25): ``D* = g * f[label] * D0``;
5. **sparse depth** sampled from ``D*`` with the LiDAR simulation of the training package
   (:func:`promptda_ros.train.lidar_sim.make_prompt`: beams from a sensor displaced from the
   camera with occlusion, range noise, dropouts and outliers, or random points);
6. **the relative map the network sees** (at the network resolution) is ``D0`` -- wrong
   against ``D*`` segment by segment --
   further corrupted by the failure modes of monocular models (:data:`MODES`), each applied with
   probability :attr:`SynthesisConfig.degrade_probability` and a random strength
   (:func:`corrupt`): per-segment offsets from another segmentation, low-frequency warps, edge
   bleed, thin or distant structure put at the wrong depth, copied texture, blur and noise; with
   probability :attr:`SynthesisConfig.uninformative_probability` it is replaced by a smooth
   random field unrelated to the scene.

The network sees the RGB, the corrupted relative map, the sparse depth of ``D*``, its LiDAR-only
completion (:class:`promptda_ros.backends.starrygazer_refiner.LidarOnly`) and their fits
(see :mod:`promptda_ros.backends.starrygazer_net`); it must recover ``D*`` by gating between
the LiDAR-only completion and the locally aligned relative map, i.e. learn which parts of a
relative map deserve trust.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promptda_ros.backends.relative import normalise_relative
from promptda_ros.backends.starrygazer_refiner import (
    apply_fit,
    prepare,
    Prepared,
    resize,
    sparse_to_grid,
)
from promptda_ros.core.alignment import align_relative_depth
from promptda_ros.core.errors import InputError, PromptError

PATTERNS = ('beams', 'random', 'mix')
MODES = ('offset', 'warp', 'bleed', 'thin', 'texture', 'noise')
"""Failure modes of monocular models simulated on the relative map the network sees."""
SEGMENT_SIGMA = (0.02, 0.08)
"""Default (low, high) of the per-pair standard deviation of the log segment factor."""


@dataclass(frozen=True)
class SynthesisConfig:
    """Settings of the pair synthesis.

    Attributes:
        n_segments: SLIC segment counts to draw from (per sample).
        compactness: SLIC compactness on [0, 1]-scaled features.
        relative_weight: weight of the normalised relative channel against RGB in SLIC.
        segment_sigma: (low, high) of the standard deviation of the log segment factor,
            drawn log-uniform per pair.
        segment_max: bound of |log segment factor|.
        factor_smoothing: 0 = every segment keeps its own constant factor (jumps at every
            segment boundary); > 0 = the log factors are spread edge-aware along the relative
            map (domain transform, spatial sigma = this share of the image width), so they jump
            only where the relative map has an edge and vary smoothly inside a surface.
        global_scale: (low, high) of the log-uniform global factor.
        pattern: sparse pattern: 'beams', 'random' or 'mix' (either, 50 / 50).
        beams: beam counts drawn for the 'beams' pattern.
        random_points: (low, high) point counts drawn for the 'random' pattern.
        modes: failure modes simulated on the relative map the network sees (subset of
            :data:`MODES`; see :func:`corrupt`).
        degrade_probability: chance that each mode of ``modes`` is applied to a pair.
        degrade_blur_px: (low, high) Gaussian sigma of edge bleed, pixels at the network
            resolution.
        degrade_noise: (low, high) noise standard deviation, in units of the map's 1st..99th
            percentile range.
        uninformative_probability: chance that the relative map is replaced by a smooth random
            field (a monocular model that knows nothing of the scene).
    """

    n_segments: tuple = (24, 48, 96)
    compactness: float = 0.3
    relative_weight: float = 2.0
    segment_sigma: tuple = SEGMENT_SIGMA
    segment_max: float = 0.4
    factor_smoothing: float = 0.0
    global_scale: tuple = (0.8, 1.25)
    pattern: str = 'mix'
    beams: tuple = (16, 32, 64)
    random_points: tuple = (500, 4000)
    modes: tuple = MODES
    degrade_probability: float = 0.25
    degrade_blur_px: tuple = (0.25, 1.0)
    degrade_noise: tuple = (0.001, 0.01)
    uninformative_probability: float = 0.1

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise InputError(f"pattern must be one of {', '.join(PATTERNS)}, got "
                             f"'{self.pattern}'")
        lo, hi = self.global_scale
        if not 0 < lo <= hi:
            raise InputError(f'global_scale must satisfy 0 < low <= high, got {self.global_scale}')
        if not self.n_segments or min(self.n_segments) < 1:
            raise InputError('n_segments must list positive counts')
        for name in ('degrade_probability', 'uninformative_probability'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f'{name} must be in [0, 1], got {getattr(self, name)}')
        bad = sorted(set(self.modes) - set(MODES))
        if bad:
            raise InputError(f"unknown failure modes {', '.join(bad)} (known: "
                             f"{', '.join(MODES)})")
        for name in ('degrade_blur_px', 'degrade_noise', 'segment_sigma'):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi:
                raise InputError(f'{name} must satisfy 0 <= low <= high, got '
                                 f'{getattr(self, name)}')


def segment(rgb: np.ndarray, rel_n: np.ndarray, n_segments: int,
            config: SynthesisConfig = SynthesisConfig()) -> np.ndarray:
    """Segment an image on RGB + relative depth with scikit-image SLIC.

    Args:
        rgb: (h, w, 3) uint8 RGB.
        rel_n: (h, w) float normalised relative map in [0, 1].
        n_segments: approximate number of segments.
        config: compactness and relative-channel weight.

    Returns:
        (h, w) int64 labels 0..K-1.
    """
    from skimage.segmentation import slic

    feat = np.concatenate([np.asarray(rgb, np.float64) / 255.0,
                           config.relative_weight * np.asarray(rel_n, np.float64)[..., None]],
                          axis=-1)
    labels = slic(feat, n_segments=int(n_segments), compactness=config.compactness,
                  channel_axis=-1, start_label=0, convert2lab=False, enforce_connectivity=True)
    return np.asarray(labels, np.int64)


SYNTHESIS_LONG_SIDE = 640  # pseudo-truth and LiDAR-only completion resolution cap, pixels


@dataclass
class FrameBase:
    """What pair synthesis keeps of one unlabelled frame.

    Two resolutions: the *synthesis* resolution (the image's, long side capped at
    :data:`SYNTHESIS_LONG_SIDE`), where the pseudo-truth is built, the sparse depth sampled and
    the LiDAR-only completion computed, as at inference; and the network resolution (h, w),
    where the relative map is corrupted.

    Attributes:
        rgb: (h, w, 3) uint8, network resolution.
        rel: (h, w) float32 relative map (raw values, un-rescaled), network resolution.
        space: 'inverse' or 'depth'.
        base_m: (h, w) float32 metres, D0 (relative aligned to the real LiDAR), network
            resolution (area-averaged from :attr:`base_full_m`).
        labels: list of (h, w) int64 segmentations, one per ``config.n_segments`` entry
            (nearest-sampled from :attr:`labels_full`).
        camera: PinholeCamera at the network resolution.
        image_hw: (H, W) of the original image, pixels.
        prompt_hw: (h0, w0) of the frame's real LiDAR prompt grid (simulated sparse depth is
            sampled on the same grid).
        rgb_full: (Hs, Ws, 3) uint8, synthesis resolution.
        base_full_m: (Hs, Ws) float32 metres, D0 at the synthesis resolution.
        labels_full: list of (Hs, Ws) int64 SLIC segmentations at the synthesis resolution.
        camera_full: PinholeCamera at the synthesis resolution.
    """

    rgb: np.ndarray
    rel: np.ndarray
    space: str
    base_m: np.ndarray
    labels: list
    camera: object
    image_hw: tuple
    prompt_hw: tuple
    rgb_full: np.ndarray
    base_full_m: np.ndarray
    labels_full: list
    camera_full: object


def synthesis_hw(image_hw: tuple) -> tuple:
    """Return the synthesis resolution (h, w) of an (H, W) image (long side <= 640 px)."""
    H, W = int(image_hw[0]), int(image_hw[1])
    scale = min(1.0, SYNTHESIS_LONG_SIDE / max(H, W))
    return max(1, int(round(H * scale))), max(1, int(round(W * scale)))


def frame_base(rgb: np.ndarray, rel: np.ndarray, space: str, lidar_prompt_m: np.ndarray,
               camera, net_hw: tuple, config: SynthesisConfig = SynthesisConfig()
               ) -> FrameBase:
    """Prepare one unlabelled frame for pair synthesis (steps 1-3 of the module docstring).

    Args:
        rgb: (H, W, 3) uint8 RGB.
        rel: (H', W') float relative map of the image (same aspect).
        space: 'inverse' or 'depth'.
        lidar_prompt_m: (h0, w0) float metres, 0 = none: the frame's real LiDAR prompt, used for
            the metric scale only.
        camera: PinholeCamera of ``rgb``.
        net_hw: network resolution (h, w).
        config: synthesis settings.

    Raises:
        PromptError: too few LiDAR samples to fix the scale.
    """
    syn_hw = synthesis_hw(np.shape(rgb)[:2])
    rgb_s = np.ascontiguousarray(resize(rgb, syn_hw))
    rel_s = resize(np.asarray(rel, np.float32), syn_hw).astype(np.float32)
    sparse = sparse_to_grid(lidar_prompt_m, syn_hw)
    valid = sparse > 0
    if int(valid.sum()) < 16:
        raise PromptError(f'only {int(valid.sum())} LiDAR samples to fix the metric scale')
    _, fit = align_relative_depth(rel_s.astype(np.float64), sparse, method='lstsq', space=space)
    base_s = apply_fit(rel_s, fit, space, (0.5 * float(sparse[valid].min()),
                                           2.0 * float(sparse[valid].max())))
    norm = normalise_relative(rel_s, space)
    labels_s = [segment(rgb_s, norm, n, config) for n in config.n_segments]
    labels = [np.asarray(resize(lab.astype(np.int32), net_hw, nearest=True), np.int64)
              for lab in labels_s]
    cam = camera.scaled(int(net_hw[1]), int(net_hw[0]))
    cam_s = camera.scaled(int(syn_hw[1]), int(syn_hw[0]))
    return FrameBase(resize(rgb, net_hw), resize(rel_s, net_hw).astype(np.float32), space,
                     resize(base_s, net_hw).astype(np.float32), labels, cam,
                     tuple(np.shape(rgb)[:2]), tuple(np.shape(lidar_prompt_m)), rgb_s, base_s,
                     labels_s, cam_s)


def _smooth_field(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Return a (h, w) float64 field in about [-1, 1], bicubic from a random 2..5 x 2..5 grid."""
    import cv2

    grid = rng.uniform(-1.0, 1.0, (int(rng.integers(2, 6)), int(rng.integers(2, 6))))
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _thin_or_far(depth: np.ndarray, labels: np.ndarray, rng: np.random.Generator
                 ) -> np.ndarray:
    """Put thin or distant structure at the wrong depth (merged into / behind its surround).

    Args:
        depth: (h, w) float64 metres (> 0).
        labels: (h, w) int64 segmentation.
        rng: generator.

    Returns:
        (h, w) float64 metres: a few small segments take the depth of the ring around them
        (x U(0.95, 1.3): at or behind the background), and depths beyond a random upper
        percentile are compressed towards it (distance is underestimated far away).
    """
    import cv2

    out = depth.copy()
    k = int(labels.max()) + 1
    area = np.bincount(labels.ravel(), minlength=k)
    small = np.flatnonzero(area < np.percentile(area, 35))
    kernel = np.ones((5, 5), np.uint8)
    for lab in rng.permutation(small)[:int(rng.integers(1, 5))]:
        inside = labels == lab
        ring = cv2.dilate(inside.astype(np.uint8), kernel).astype(bool) & ~inside
        if ring.any():
            out[inside] = np.median(depth[ring]) * rng.uniform(0.95, 1.3)
    far = float(np.percentile(depth, rng.uniform(70.0, 95.0)))
    beyond = out > far
    out[beyond] = far + (out[beyond] - far) * rng.uniform(0.2, 0.8)
    return out


def _smooth_factors(log_f: np.ndarray, base: FrameBase, share: float) -> np.ndarray:
    """Spread per-segment log factors (Hs, Ws) edge-aware along the relative map (see config)."""
    from promptda_ros.backends.default import domain_transform_nc

    near = 1.0 / np.asarray(base.base_full_m, np.float32)
    lo, hi = np.percentile(near, [1.0, 99.0])
    guide = np.repeat(((near - lo) / max(float(hi - lo), 1e-9))[..., None], 3, axis=-1)
    signal = np.stack([log_f.astype(np.float32), np.ones_like(log_f, np.float32)], axis=-1)
    # the guide's 3 equal channels triple its differences: range sigma 3 x 0.05 of the range
    out = domain_transform_nc(guide.astype(np.float32), signal, share * log_f.shape[1], 0.15, 3)
    return out[..., 0] / np.maximum(out[..., 1], 1e-6)


def corrupt(base_m: np.ndarray, rgb: np.ndarray, labels: np.ndarray, space: str,
            rng: np.random.Generator, config: SynthesisConfig = SynthesisConfig()
            ) -> np.ndarray:
    """Turn a metric base into the relative map a faulty monocular model would give.

    Each mode of ``config.modes`` is applied with probability ``config.degrade_probability``
    and a random strength, in this order:

    * ``offset``: every segment of ``labels`` moves by its own depth offset, N(0, a^2) x the
      median depth with a ~ U(0, 0.08) (per-object offsets; the scale errors are already the
      difference between ``D0`` and the pseudo-truth);
    * ``warp``: multiplicative low-frequency warp ``exp(a F)``, F a smooth random field, a ~
      U(0.03, 0.15);
    * ``thin``: thin or distant structure put at the wrong depth (:func:`_thin_or_far`);
    * ``bleed``: edges bled, either a Gaussian blur of inverse depth (``degrade_blur_px``) or
      the near side dilated over the far one by 1 px (network pixels: ~5 px of a 640 px
      image);
    * ``texture``: the image's high-pass luminance copied into the map, 1..5 % of its range;
    * ``noise``: Gaussian noise of ``degrade_noise`` x its 1st..99th percentile range.

    Args:
        base_m: (h, w) float metres (> 0), the metric base ``D0``.
        rgb: (h, w, 3) uint8 RGB of the same view.
        labels: (h, w) int64 segmentation (one of :attr:`FrameBase.labels`).
        space: 'inverse' (return relative disparity) or 'depth' (affine-invariant depth).
        rng: generator.
        config: modes, probability and strengths.

    Returns:
        (h, w) float32 relative map in ``space``.
    """
    import cv2

    p = config.degrade_probability
    on = {m: (m in config.modes and rng.uniform() < p) for m in MODES}
    d = np.asarray(base_m, np.float64).copy()
    med = float(np.median(d))
    if on['offset']:
        k = int(labels.max()) + 1
        d = d + rng.normal(0.0, rng.uniform(0.0, 0.08) * med, k)[labels]
        d = np.maximum(d, 0.05 * med)
    if on['warp']:
        d = d * np.exp(rng.uniform(0.03, 0.15) * _smooth_field(d.shape, rng))
    if on['thin']:
        d = _thin_or_far(d, labels, rng)
    near = 1.0 / d
    if on['bleed']:
        if rng.uniform() < 0.5:
            near = cv2.GaussianBlur(near, (0, 0), float(rng.uniform(*config.degrade_blur_px)),
                                    borderType=cv2.BORDER_REFLECT)
        else:
            near = cv2.dilate(near, np.ones((3, 3), np.uint8))  # 1 network pixel
    lo, hi = np.percentile(near, [1.0, 99.0])
    span = max(float(hi - lo), 1e-9)
    if on['texture']:
        grey = np.asarray(rgb, np.float64).mean(axis=-1) / 255.0
        high = grey - cv2.GaussianBlur(grey, (0, 0), 3.0)
        near = near + rng.uniform(0.01, 0.05) * span * high / max(float(np.std(high)), 1e-6)
    if on['noise']:
        near = near + rng.normal(0.0, rng.uniform(*config.degrade_noise) * span, near.shape)
    near = np.maximum(near, lo * 0.1 + 1e-9)
    return (near if space == 'inverse' else 1.0 / near).astype(np.float32)


def uninformative(shape: tuple, space: str, rng: np.random.Generator) -> np.ndarray:
    """Return a (h, w) float32 relative map unrelated to the scene (a smooth random field)."""
    near = np.exp(0.5 * _smooth_field(shape, rng))
    return (near if space == 'inverse' else 1.0 / near).astype(np.float32)


def synthesize(base: FrameBase, rng: np.random.Generator,
               config: SynthesisConfig = SynthesisConfig(), lidar_only=None) -> tuple:
    """Draw one synthetic (input, pseudo-truth) pair from a prepared frame.

    Args:
        base: output of :func:`frame_base`.
        rng: random generator (segment factors, global scale, failure modes, sparse sampling,
            flips).
        config: synthesis settings.
        lidar_only: a :class:`promptda_ros.backends.starrygazer_refiner.LidarOnly`; None = a
            new one.

    Returns:
        (Prepared network input, (h, w) float32 pseudo-truth metres ``D*``, area-averaged from
        the synthesis resolution to the network's, as the LiDAR-only channel is).

    Raises:
        PromptError: the sampled sparse depth is too sparse (rare; draw again).
    """
    from promptda_ros.backends.starrygazer_refiner import LidarOnly
    from promptda_ros.train.lidar_sim import LidarSimConfig, make_prompt

    pick = int(rng.integers(0, len(base.labels)))
    labels = base.labels_full[pick]
    k = int(max(labels.max(), base.labels[pick].max())) + 1
    sigma = float(np.exp(rng.uniform(*np.log(np.maximum(config.segment_sigma, 1e-6)))))
    log_f = np.clip(rng.normal(0.0, sigma, k), -config.segment_max,
                    config.segment_max)
    lo, hi = config.global_scale
    g = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    field = log_f[labels]
    if config.factor_smoothing > 0:
        field = _smooth_factors(field, base, config.factor_smoothing)
    target_full = (base.base_full_m * g * np.exp(field)).astype(np.float32)
    pattern = config.pattern
    if pattern == 'mix':
        pattern = ('beams', 'random')[int(rng.integers(0, 2))]
    hw = base.base_m.shape
    grid = base.prompt_hw
    cam = base.camera_full
    if pattern == 'beams':
        v_half = float(np.degrees(np.arctan2(cam.height / 2.0, cam.fy)))
        sim = LidarSimConfig(n_beams=int(config.beams[int(rng.integers(0, len(config.beams)))]),
                             vfov_deg=(-v_half - 2.0, v_half + 2.0))
        sparse = make_prompt('beams', target_full, rng, camera=cam, prompt_hw=grid, config=sim)
    else:
        n = int(rng.integers(config.random_points[0], config.random_points[1] + 1))
        sparse = make_prompt('random', target_full, rng, prompt_hw=grid,
                             config=LidarSimConfig(n_random=n))
    rgb = base.rgb_full
    if rng.uniform() < config.uninformative_probability:
        rel = uninformative(hw, base.space, rng)
    else:
        other = base.labels[int(rng.integers(0, len(base.labels)))]
        rel = corrupt(base.base_m, base.rgb, other, base.space, rng, config)
    if rng.uniform() < 0.5:  # horizontal flip of every aligned map
        rgb, rel = rgb[:, ::-1], rel[:, ::-1]
        sparse, target_full = sparse[:, ::-1], target_full[:, ::-1]
    prep: Prepared = prepare(np.ascontiguousarray(rgb), np.ascontiguousarray(rel), base.space,
                             np.ascontiguousarray(sparse), hw,
                             lidar_only if lidar_only is not None else LidarOnly(),
                             camera=cam, image_hw=base.image_hw)
    return prep, np.ascontiguousarray(resize(target_full, hw), dtype=np.float32)
