# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Relative depth: one interface, several sources (serving, evaluation and training use them).

A *relative source* is a callable ``source(frame) -> (H', W') float64`` with an attribute
``space``: ``'inverse'`` (relative disparity, larger = nearer, as Depth Anything outputs it) or
``'depth'`` (affine-invariant depth).  ``frame`` is anything with the fields of
:class:`promptda_ros.eval.dataset.EvalFrame` that the source needs (``rgb`` (H, W, 3) uint8,
``prompt_m`` (h, w) metres, ``camera``, ``name``, ``index``, ``relative``).  The map is returned
at its own resolution; :func:`relative_for` checks that it matches the image's aspect ratio and
resizes it to the image.  The network sources
(:data:`~promptda_ros.backends.NETWORK_RELATIVE_SOURCES`) need nothing but the image and its
prompt: they also offer ``from_image(rgb, prompt_m, camera)``, which the
``starrygazer`` backend calls on live images (:func:`relative_of_image`).

Sources (``make_relative_source(kind, ...)``; their names are the table
:data:`promptda_ros.backends.RELATIVE_SOURCES`):

``bag``
    the frame's own relative map, read from a bag topic (default ``/camera/relative_depth``,
    32FC1) by :func:`promptda_ros.bagio.read_frames`; the bundled sample carries one.
``disk``
    maps in a folder: ``<frame name>.npy|.png`` or ``<index:06d>.npy|.png``.
``promptda_noprompt``
    the PromptDA network run without a real prompt (a constant prompt, see
    :class:`NoPromptRelative`), relative *depth*.
``depth_anything_v2``
    Depth Anything V2 (transformers ``DepthAnythingForDepthEstimation``: a ``-hf`` folder or the
    official ``.pth``), relative disparity.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from promptda_ros.backends import RELATIVE_SOURCES
from promptda_ros.bagio import RELATIVE_TOPIC
from promptda_ros.core.alignment import SPACES
from promptda_ros.core.errors import InputError

NEUTRAL_PROMPT_M = 10.0  # constant level of the uninformative prompt (metres)
ASPECT_TOLERANCE = 0.02  # relative difference of aspect ratios accepted before resizing


def read_relative(path: str) -> np.ndarray:
    """Read a relative map (.npy float or 8/16-bit .png, raw values) as (H, W) float64."""
    if path.endswith('.npy'):
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f'cannot read relative map {path}: {exc}') from exc
    else:
        import cv2

        arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise InputError(f'cannot read relative map {path}')
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise InputError(f'relative map {path} must be single-channel (H, W), got {arr.shape}')
    return arr.astype(np.float64)


def fit_to_image(rel: np.ndarray, image_hw: tuple, what: str) -> np.ndarray:
    """Resize a relative map to the image, refusing another aspect ratio.

    Args:
        rel: (h, w) relative map (any float).
        image_hw: (H, W) of the frame's image, pixels.
        what: name of the map in error messages.

    Returns:
        (H, W) float64.

    Raises:
        InputError: not 2-D, or its aspect ratio differs from the image's by more than 2 %
            (a map of another camera or a transposed map).
    """
    rel = np.asarray(rel)
    if rel.ndim == 3 and rel.shape[2] == 1:
        rel = rel[..., 0]
    if rel.ndim != 2 or min(rel.shape) < 2:
        raise InputError(f'{what} must be a single-channel (H, W) map, got shape {rel.shape}')
    H, W = int(image_hw[0]), int(image_hw[1])
    if rel.shape == (H, W):
        return rel.astype(np.float64)
    a_rel, a_img = rel.shape[1] / rel.shape[0], W / H
    if abs(a_rel / a_img - 1.0) > ASPECT_TOLERANCE:
        raise InputError(f'{what} is {rel.shape[1]}x{rel.shape[0]} but the image is {W}x{H} '
                         '(another aspect ratio: not a map of this image)')
    import cv2

    return cv2.resize(rel.astype(np.float64), (W, H), interpolation=cv2.INTER_LINEAR)


class BagRelative:
    """The relative map carried by the frame itself (a bag's relative-depth topic)."""

    def __init__(self, space: str = 'inverse', topic: str = RELATIVE_TOPIC) -> None:
        self.space = space
        self.topic = topic

    def __call__(self, frame) -> np.ndarray:
        """Return the frame's (H', W') float64 relative map."""
        rel = getattr(frame, 'relative', None)
        if rel is None:
            raise InputError(f'frame {frame.name} has no relative map: the input has no '
                             f'relative-depth topic {self.topic} (or no message within the '
                             'pairing slop); choose another relative source')
        return np.asarray(rel, np.float64)


