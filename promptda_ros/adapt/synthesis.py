# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Synthetic training pairs from relative depth (StarryGazer), no ground truth involved.

For one frame (RGB, its relative map, its real LiDAR prompt), at the network resolution:

1. **normalise** the relative map (:func:`promptda_ros.adapt.relative.normalise_relative`);
2. **metric base** ``D0``: the relative map aligned to the frame's *real* LiDAR by one
   least-squares scale and shift in inverse depth -- the LiDAR gives the metric scale only;
3. **segment** RGB + normalised relative depth with scikit-image's SLIC
   (:func:`segment`; ``n_segments`` drawn from :attr:`SynthesisConfig.n_segments`);
4. **rescale each segment** by its own random factor ``f_k = exp(clip(N(0, sigma^2), -m, m))``
   (``sigma`` = :attr:`SynthesisConfig.segment_sigma` = 0.15, ``m`` = 0.4: factors 0.67..1.49,
   median 1, about 68 % within +-15 %) and the whole image by a global factor ``g``,
   log-uniform in :attr:`SynthesisConfig.global_scale` (0.8..1.25): the dense pseudo-truth is
   ``D* = g * f[label] * D0``;
5. **sparse depth** sampled from ``D*`` with the LiDAR simulation of the training package
   (:func:`promptda_ros.train.lidar_sim.make_prompt`: beams from a sensor displaced from the
   camera with occlusion, range noise, dropouts and outliers, or random points), then more
   dropout of whole beams' worth of cells is left to those samplers.
6. **degrade** the relative map the network sees (with probability
   :attr:`SynthesisConfig.degrade_probability`): blur and noise, while ``D*`` keeps the clean
   map, so the network learns to restore edges from the RGB (measured in docs/starrygazer.md).

The network sees the RGB, the **un-rescaled** relative map, the sparse depth of ``D*`` and its
mask (plus their affine fit, see :mod:`promptda_ros.adapt.refine`); it must recover ``D*``,
i.e. learn to follow the sparse depth segment by segment where the relative map is wrong
between objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from promptda_ros.adapt.refine import apply_fit, prepare, Prepared, resize, sparse_to_grid
from promptda_ros.adapt.relative import normalise_relative
from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.eval.alignment import align_relative_depth

PATTERNS = ('beams', 'random', 'mix')


@dataclass(frozen=True)
class SynthesisConfig:
    """Settings of the pair synthesis.

    Attributes:
        n_segments: SLIC segment counts to draw from (per sample).
        compactness: SLIC compactness on [0, 1]-scaled features.
        relative_weight: weight of the normalised relative channel against RGB in SLIC.
        segment_sigma: standard deviation of the log segment factor.
        segment_max: bound of |log segment factor|.
        global_scale: (low, high) of the log-uniform global factor.
        pattern: sparse pattern: 'beams', 'random' or 'mix' (either, 50 / 50).
        beams: beam counts drawn for the 'beams' pattern.
        random_points: (low, high) point counts drawn for the 'random' pattern.
        degrade_probability: chance that the relative map the network sees is degraded
            (blurred by ``degrade_blur_px`` and noisy by ``degrade_noise``) while the
            pseudo-truth keeps the clean one: the network learns to restore edges from RGB.
        degrade_blur_px: (low, high) Gaussian sigma, pixels at the network resolution.
        degrade_noise: noise standard deviation, in units of the map's 1st..99th percentile
            range.
    """

    n_segments: tuple = (24, 48, 96)
    compactness: float = 0.3
    relative_weight: float = 2.0
    segment_sigma: float = 0.15
    segment_max: float = 0.4
    global_scale: tuple = (0.8, 1.25)
    pattern: str = 'mix'
    beams: tuple = (16, 32, 64)
    random_points: tuple = (500, 4000)
    degrade_probability: float = 0.5
    degrade_blur_px: tuple = (0.5, 2.0)
    degrade_noise: float = 0.02

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise InputError(f"pattern must be one of {', '.join(PATTERNS)}, got "
                             f"'{self.pattern}'")
        lo, hi = self.global_scale
        if not 0 < lo <= hi:
            raise InputError(f'global_scale must satisfy 0 < low <= high, got {self.global_scale}')
        if not self.n_segments or min(self.n_segments) < 1:
            raise InputError('n_segments must list positive counts')
        if not 0.0 <= self.degrade_probability <= 1.0:
            raise InputError(f'degrade_probability must be in [0, 1], got '
                             f'{self.degrade_probability}')
        lo, hi = self.degrade_blur_px
        if not 0.0 <= lo <= hi or self.degrade_noise < 0:
            raise InputError('degrade_blur_px must satisfy 0 <= low <= high and degrade_noise '
                             f'>= 0, got {self.degrade_blur_px} / {self.degrade_noise}')


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


