# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Training data of ``promptda-train``: a frame cache and the augmented training samples.

Frames come from bags and frame folders through the evaluation's readers
(:func:`promptda_ros.eval.dataset.open_input`) and are written once to ``OUT/frames/<split>/``
as ``NNNNNN.npz`` (``rgb`` (H, W, 3) uint8, ``gt`` (H, W) float32 metres with NaN = invalid,
``prompt`` (h, w) float32 metres with 0 = none (the frame's real prompt), ``P`` (3, 4) float64
camera projection), so that every epoch, DataLoader worker and torchrun rank reads the same
arrays.

A training sample (:class:`TrainFrames`), seeded by (seed, epoch, frame):

1. resize so that the image covers the network input size, times a random scale in
   ``[1, scale_jitter]`` (RGB area / bilinear, ground truth nearest, camera scaled);
2. random crop to the input size (a multiple of 14), camera cropped;
3. prompt of the chosen pattern made from the cropped ground truth (:mod:`lidar_sim`), or the
   real prompt's cells under the crop; projected / resampled onto the prompt grid, then
   validated and hole-filled exactly as at inference
   (:func:`promptda_ros.pipeline.prompt_from_sparse`); a prompt that cannot be used (too few
   returns) falls back to the naive pattern;
4. horizontal flip (p = 0.5) of image, ground truth and prompt;
5. colour jitter: brightness, contrast and saturation factors in ``[1 - c, 1 + c]``.
"""

from dataclasses import dataclass
import glob
import os

import cv2
import numpy as np
import torch

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.train.lidar_sim import LidarSimConfig, make_prompt, naive_downsample
from promptda_ros.train.loop import split_code

CACHE_DIR = 'frames'


def cache_dir(out: str, split: str) -> str:
    """Return the cache folder of ``split`` ('train' / 'val') in run folder ``out``."""
    return os.path.join(out, CACHE_DIR, split)


def write_frame(path: str, frame) -> None:
    """Write one :class:`~promptda_ros.eval.dataset.EvalFrame` to ``path`` (.npz)."""
    np.savez(path, rgb=np.ascontiguousarray(frame.rgb, np.uint8),
             gt=np.asarray(frame.gt_m, np.float32), prompt=np.asarray(frame.prompt_m, np.float32),
             P=np.asarray(frame.camera.P, np.float64),
             size=np.array([frame.camera.width, frame.camera.height]))


@dataclass
class CachedFrame:
    """One cached frame (arrays as in the module docstring)."""

    rgb: np.ndarray
    gt: np.ndarray
    prompt: np.ndarray
    camera: PinholeCamera


def read_frame(path: str) -> CachedFrame:
    """Read a frame written by :func:`write_frame`."""
    with np.load(path) as data:
        width, height = (int(v) for v in data['size'])
        P = data['P']
        camera = PinholeCamera(width=width, height=height, K=P[:, :3], P=P)
        return CachedFrame(data['rgb'], data['gt'], data['prompt'], camera)


def cached_paths(folder: str) -> list:
    """Return the sorted frame files of a cache folder."""
    return sorted(glob.glob(os.path.join(folder, '*.npz')))


def build_cache(inputs: list, out: str, val_inputs: list | None = None,
                val_fraction: float = 0.2, open_options: dict | None = None,
                stride: int = 1, max_frames: int | None = None) -> dict:
    """Read every input frame once and write the train / val caches.

    Args:
        inputs: bags or frame folders to train on.
        out: run folder.
        val_inputs: held-out inputs; None = the last ``val_fraction`` of each input's frames.
        val_fraction: share of each input held out when ``val_inputs`` is None.
        open_options: keyword options of :func:`~promptda_ros.eval.dataset.open_input`.
        stride: keep every ``stride``-th frame.
        max_frames: at most this many frames per input.

    Returns:
        ``{'train': n, 'val': n, 'skipped': [reasons]}``.

    Raises:
        InputError: unreadable input, no reference depth, or an empty split.
    """
    from promptda_ros.eval.dataset import open_input, strided
    options = dict(open_options or {})
    skipped: list = []
    splits: dict = {'train': [], 'val': []}

    def frames_of(path):
        opts = dict(options)
        if not os.path.isdir(os.path.join(path, 'rgb')):
            opts['skipped'] = skipped
        return list(strided(open_input(path, **opts), stride, max_frames))

    for path in inputs:
        frames = frames_of(path)
        if val_inputs is None:
            n_val = int(round(len(frames) * float(val_fraction)))
            if val_fraction > 0 and len(frames) > 1:
                n_val = max(1, n_val)
            splits['train'] += frames[:len(frames) - n_val]
            splits['val'] += frames[len(frames) - n_val:]
        else:
            splits['train'] += frames
    for path in val_inputs or []:
        splits['val'] += frames_of(path)
    if not splits['train']:
        raise InputError('no training frame with reference depth in %s' % ', '.join(inputs))
    counts: dict = {}
    for split, frames in splits.items():
        folder = cache_dir(out, split)
        os.makedirs(folder, exist_ok=True)
        for i, frame in enumerate(frames):
            write_frame(os.path.join(folder, '%06d.npz' % i), frame)
        counts[split] = len(frames)
    counts['skipped'] = skipped
    return counts


@dataclass(frozen=True)
class SampleConfig:
    """How :class:`TrainFrames` makes a sample (units in the attributes).

    Attributes:
        input_hw: network input (h, w), px, multiples of 14.
        prompt_hw: prompt grid (h, w), cells.
        pattern: prompt pattern (:data:`promptda_ros.train.lidar_sim.PATTERNS`).
        fill: prompt hole filling ('pyramid' / 'morph' / 'knn'), as the frame pipeline does.
        scale_jitter: maximum extra zoom before the crop (>= 1).
        flip: random horizontal flips.
        colour_jitter: brightness / contrast / saturation amplitude (0 = off).
        sim: LiDAR simulation parameters.
        seed: augmentation seed.
    """

    input_hw: tuple
    prompt_hw: tuple = (192, 256)
    pattern: str = 'beams'
    fill: str = 'pyramid'
    scale_jitter: float = 1.25
    flip: bool = True
    colour_jitter: float = 0.2
    sim: LidarSimConfig = LidarSimConfig()
    seed: int = 0


def filled_prompt(sparse: np.ndarray, fill: str) -> np.ndarray:
    """Validate and fill a sparse prompt as the frame pipeline does; PromptError if unusable.

    Args:
        sparse: (h, w) float32 metres, 0 = no measurement.
        fill: 'pyramid', 'morph' or 'knn'.

    Returns:
        (h, w) float32 metres, dense.
    """
    from promptda_ros.pipeline import PipelineConfig, prompt_from_sparse
    h, w = sparse.shape
    config = PipelineConfig(prompt_height=h, prompt_width=w, prompt_fill=fill)
    return prompt_from_sparse(sparse, config).filled_m


def frame_prompt(pattern: str, frame: CachedFrame, rng: np.random.Generator, prompt_hw: tuple,
                 fill: str, sim: LidarSimConfig) -> tuple:
    """Make and fill a prompt for a frame; fall back to the naive pattern if it is unusable.

    Args:
        pattern: prompt pattern name.
        frame: the frame (its ``prompt`` is the real prompt for 'lidar').
        rng: random generator.
        prompt_hw: (h, w) grid of simulated prompts; real prompts are resampled to it (nearest).
        fill: hole filling.
        sim: simulation parameters.

    Returns:
        (filled (h, w) float32 metres, used pattern name).
    """
    sparse = make_prompt(pattern, frame.gt, rng, rgb=frame.rgb, camera=frame.camera,
                         real_prompt_m=frame.prompt, prompt_hw=prompt_hw, config=sim)
    if sparse.shape != tuple(prompt_hw):
        sparse = cv2.resize(sparse, (prompt_hw[1], prompt_hw[0]),
                            interpolation=cv2.INTER_NEAREST)
    try:
        return filled_prompt(sparse, fill), pattern
    except PromptError:
        return filled_prompt(naive_downsample(frame.gt, prompt_hw), fill), 'naive'


def _crop_real_prompt(prompt: np.ndarray, full_hw: tuple, box: tuple) -> np.ndarray:
    """Cells of a full-image prompt grid under the crop ``box`` = (y0, x0, h, w) of full_hw."""
    gh, gw = prompt.shape
    y0, x0, h, w = box
    r0, r1 = int(y0 * gh / full_hw[0]), int(np.ceil((y0 + h) * gh / full_hw[0]))
    c0, c1 = int(x0 * gw / full_hw[1]), int(np.ceil((x0 + w) * gw / full_hw[1]))
    return np.ascontiguousarray(prompt[r0:max(r1, r0 + 1), c0:max(c1, c0 + 1)])


def jitter_colour(rgb: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Scale brightness, contrast and saturation by random factors in [1 - a, 1 + a].

    Args:
        rgb: (H, W, 3) uint8.
        rng: random generator.
        amount: jitter amplitude ``a``.

    Returns:
        (H, W, 3) uint8.
    """
    if amount <= 0:
        return rgb
    b, c, s = rng.uniform(1.0 - amount, 1.0 + amount, 3)
    x = rgb.astype(np.float32) * b
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - grey.mean()) * c + grey.mean()
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - grey[..., None]) * s + grey[..., None]
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def augment(frame: CachedFrame, config: SampleConfig, rng: np.random.Generator) -> dict:
    """Make one training sample (steps in the module docstring).

    Returns:
        dict of numpy arrays: ``rgb`` (h, w, 3) uint8, ``gt`` (h, w) float32 metres NaN invalid,
        ``prompt`` (ph, pw) float32 metres dense, and the ``pattern`` used.
    """
    in_h, in_w = config.input_hw
    height, width = frame.gt.shape
    scale = max(in_h / height, in_w / width) * rng.uniform(1.0, max(1.0, config.scale_jitter))
    new_h, new_w = max(in_h, int(round(height * scale))), max(in_w, int(round(width * scale)))
    shrink = new_h < height
    rgb = cv2.resize(frame.rgb, (new_w, new_h),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    gt = cv2.resize(frame.gt, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    camera = frame.camera.scaled(new_w, new_h)
    y0 = int(rng.integers(0, new_h - in_h + 1))
    x0 = int(rng.integers(0, new_w - in_w + 1))
    rgb = np.ascontiguousarray(rgb[y0:y0 + in_h, x0:x0 + in_w])
    gt = np.ascontiguousarray(gt[y0:y0 + in_h, x0:x0 + in_w])
    camera = camera.cropped(x0, y0, in_w, in_h)
    real = np.zeros((1, 1), np.float32)
    if config.pattern == 'lidar':
        real = _crop_real_prompt(frame.prompt, (new_h, new_w), (y0, x0, in_h, in_w))
    crop = CachedFrame(rgb, gt, real, camera)
    prompt, used = frame_prompt(config.pattern, crop, rng, config.prompt_hw, config.fill,
                                config.sim)
    if config.flip and rng.random() < 0.5:
        rgb, gt, prompt = rgb[:, ::-1], gt[:, ::-1], prompt[:, ::-1]
    rgb = jitter_colour(np.ascontiguousarray(rgb), rng, config.colour_jitter)
    return {'rgb': rgb, 'gt': np.ascontiguousarray(gt), 'prompt': np.ascontiguousarray(prompt),
            'pattern': used}


def to_tensors(sample: dict) -> dict:
    """Turn an :func:`augment` sample into network tensors.

    Returns:
        ``pixel`` (3, h, w) float ImageNet-normalised, ``prompt`` (1, ph, pw) float metres,
        ``gt`` (h, w) float metres (0 where invalid), ``mask`` (h, w) bool.
    """
    from promptda_ros.model.processing import ImageNormaliser
    rgb = sample['rgb']
    pixel = ImageNormaliser('cpu')(rgb, rgb.shape[:2])[0]
    gt = torch.from_numpy(sample['gt'].astype(np.float32))
    mask = torch.isfinite(gt) & (gt > 0)
    return {'pixel': pixel, 'prompt': torch.from_numpy(sample['prompt'].astype(np.float32))[None],
            'gt': torch.where(mask, gt, torch.zeros_like(gt)), 'mask': mask}


class TrainFrames(torch.utils.data.Dataset):
    """Augmented training samples from a frame cache; indexed by ``epoch * n + frame``."""

    def __init__(self, folder: str, config: SampleConfig):
        """Index the cached frames of ``folder``; InputError if there is none."""
        self.paths = cached_paths(folder)
        if not self.paths:
            raise InputError(f'no cached frame in {folder}')
        self.config = config

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, code: int) -> dict:
        index, epoch = split_code(code, len(self.paths))
        rng = np.random.default_rng([int(self.config.seed), int(epoch), int(index)])
        sample = augment(read_frame(self.paths[index]), self.config, rng)
        return to_tensors(sample)