class DiskRelative:
    """Relative maps from a folder, matched to frames by name or index."""

    def __init__(self, folder: str, space: str = 'inverse') -> None:
        if not folder or not os.path.isdir(folder):
            raise InputError(f'relative-map folder {folder} is not a folder')
        self.folder = folder
        self.space = space

    def files(self) -> list[str]:
        """Return the sorted .npy / .png file names of the folder."""
        return sorted(n for n in os.listdir(self.folder) if n.endswith(('.npy', '.png')))

    def __call__(self, frame) -> np.ndarray:
        """Return the (H', W') float64 relative map of ``frame``."""
        for stem in (frame.name, f'{frame.index:06d}'):
            for ext in ('.npy', '.png'):
                p = os.path.join(self.folder, stem + ext)
                if os.path.isfile(p):
                    return read_relative(p)
        raise InputError(f'no relative map for frame {frame.name} in {self.folder} '
                         f'(looked for {frame.name}.npy|png and {frame.index:06d}.npy|png)')


class NoPromptRelative:
    """Relative depth from the PromptDA network with an uninformative prompt.

    The network gets a constant 10 m prompt with a single 11 m cell in the top-left corner (it
    min/max-normalises its prompt, so this is an all-zero prompt with one unit cell; the output,
    10 m + 1 m x the normalised prediction, is an affine function of the prompt-free prediction
    and stays clear of the backend's output clamp), treated as relative *depth*.
    """

    space = 'depth'

    def __init__(self, backend) -> None:
        self.backend = backend

    def __call__(self, frame) -> np.ndarray:
        """Return the (H, W) float64 relative depth of ``frame``."""
        return self.from_image(frame.rgb, frame.prompt_m, frame.camera)

    def from_image(self, rgb: np.ndarray, prompt_m: np.ndarray, camera=None) -> np.ndarray:
        """Return the (H, W) float64 relative depth of ``rgb`` (H, W, 3) uint8.

        ``prompt_m`` (h, w) metres gives only the grid size of the uninformative prompt.
        """
        neutral = np.full(np.shape(prompt_m), NEUTRAL_PROMPT_M, dtype=np.float32)
        neutral[0, 0] = NEUTRAL_PROMPT_M + 1.0
        return np.asarray(self.backend.predict(rgb, neutral, camera), np.float64)


class DepthAnythingRelative:
    """Depth Anything V2 relative disparity (transformers ``DepthAnythingForDepthEstimation``).

    The image is resized so its short side is ``input_size`` px (both sides multiples of 14),
    ImageNet-normalised as the model was trained, and the predicted disparity is resized back
    to the image (bilinear; the network input's aspect differs slightly after rounding).
    """

    space = 'inverse'

    def __init__(self, path: str, device: str = 'cpu', input_size: int = 518) -> None:
        from promptda_ros.model.checkpoint import load_depth_anything_v2

        if not path:
            raise InputError('relative source depth_anything_v2 needs a checkpoint path '
                             '(a -hf folder or the official .pth)')
        self.model = load_depth_anything_v2(path, device=device)
        self.device = device
        self.input_size = int(input_size)
        self._norm: Any = None  # ImageNormaliser, built on first use (imports torch)

    def __call__(self, frame) -> np.ndarray:
        """Return the (H, W) float64 disparity of ``frame``."""
        return self.from_image(frame.rgb, frame.prompt_m, frame.camera)

    def from_image(self, rgb: np.ndarray, prompt_m=None, camera=None) -> np.ndarray:
        """Return the (H, W) float64 disparity of ``rgb`` (H, W, 3) uint8 (prompt unused)."""
        import cv2
        import torch

        from promptda_ros.model.processing import ImageNormaliser, network_input_size

        if self._norm is None:
            self._norm = ImageNormaliser(self.device)
        H, W = np.shape(rgb)[:2]
        long_side = int(round(self.input_size * max(H, W) / min(H, W)))
        size = network_input_size((H, W), long_side=long_side)
        x = self._norm(np.asarray(rgb), size)
        with torch.inference_mode():
            out = self.model(pixel_values=x).predicted_depth
        disp = out.reshape(out.shape[-2:]).float().cpu().numpy()
        return cv2.resize(disp, (W, H), interpolation=cv2.INTER_LINEAR).astype(np.float64)


