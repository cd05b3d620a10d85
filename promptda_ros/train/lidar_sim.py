# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Simulated depth prompts made from ground-truth depth, for training (numpy only, all seeded).

Every sampler takes a ground-truth depth map ``depth_m`` (H, W) float metres (NaN, Inf and values
<= 0 are invalid) and returns a prompt grid (h, w) float32 metres with 0 = no measurement, the
convention of :mod:`promptda_ros.core.prompt`. Randomness comes only from the explicit
``np.random.Generator`` argument.

Patterns (:data:`PATTERNS`):

* ``naive``   - :func:`naive_downsample`: the ground truth averaged down to the prompt grid. The
  PromptDA paper's baseline: such a prompt is almost perfect, so a network trained on it learns to
  copy the prompt and breaks on real sensors.
* ``anchors`` - :func:`sparse_anchor_interpolation`: the paper's *sparse anchor interpolation*
  (Sec. 3.3). The ground truth is downsampled to the prompt grid, anchors are kept on a randomly
  distorted grid of stride 7, and every other cell takes a KNN average of the anchors weighted by
  RGB similarity, so the prompt is dense but carries the coarse, colour-bleeding errors of a
  low-resolution depth sensor.
* ``beams``   - :func:`simulate_beams` + :func:`beams_prompt`: a spinning multi-beam LiDAR
  displaced a few centimetres from the camera, ray-cast against the surface the ground truth
  describes (nearest return per beam and azimuth step, so occlusion and parallax appear), with
  range noise, dropouts and a few per cent outliers; its returns go through the package's one
  "LiDAR points -> prompt grid" function (:func:`promptda_ros.pipeline.lidar_prompt_grid`).
* ``random``  - :func:`random_points`: ``n`` ground-truth pixels drawn uniformly.
* ``lidar``   - the frame's real prompt (e.g. the projected LiDAR sweep of a bag).
* ``mix``     - one of :attr:`LidarSimConfig.mix` drawn per call.