@dataclass
class FrameBase:
    """What pair synthesis keeps of one unlabelled frame, at the network resolution.

    Attributes:
        rgb: (h, w, 3) uint8.
        rel: (h, w) float32 relative map (raw values, un-rescaled).
        space: 'inverse' or 'depth'.
        base_m: (h, w) float32 metres, D0 (relative aligned to the real LiDAR).
        labels: list of (h, w) int64 segmentations, one per ``config.n_segments`` entry.
        camera: PinholeCamera at the network resolution.
        image_hw: (H, W) of the original image, pixels.
        prompt_hw: (h0, w0) of the frame's real LiDAR prompt grid (simulated sparse depth is
            sampled on the same grid).
    """

    rgb: np.ndarray
    rel: np.ndarray
    space: str
    base_m: np.ndarray
    labels: list
    camera: object
    image_hw: tuple
    prompt_hw: tuple


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
    rgb_n = resize(rgb, net_hw)
    rel_n = resize(np.asarray(rel, np.float32), net_hw).astype(np.float32)
    sparse = sparse_to_grid(lidar_prompt_m, net_hw)
    valid = sparse > 0
    if int(valid.sum()) < 16:
        raise PromptError(f'only {int(valid.sum())} LiDAR samples to fix the metric scale')
    _, fit = align_relative_depth(rel_n.astype(np.float64), sparse, method='lstsq', space=space)
    base = apply_fit(rel_n, fit, space, (0.5 * float(sparse[valid].min()),
                                         2.0 * float(sparse[valid].max())))
    norm = normalise_relative(rel_n, space)
    labels = [segment(rgb_n, norm, n, config) for n in config.n_segments]
    cam = camera.scaled(int(net_hw[1]), int(net_hw[0]))
    return FrameBase(rgb_n, rel_n, space, base, labels, cam, tuple(np.shape(rgb)[:2]),
                     tuple(np.shape(lidar_prompt_m)))


def _degrade(rel: np.ndarray, rng: np.random.Generator, config: SynthesisConfig) -> np.ndarray:
    """Blur and add noise to a relative map (h, w) float32 (the monocular model's errors)."""
    import cv2

    sigma = float(rng.uniform(*config.degrade_blur_px))
    out = np.asarray(rel, np.float32)
    if sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    lo, hi = np.percentile(out, [1.0, 99.0])
    noise = config.degrade_noise * max(float(hi - lo), 1e-6)
    return (out + rng.normal(0.0, noise, out.shape)).astype(np.float32)


def synthesize(base: FrameBase, rng: np.random.Generator,
               config: SynthesisConfig = SynthesisConfig()) -> tuple:
    """Draw one synthetic (input, pseudo-truth) pair from a prepared frame.

    Args:
        base: output of :func:`frame_base`.
        rng: random generator (segment factors, global scale, sparse sampling, flips).
        config: synthesis settings.

    Returns:
        (Prepared network input, (h, w) float32 pseudo-truth metres ``D*``).

    Raises:
        PromptError: the sampled sparse depth is too sparse (rare; draw again).
    """
    from promptda_ros.train.lidar_sim import LidarSimConfig, make_prompt

    labels = base.labels[int(rng.integers(0, len(base.labels)))]
    k = int(labels.max()) + 1
    log_f = np.clip(rng.normal(0.0, config.segment_sigma, k), -config.segment_max,
                    config.segment_max)
    lo, hi = config.global_scale
    g = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    target = (base.base_m * g * np.exp(log_f)[labels]).astype(np.float32)
    pattern = config.pattern
    if pattern == 'mix':
        pattern = ('beams', 'random')[int(rng.integers(0, 2))]
    hw = target.shape
    grid = base.prompt_hw
    if pattern == 'beams':
        v_half = float(np.degrees(np.arctan2(base.camera.height / 2.0, base.camera.fy)))
        sim = LidarSimConfig(n_beams=int(config.beams[int(rng.integers(0, len(config.beams)))]),
                             vfov_deg=(-v_half - 2.0, v_half + 2.0))
        sparse = make_prompt('beams', target, rng, camera=base.camera, prompt_hw=grid,
                             config=sim)
    else:
        n = int(rng.integers(config.random_points[0], config.random_points[1] + 1))
        sparse = make_prompt('random', target, rng, prompt_hw=grid,
                             config=LidarSimConfig(n_random=n))
    rgb, rel = base.rgb, base.rel
    if rng.uniform() < config.degrade_probability:
        rel = _degrade(rel, rng, config)
    if rng.uniform() < 0.5:  # horizontal flip of every aligned map
        rgb, rel = rgb[:, ::-1], rel[:, ::-1]
        sparse, target = sparse[:, ::-1], target[:, ::-1]
    prep: Prepared = prepare(np.ascontiguousarray(rgb), np.ascontiguousarray(rel), base.space,
                             np.ascontiguousarray(sparse), hw, image_hw=base.image_hw)
    return prep, np.ascontiguousarray(target)