def make_relative_source(kind: str, *, relative_dir: str | None = None,
                         space: str = 'inverse', checkpoint: str | None = None,
                         device: str = 'cpu', backend=None, input_size=None,
                         short_side: int = 518):
    """Create a relative source.

    Args:
        kind: one of :data:`~promptda_ros.backends.RELATIVE_SOURCES`.
        relative_dir: folder of maps (``disk``).
        space: 'inverse' or 'depth' for ``disk`` / ``bag`` maps.
        checkpoint: PromptDA checkpoint (``promptda_noprompt``) or Depth Anything V2 weights.
        device: 'cpu' or 'cuda' for the network sources.
        backend: an existing 'promptda' backend to reuse (``promptda_noprompt``).
        input_size: PromptDA network input (h, w) (``promptda_noprompt``).
        short_side: Depth Anything V2 input short side in pixels (``depth_anything_v2``; 518 as
            the model was trained).

    Raises:
        InputError: unknown kind or space, or a missing folder / checkpoint.
        CheckpointError: weights that cannot be loaded.
    """
    if not kind:
        raise InputError('no relative source configured: choose one of '
                         + ', '.join(RELATIVE_SOURCES))
    if kind not in RELATIVE_SOURCES:
        raise InputError(f"unknown relative source '{kind}' "
                         f"(known: {', '.join(RELATIVE_SOURCES)})")
    if space not in SPACES:
        raise InputError(f"relative space must be 'inverse' or 'depth', got '{space}'")
    if kind == 'bag':
        return BagRelative(space)
    if kind == 'disk':
        if not relative_dir:
            raise InputError('relative source disk needs a folder of maps (--relative-dir)')
        return DiskRelative(relative_dir, space)
    if kind == 'promptda_noprompt':
        if backend is None:
            if not checkpoint:
                raise InputError('relative source promptda_noprompt needs a PromptDA '
                                 'checkpoint')
            from promptda_ros.backends import make_backend

            opts: dict[str, Any] = {'checkpoint': checkpoint, 'device': device}
            if input_size is not None:
                opts['input_size'] = tuple(input_size)
            backend = make_backend('promptda', **opts)
        return NoPromptRelative(backend)
    return DepthAnythingRelative(checkpoint, device=device, input_size=short_side)


def relative_for(source, frame) -> np.ndarray:
    """Return ``source(frame)`` resized to the frame's image: (H, W) float64.

    Raises:
        InputError: the map is missing, not 2-D, of another aspect ratio, or not finite
            anywhere.
    """
    return _checked(source(frame), np.shape(frame.rgb)[:2], f'relative map of frame {frame.name}')


def relative_of_image(source, rgb: np.ndarray, prompt_m: np.ndarray, camera=None) -> np.ndarray:
    """Return ``source.from_image(rgb, prompt_m, camera)`` resized to the image: (H, W) float64.

    The live path of a network source
    (:data:`~promptda_ros.backends.NETWORK_RELATIVE_SOURCES`): no frame name, index or
    relative-depth topic is involved.

    Args:
        source: a source with ``from_image`` (a network source, or a fixed map).
        rgb: (H, W, 3) uint8 RGB.
        prompt_m: (h, w) float32 metres, 0 = no measurement.
        camera: PinholeCamera of ``rgb`` or None.

    Raises:
        InputError: the map is not 2-D, of another aspect ratio, or not finite anywhere.
    """
    return _checked(source.from_image(rgb, prompt_m, camera), np.shape(rgb)[:2],
                    'relative map of the image')


def _checked(rel: np.ndarray, image_hw: tuple, what: str) -> np.ndarray:
    """Return ``rel`` resized to ``image_hw`` (:func:`fit_to_image`), refusing a map all NaN."""
    rel = fit_to_image(rel, image_hw, what)
    if not np.any(np.isfinite(rel)):
        raise InputError(f'{what} has no finite value')
    return rel


def normalise_relative(rel: np.ndarray, space: str) -> np.ndarray:
    """Normalise a relative map to [0, 1] *nearness* (1 = nearest), robust to outliers.

    Args:
        rel: (H, W) float relative map; NaN / Inf = invalid.
        space: 'inverse' (disparity-like: larger = nearer) or 'depth' (larger = farther).

    Returns:
        (H, W) float32 in [0, 1]: the 1st..99th percentile range of the valid values mapped
        linearly (flipped for 'depth'), clipped; invalid pixels get 0.

    Raises:
        InputError: unknown space or no finite value.
    """
    if space not in SPACES:
        raise InputError(f"relative space must be 'inverse' or 'depth', got '{space}'")
    r = np.asarray(rel, np.float64)
    ok = np.isfinite(r)
    if not np.any(ok):
        raise InputError('relative map has no finite value')
    lo, hi = np.percentile(r[ok], [1.0, 99.0])
    span = hi - lo if hi > lo else 1.0
    n = np.clip((np.where(ok, r, lo) - lo) / span, 0.0, 1.0)
    if space == 'depth':
        n = 1.0 - n
    n[~ok] = 0.0
    return n.astype(np.float32)