:func:`make_prompt` dispatches on the pattern name.
"""

from dataclasses import dataclass
import math

import cv2
import numpy as np
from scipy.spatial import cKDTree

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.core.pointcloud import depth_to_points

DEFAULT_PROMPT_HW = (192, 256)
"""Prompt grid of the PromptDA paper (the iPhone LiDAR depth resolution), (h, w)."""

PATTERNS = ('naive', 'anchors', 'beams', 'random', 'lidar', 'mix')
SIMULATED = ('naive', 'anchors', 'beams', 'random')

# Rotation from the LiDAR frame (x forward, y left, z up) to the camera optical frame
# (x right, y down, z forward): columns are the LiDAR axes expressed in the camera frame.
R_CAM_LIDAR = np.array([[0.0, -1.0, 0.0],
                        [0.0, 0.0, -1.0],
                        [1.0, 0.0, 0.0]])


MIN_AZIMUTH_STEP_DEG = 0.01   # 36000 firings per beam and turn; finer only costs memory
MAX_AZIMUTH_STEP_DEG = 10.0
MAX_RANGE_NOISE_M = 1.0


@dataclass(frozen=True)
class LidarSimConfig:
    """Parameters of the simulated prompts (lengths in metres, angles in degrees).

    Attributes:
        n_beams: beams (rows) of the virtual LiDAR.
        offset_m: LiDAR origin in the camera optical frame (x right, y down, z forward); the
            default mounts it 8 cm above and 3 cm behind the camera.
        vfov_deg: (lowest, highest) beam elevation, evenly spaced.
        azimuth_step_deg: horizontal angle between two firings of a beam.
        range_noise_m: standard deviation of the Gaussian range noise.
        dropout: fraction of returns lost at random.
        outlier_frac: fraction of the remaining returns replaced by a uniformly random range
            between ``min_range_m`` and the farthest return (multi-path / mixed pixels).
        min_range_m: returns closer than this are dropped.
        max_range_m: returns farther than this are dropped.
        stride: anchor grid stride of the sparse anchor interpolation, prompt cells.
        jitter: maximum random displacement of an anchor from its grid node, prompt cells
            (None = stride // 2).
        k: anchors averaged per cell.
        colour_sigma: width of the RGB-similarity weight, 8-bit levels.
        n_random: points of the ``random`` pattern.
        mix: patterns the ``mix`` pattern draws from (uniformly).
    """

    n_beams: int = 32
    offset_m: tuple = (0.0, -0.08, -0.03)
    vfov_deg: tuple = (-15.0, 15.0)
    azimuth_step_deg: float = 0.2
    range_noise_m: float = 0.01
    dropout: float = 0.05
    outlier_frac: float = 0.02
    min_range_m: float = 0.1
    max_range_m: float = 100.0
    stride: int = 7
    jitter: int | None = None
    k: int = 4
    colour_sigma: float = 20.0
    n_random: int = 1000
    mix: tuple = ('naive', 'anchors', 'beams', 'random')

    def __post_init__(self):
        if int(self.n_beams) < 1:
            raise InputError(f'n_beams must be >= 1, got {self.n_beams}')
        if len(tuple(self.offset_m)) != 3 or not all(math.isfinite(float(v))
                                                     for v in self.offset_m):
            raise InputError(f'offset_m must be 3 finite numbers, got {self.offset_m!r}')
        lo, hi = (float(v) for v in self.vfov_deg)
        if not -89.0 < lo <= hi < 89.0:
            raise InputError(f'vfov_deg must satisfy -89 < low <= high < 89, got {self.vfov_deg}')
        if not MIN_AZIMUTH_STEP_DEG <= float(self.azimuth_step_deg) <= MAX_AZIMUTH_STEP_DEG:
            raise InputError(f'azimuth_step_deg must be in [{MIN_AZIMUTH_STEP_DEG}, '
                             f'{MAX_AZIMUTH_STEP_DEG}] degrees, got {self.azimuth_step_deg}')
        for name in ('dropout', 'outlier_frac'):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise InputError(f'{name} must be in [0, 1), got {getattr(self, name)}')
        if not 0.0 <= float(self.range_noise_m) <= MAX_RANGE_NOISE_M:
            raise InputError(f'range_noise_m must be in [0, {MAX_RANGE_NOISE_M}] m, got '
                             f'{self.range_noise_m}')
        if not 0.0 <= float(self.min_range_m) < float(self.max_range_m):
            raise InputError('need 0 <= min_range_m < max_range_m')
        if int(self.stride) < 1 or int(self.k) < 1 or int(self.n_random) < 1:
            raise InputError('stride, k and n_random must be >= 1')
        if self.jitter is not None and int(self.jitter) < 0:
            raise InputError(f'jitter must be >= 0, got {self.jitter}')
        if not float(self.colour_sigma) > 0:
            raise InputError(f'colour_sigma must be > 0, got {self.colour_sigma}')
        bad = [p for p in self.mix if p not in SIMULATED]
        if not self.mix or bad:
            raise InputError(f'mix must name simulated patterns {SIMULATED}, got {self.mix!r}')


def _depth(depth_m) -> tuple:
    """Return ((H, W) float32 with invalid cells 0, (H, W) bool valid) of a depth map."""
    depth = np.asarray(depth_m)
    if depth.ndim != 2 or depth.size == 0:
        raise InputError(f'depth_m must be a non-empty (H, W) array, got shape {depth.shape}')
    if not np.issubdtype(depth.dtype, np.floating):
        raise InputError(f'depth_m must be float metres, got dtype {depth.dtype}')
    depth = depth.astype(np.float32, copy=False)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth) & (depth > 0)
    return np.where(valid, depth, np.float32(0.0)), valid


def _grid_hw(prompt_hw, image_hw) -> tuple:
    if prompt_hw is None:
        return tuple(image_hw)
    try:
        h, w = (int(v) for v in prompt_hw)
    except (TypeError, ValueError):
        raise InputError(f'prompt_hw must be (height, width), got {prompt_hw!r}') from None
    if h < 1 or w < 1:
        raise InputError(f'prompt_hw must be positive, got {prompt_hw!r}')
    return h, w


def naive_downsample(depth_m, prompt_hw=DEFAULT_PROMPT_HW) -> np.ndarray:
    """Average the valid ground truth over each prompt cell (the paper's naive prompt).

    Each cell is the area-weighted mean of the valid pixels it covers (``cv2.INTER_AREA`` on the
    depth and on the validity mask); a cell with less than half of its area valid is 0.

    Args:
        depth_m: (H, W) float metres, NaN / Inf / <= 0 = invalid.
        prompt_hw: (h, w) of the grid; None = (H, W).

    Returns:
        (h, w) float32 metres, 0 = no measurement.
    """
    depth, valid = _depth(depth_m)
    h, w = _grid_hw(prompt_hw, depth.shape)
    if (h, w) == depth.shape:
        return depth.copy()
    num = cv2.resize(depth, (w, h), interpolation=cv2.INTER_AREA)
    den = cv2.resize(valid.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    with np.errstate(invalid='ignore', divide='ignore'):
        out = np.where(den >= 0.5, num / np.maximum(den, 1e-6), 0.0)
    return out.astype(np.float32)


def _check_rgb(rgb, image_hw) -> np.ndarray:
    image = np.asarray(rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f'rgb must be (H, W, 3) uint8, got {image.dtype} {image.shape}')
    if image.shape[:2] != tuple(image_hw):
        raise InputError(f'rgb is {image.shape[1]}x{image.shape[0]} but depth is '
                         f'{image_hw[1]}x{image_hw[0]}')
    return image


def anchor_cells(valid, rng: np.random.Generator, stride: int = 7,
                 jitter: int | None = None) -> np.ndarray:
    """Sample anchors on a randomly shifted and distorted grid.

    The grid has spacing ``stride`` with a random offset in ``[0, stride)`` per axis; each node
    moves independently by up to ``jitter`` cells per axis (uniform integers), is clipped to the
    grid, and is kept if that cell is valid.

    Args:
        valid: (h, w) bool, cells that hold a measurement.
        rng: random generator.
        stride: grid spacing, cells.
        jitter: maximum displacement, cells (None = stride // 2).

    Returns:
        (M, 2) int64 unique (row, col) anchor cells, row-major sorted.
    """
    valid = np.asarray(valid, dtype=bool)
    h, w = valid.shape
    stride = int(stride)
    jitter = stride // 2 if jitter is None else int(jitter)
    off_r, off_c = rng.integers(0, stride, size=2)
    rows, cols = np.meshgrid(np.arange(off_r, h, stride), np.arange(off_c, w, stride),
                             indexing='ij')
    rows = rows.ravel() + rng.integers(-jitter, jitter + 1, rows.size)
    cols = cols.ravel() + rng.integers(-jitter, jitter + 1, cols.size)
    rows = np.clip(rows, 0, h - 1)
    cols = np.clip(cols, 0, w - 1)
    cells = np.unique(rows * w + cols)
    cells = cells[valid.ravel()[cells]]
    return np.stack([cells // w, cells % w], axis=1).astype(np.int64)


def colour_weighted_knn(values, anchors_rc, rgb, k: int = 4,
                        colour_sigma: float = 20.0) -> np.ndarray:
    """Fill a grid from anchors: mean of the ``k`` nearest anchors weighted by RGB similarity.

    The weight of anchor ``a`` for cell ``c`` is ``exp(-|rgb[c] - rgb[a]|^2 / (2 sigma^2))``
    (``|.|`` the Euclidean norm over the 3 channels, 8-bit levels); where all ``k`` weights
    vanish the plain mean is used. Anchors keep their own value.

    Args:
        values: (h, w) float metres, read at the anchors only.
        anchors_rc: (M, 2) int (row, col) anchor cells, M >= 1.
        rgb: (h, w, 3) image at the grid's resolution (uint8 or float levels).
        k: anchors per cell (fewer if M < k).
        colour_sigma: sigma of the RGB weight, 8-bit levels.

    Returns:
        (h, w) float32 metres, dense.
    """
    values = np.asarray(values, dtype=np.float32)
    anchors = np.asarray(anchors_rc, dtype=np.int64)
    if anchors.ndim != 2 or anchors.shape[1] != 2 or anchors.shape[0] == 0:
        raise InputError(f'anchors_rc must be (M, 2) with M >= 1, got {anchors.shape}')
    h, w = values.shape
    colour = np.asarray(rgb, dtype=np.float32).reshape(h * w, 3)
    k_eff = min(int(k), anchors.shape[0])
    rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    cells = np.stack([rr.ravel(), cc.ravel()], axis=1)
    _, idx = cKDTree(anchors).query(cells, k=k_eff)
    idx = np.asarray(idx).reshape(h * w, k_eff)
    anchor_flat = anchors[:, 0] * w + anchors[:, 1]
    neigh = anchor_flat[idx]                                         # (h*w, k)
    diff2 = ((colour[:, None, :] - colour[neigh]) ** 2).sum(axis=2)  # (h*w, k)
    weight = np.exp(-diff2 / (2.0 * float(colour_sigma) ** 2))
    total = weight.sum(axis=1, keepdims=True)
    weight = np.where(total > 1e-12, weight / np.maximum(total, 1e-12), 1.0 / k_eff)
    out = (weight * values.ravel()[neigh]).sum(axis=1).astype(np.float32)
    out[anchor_flat] = values.ravel()[anchor_flat]
    return out.reshape(h, w)


def sparse_anchor_interpolation(depth_m, rgb, rng: np.random.Generator,
                                prompt_hw=DEFAULT_PROMPT_HW, stride: int = 7,
                                jitter: int | None = None, k: int = 4,
                                colour_sigma: float = 20.0) -> np.ndarray:
    """Simulate a low-resolution depth sensor by sparse anchor interpolation (PromptDA Sec. 3.3).

    Steps: :func:`naive_downsample` to the prompt grid; :func:`anchor_cells` on a distorted grid
    of spacing ``stride``; every cell filled from its ``k`` nearest anchors weighted by RGB
    similarity (:func:`colour_weighted_knn`, the image area-averaged to the grid).

    Args:
        depth_m: (H, W) float metres, NaN / Inf / <= 0 = invalid.
        rgb: (H, W, 3) uint8 image aligned with ``depth_m``.
        rng: random generator (grid offset and distortion).
        prompt_hw: (h, w) of the grid; None = (H, W).
        stride: anchor spacing, grid cells (7 in the paper).
        jitter: maximum anchor displacement, cells (None = stride // 2).
        k: anchors per cell.
        colour_sigma: RGB similarity width, 8-bit levels.

    Returns:
        (h, w) float32 metres, dense; all 0 when no anchor lands on valid ground truth.
    """
    depth, _ = _depth(depth_m)
    image = _check_rgb(rgb, depth.shape)
    h, w = _grid_hw(prompt_hw, depth.shape)
    low = naive_downsample(depth, (h, w))
    colour = image
    if (h, w) != depth.shape:
        colour = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    anchors = anchor_cells(low > 0, rng, stride, jitter)
    if anchors.shape[0] == 0:
        return np.zeros((h, w), np.float32)
    return colour_weighted_knn(low, anchors, colour, k, colour_sigma)


def random_points(depth_m, rng: np.random.Generator, n: int = 1000,
                  prompt_hw=None) -> np.ndarray:
    """Keep ``n`` valid ground-truth pixels drawn uniformly without replacement.

    Pixel (r, c) lands in grid cell ``(floor((r + 0.5) h / H), floor((c + 0.5) w / W))``; where
    several share a cell the nearest wins.

    Args:
        depth_m: (H, W) float metres, NaN / Inf / <= 0 = invalid.
        rng: random generator.
        n: number of points (all valid pixels if fewer).
        prompt_hw: (h, w) of the grid; None = (H, W).

    Returns:
        (h, w) float32 metres, 0 = no measurement.
    """
    depth, valid = _depth(depth_m)
    height, width = depth.shape
    h, w = _grid_hw(prompt_hw, depth.shape)
    flat = np.flatnonzero(valid)
    take = flat if flat.size <= int(n) else rng.choice(flat, size=int(n), replace=False)
    rows = ((take // width + 0.5) * h / height).astype(np.int64)
    cols = ((take % width + 0.5) * w / width).astype(np.int64)
    zbuf = np.full(h * w, np.inf)
    np.minimum.at(zbuf, np.minimum(rows, h - 1) * w + np.minimum(cols, w - 1),
                  depth.ravel()[take])
    return np.where(np.isfinite(zbuf), zbuf, 0.0).astype(np.float32).reshape(h, w)


def lidar_extrinsic(offset_m=(0.0, -0.08, -0.03)) -> np.ndarray:
    """Return T_cam_lidar (4, 4) of a LiDAR (x forward, z up) at ``offset_m`` (camera frame, m)."""
    T = np.eye(4)
    T[:3, :3] = R_CAM_LIDAR
    T[:3, 3] = np.asarray(offset_m, dtype=np.float64)
    return T


def beam_elevations(n_beams: int, vfov_deg=(-15.0, 15.0)) -> np.ndarray:
    """Return the (n_beams,) beam elevations in degrees, evenly spaced over ``vfov_deg``."""
    lo, hi = (float(v) for v in vfov_deg)
    if int(n_beams) == 1:
        return np.array([0.5 * (lo + hi)])
    return np.linspace(lo, hi, int(n_beams))


def simulate_beams(depth_m, camera: PinholeCamera, rng: np.random.Generator,
                   n_beams: int = 32, offset_m=(0.0, -0.08, -0.03), vfov_deg=(-15.0, 15.0),
                   azimuth_step_deg: float = 0.2, range_noise: float = 0.01,
                   dropout: float = 0.05, outlier_frac: float = 0.02,
                   min_range_m: float = 0.1, max_range_m: float = 100.0) -> tuple:
    """Ray-cast a virtual multi-beam LiDAR against the surface a depth map describes.

    The valid pixels of ``depth_m`` are back-projected to 3-D points (the camera-visible
    surface) and expressed in the LiDAR frame (x forward, y left, z up, origin ``offset_m`` in
    the camera optical frame). Each beam fires every ``azimuth_step_deg``; a firing returns the
    *nearest* surface point whose direction lies within half a beam footprint of the ray
    (footprint = the larger of one image pixel's angle and a tenth of the beam spacing), so
    surfaces hidden from the displaced sensor give no return (occlusion, parallax). The return is
    placed on the exact ray at the measured range plus Gaussian noise; then a fraction
    ``dropout`` of the returns is dropped and a fraction ``outlier_frac`` of the rest gets a
    uniformly random range in ``[min_range_m, farthest return]``.

    Args:
        depth_m: (H, W) float metres (z-depth), NaN / Inf / <= 0 = invalid.
        camera: camera of ``depth_m`` (same size).
        rng: random generator (noise, dropouts, outliers).
        n_beams: number of beams.
        offset_m: LiDAR origin in the camera optical frame, metres.
        vfov_deg: (lowest, highest) beam elevation, degrees.
        azimuth_step_deg: angle between firings, degrees.
        range_noise: range noise standard deviation, metres.
        dropout: fraction of returns lost.
        outlier_frac: fraction of returns with a random range.
        min_range_m: returns closer than this (after noise) are dropped, metres.
        max_range_m: returns farther than this (after noise) are dropped, metres.

    Returns:
        points: (N, 3) float32 metres in the LiDAR frame.
        T_cam_lidar: (4, 4) float64 LiDAR -> camera optical frame.
    """
    config = LidarSimConfig(n_beams=n_beams, offset_m=tuple(offset_m), vfov_deg=tuple(vfov_deg),
                            azimuth_step_deg=azimuth_step_deg, range_noise_m=range_noise,
                            dropout=dropout, outlier_frac=outlier_frac, min_range_m=min_range_m,
                            max_range_m=max_range_m)
    T_cam_lidar = lidar_extrinsic(config.offset_m)
    surface = depth_to_points(depth_m, camera).reshape(-1, 3)
    surface = surface[np.isfinite(surface[:, 2])].astype(np.float64)
    empty = np.zeros((0, 3), np.float32)
    if surface.shape[0] == 0:
        return empty, T_cam_lidar
    pts = (surface - T_cam_lidar[:3, 3]) @ R_CAM_LIDAR       # camera -> LiDAR frame
    rng_m = np.linalg.norm(pts, axis=1)
    ok = rng_m > 1e-6
    pts, rng_m = pts[ok], rng_m[ok]
    azimuth = np.degrees(np.arctan2(pts[:, 1], pts[:, 0]))
    elevation = np.degrees(np.arcsin(np.clip(pts[:, 2] / rng_m, -1.0, 1.0)))
    beams = beam_elevations(config.n_beams, config.vfov_deg)
    spacing = float(np.min(np.diff(beams))) if beams.size > 1 else 1.0
    pixel_deg = math.degrees(math.atan(1.0 / min(camera.fx, camera.fy)))
    half = 0.5 * max(pixel_deg, 0.1 * spacing)
    b = np.clip(np.rint((elevation - beams[0]) / spacing), 0, beams.size - 1).astype(np.int64) \
        if beams.size > 1 else np.zeros(elevation.shape, np.int64)
    hit = np.abs(elevation - beams[b]) <= half
    step = float(config.azimuth_step_deg)
    a = np.rint(azimuth / step).astype(np.int64)
    b, a, r = b[hit], a[hit], rng_m[hit]
    if r.size == 0:
        return empty, T_cam_lidar
    a0 = int(a.min())
    n_az = int(a.max()) - a0 + 1
    cell = b * n_az + (a - a0)
    zbuf = np.full(beams.size * n_az, np.inf)
    np.minimum.at(zbuf, cell, r)                               # nearest surface per firing
    fired = np.flatnonzero(np.isfinite(zbuf))
    ranges = zbuf[fired] + rng.normal(0.0, 1.0, fired.size) * config.range_noise_m
    keep = rng.random(fired.size) >= config.dropout
    fired, ranges = fired[keep], ranges[keep]
    if ranges.size:
        out = rng.random(ranges.size) < config.outlier_frac
        far = float(zbuf[fired].max())
        ranges[out] = rng.uniform(config.min_range_m, max(far, config.min_range_m + 1e-3),
                                  int(out.sum()))
    keep = (ranges >= config.min_range_m) & (ranges <= config.max_range_m)
    fired, ranges = fired[keep], ranges[keep]
    el = np.radians(beams[fired // n_az])
    az = np.radians((fired % n_az + a0) * step)
    dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=1)
    return (dirs * ranges[:, None]).astype(np.float32), T_cam_lidar


def beams_prompt(points_lidar, T_cam_lidar, camera: PinholeCamera,
                 prompt_hw=DEFAULT_PROMPT_HW) -> np.ndarray:
    """Project LiDAR returns onto the prompt grid with the package's LiDAR -> prompt function.

    Args:
        points_lidar: (N, 3) float metres in the LiDAR frame.
        T_cam_lidar: (4, 4) LiDAR -> camera optical frame.
        camera: camera of the full image.
        prompt_hw: (h, w) of the grid; None = the camera's size.

    Returns:
        (h, w) float32 metres, 0 = no return (nearest return per cell).
    """
    from promptda_ros.pipeline import lidar_prompt_grid, PipelineConfig
    h, w = _grid_hw(prompt_hw, (camera.height, camera.width))
    config = PipelineConfig(prompt_height=h, prompt_width=w, min_depth=0.0,
                            max_depth=math.inf)
    return lidar_prompt_grid(points_lidar, T_cam_lidar, camera, config)


def make_prompt(pattern: str, depth_m, rng: np.random.Generator, rgb=None,
                camera: PinholeCamera | None = None, real_prompt_m=None,
                prompt_hw=DEFAULT_PROMPT_HW, config: LidarSimConfig | None = None) -> np.ndarray:
    """Make a prompt of the named pattern (see the module docstring).

    Args:
        pattern: one of :data:`PATTERNS`.
        depth_m: (H, W) float metres ground truth, NaN / <= 0 = invalid.
        rng: random generator.
        rgb: (H, W, 3) uint8 image; needed by 'anchors'.
        camera: camera of ``depth_m``; needed by 'beams'.
        real_prompt_m: (h', w') float32 metres, 0 = none: the real prompt, needed by 'lidar'
            (returned as it is).
        prompt_hw: (h, w) of simulated grids; None = (H, W).
        config: simulation parameters (defaults: :class:`LidarSimConfig`).

    Returns:
        (h, w) float32 metres, 0 = no measurement.

    Raises:
        InputError: unknown pattern or a missing input the pattern needs.
    """
    config = config or LidarSimConfig()
    if pattern not in PATTERNS:
        raise InputError(f'unknown prompt pattern {pattern!r}; choose one of '
                         f"{', '.join(PATTERNS)}")
    if pattern == 'mix':
        pattern = str(config.mix[int(rng.integers(0, len(config.mix)))])
    if pattern == 'naive':
        return naive_downsample(depth_m, prompt_hw)
    if pattern == 'anchors':
        if rgb is None:
            raise InputError("prompt pattern 'anchors' needs the RGB image")
        return sparse_anchor_interpolation(depth_m, rgb, rng, prompt_hw, config.stride,
                                           config.jitter, config.k, config.colour_sigma)
    if pattern == 'random':
        return random_points(depth_m, rng, config.n_random, prompt_hw)
    if pattern == 'beams':
        if camera is None:
            raise InputError("prompt pattern 'beams' needs the camera model")
        points, T = simulate_beams(depth_m, camera, rng, config.n_beams, config.offset_m,
                                   config.vfov_deg, config.azimuth_step_deg,
                                   config.range_noise_m, config.dropout, config.outlier_frac,
                                   config.min_range_m, config.max_range_m)
        return beams_prompt(points, T, camera, prompt_hw)
    if real_prompt_m is None:
        raise InputError("prompt pattern 'lidar' needs the frame's real prompt (a bag with a "
                         'LiDAR or prompt-depth topic, or a folder with prompt/)')
    return np.asarray(real_prompt_m, dtype=np.float32)
