# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Evaluation inputs: ROS 2 bags and folders of aligned frames, as :class:`EvalFrame` objects.

Folder layout (all frames share one stem, e.g. ``000042``)::

    DIR/
      intrinsics.json        {"fx": .., "fy": .., "cx": .., "cy": .., "width": .., "height": ..}
                             (pixels, of the rgb images)
      rgb/<stem>.png|.jpg    colour image (read as RGB)
      prompt/<stem>.png|.npy low-res or full-res metric prompt: uint16 mm PNG or float32 m NPY,
                             0 / NaN = no measurement
      gt/<stem>.png|.npy     reference depth at the rgb resolution (same encodings)
      poses.txt              optional: "<stem> tx ty tz qx qy qz qw" per line (T_world_cam,
                             camera optical frame -> world; '#' starts a comment)

With a held-out split (``holdout=(fraction, seed)``) no reference depth is read: the frame's own
measurements are split (:mod:`promptda_ros.eval.holdout`), the methods get the rest as prompt
and the held-out ones are the reference.  The same seed is used for every frame, so a frame
holds out the points :func:`~promptda_ros.eval.holdout.split_depth` holds out for that seed.

Prompts and references are checked as they are read: values that are not metres (millimetres
in a float file) and a prompt of another aspect ratio than the image are refused.

For bags, ``--poses`` files use the TUM layout "<stamp_s> tx ty tz qx qy qz qw"; a stamp is read
as exact decimal seconds into integer nanoseconds and matched to the image stamp by the node's
pairing rule (:func:`promptda_ros.core.sync.select_nearest`: nearest within 50 ms, ties to the
later stamp).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
import json
import os
from typing import Any, Iterator

import numpy as np

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.depth_io import check_metres, load_depth, save_depth_png_mm
from promptda_ros.core.errors import CalibrationError, InputError
from promptda_ros.core.projection import check_prompt_aspect
from promptda_ros.core.sync import select_nearest
from promptda_ros.core.transforms import make_transform
from promptda_ros.eval.holdout import holdout_prompt, holdout_sweep
from promptda_ros.pipeline import lidar_prompt_grid, PipelineConfig

IMAGE_EXTS = ('.png', '.jpg', '.jpeg')
DEPTH_EXTS = ('.png', '.npy')
POSE_MATCH_NS = 50_000_000
"""A bag frame takes the pose nearest to its stamp within this many ns (TUM poses files)."""


@dataclass
class EvalFrame:
    """One evaluation sample."""

    index: int                        # position in the input sequence (before stride)
    name: str                         # file stem or stamp string
    stamp_ns: int | None
    rgb: np.ndarray                   # (H, W, 3) uint8 RGB
    camera: PinholeCamera             # of the rgb image
    prompt_m: np.ndarray              # (h, w) float32 metres, 0 = no measurement
    gt_m: np.ndarray                  # (H, W) float32 metres, NaN = invalid
    T_world_cam: np.ndarray | None    # (4, 4) camera optical frame -> world
    relative: np.ndarray | None = None  # (H', W') float32 relative map from the input, or None
    n_heldout: int | None = None      # held-out measurements in gt_m (pixels), None = not held out


def _gt_nan(depth: np.ndarray) -> np.ndarray:
    depth = np.asarray(depth, dtype=np.float32).copy()
    with np.errstate(invalid='ignore'):
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    return depth


def _prompt_zero(depth: np.ndarray) -> np.ndarray:
    depth = np.asarray(depth, dtype=np.float32).copy()
    with np.errstate(invalid='ignore'):
        depth[~(np.isfinite(depth) & (depth > 0))] = 0.0
    return depth


def _checked_prompt(prompt_m: np.ndarray, image_hw: tuple[int, int], what: str) -> np.ndarray:
    """Return a depth prompt (h, w) in metres, 0 = none, after refusing another unit or aspect.

    Raises:
        InputError: values that are not metres, or an aspect ratio unlike the image's (H, W).
    """
    check_metres(prompt_m, what)
    try:
        check_prompt_aspect(image_hw, np.shape(prompt_m))
    except InputError as exc:
        raise InputError(f'{what}: {exc}') from None
    return _prompt_zero(prompt_m)


def _checked_reference(gt_m: np.ndarray, what: str) -> np.ndarray:
    """Return reference depth (H, W) in metres, NaN = invalid; InputError if not metres."""
    check_metres(gt_m, what)
    return _gt_nan(gt_m)


def _held_out(fr: EvalFrame, holdout: tuple[float, int]) -> EvalFrame:
    """Return the frame with part of its prompt cells held out as the reference."""
    prompt, reference = holdout_prompt(fr.prompt_m, fr.rgb.shape[:2], *holdout)
    fr.prompt_m, fr.gt_m = prompt, reference
    fr.n_heldout = int(np.isfinite(reference).sum())
    return fr


def read_poses(path: str) -> dict[str, np.ndarray]:
    """Read a poses file: key -> (4, 4) T_world_cam.

    Args:
        path: text file with lines "<key> tx ty tz qx qy qz qw" (metres, unit quaternion xyzw).

    Raises:
        InputError: unreadable file or malformed line (the line number is named).

    """
    poses: dict[str, np.ndarray] = {}
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.readlines()
    except OSError as exc:
        raise InputError(f'cannot read poses file {path}: {exc.strerror}') from exc
    for no, line in enumerate(lines, 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            if len(parts) != 8:
                raise ValueError
            vals = [float(p) for p in parts[1:]]
            poses[parts[0]] = make_transform(vals[:3], vals[3:])
        except (ValueError, CalibrationError) as exc:
            raise InputError(f'{path}:{no}: expected "<key> tx ty tz qx qy qz qw", got '
                             f'{line!r} {exc}'.rstrip()) from None
    if not poses:
        raise InputError(f'poses file {path} has no pose')
    return poses


def _find(folder: str, stem: str, exts: tuple[str, ...]) -> str | None:
    for ext in exts:
        p = os.path.join(folder, stem + ext)
        if os.path.isfile(p):
            return p
    return None


def _read_rgb(path: str) -> np.ndarray:
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f'cannot read image {path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _load_depth(path: str) -> np.ndarray:
    try:
        return load_depth(path)
    except OSError as exc:
        raise InputError(f'cannot read depth {path}: {exc}') from exc


def folder_stems(root: str) -> list[str]:
    """Return the sorted frame stems of a frame folder (from ``rgb/``)."""
    rgb_dir = os.path.join(root, 'rgb')
    if not os.path.isdir(rgb_dir):
        raise InputError(f'{root} is not a frame folder: no rgb/ subfolder')
    stems = sorted(os.path.splitext(n)[0] for n in os.listdir(rgb_dir)
                   if n.lower().endswith(IMAGE_EXTS))
    if not stems:
        raise InputError(f'{rgb_dir} holds no .png/.jpg image')
    return stems


def write_folder_intrinsics(root: str, camera: PinholeCamera) -> None:
    """Write ``root/intrinsics.json`` (pixels of the rgb images; layout in the module docstring).

    Raises:
        OSError: the file cannot be written.
    """
    with open(os.path.join(root, 'intrinsics.json'), 'w', encoding='utf-8') as f:
        json.dump({'fx': camera.fx, 'fy': camera.fy, 'cx': camera.cx, 'cy': camera.cy,
                   'width': camera.width, 'height': camera.height}, f)


def write_folder_frame(root: str, stem: str, rgb: np.ndarray, prompt_m: np.ndarray,
                       gt_m: np.ndarray) -> None:
    """Write one frame of a frame folder, the files :func:`read_folder` reads back.

    Args:
        root: frame folder (``rgb/``, ``prompt/`` and ``gt/`` are made when missing).
        stem: file stem shared by the three files, e.g. ``000042``.
        rgb: (H, W, 3) uint8 RGB -> ``rgb/<stem>.png``.
        prompt_m: (h, w) float metres, 0 / NaN = no measurement -> ``prompt/<stem>.png``
            (uint16 mm, the 16UC1 encoding a prompt topic carries).
        gt_m: (H, W) float metres, NaN = invalid -> ``gt/<stem>.npy`` (float32 m, exact).

    Raises:
        InputError: shapes that do not fit the layout, or a prompt beyond 65.535 m.
        OSError: a file cannot be written.
    """
    import cv2

    rgb = np.asarray(rgb)
    gt = np.asarray(gt_m, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or gt.shape != rgb.shape[:2]:
        raise InputError(f'frame {stem}: need (H, W, 3) uint8 rgb and (H, W) gt, got '
                         f'{rgb.dtype} {rgb.shape} and {gt.shape}')
    check_prompt_aspect(rgb.shape[:2], np.shape(prompt_m))
    for sub in ('rgb', 'prompt', 'gt'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    path = os.path.join(root, 'rgb', stem + '.png')
    if not cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1])):
        raise OSError(f'cannot write {path}')
    save_depth_png_mm(os.path.join(root, 'prompt', stem + '.png'), prompt_m)
    np.save(os.path.join(root, 'gt', stem + '.npy'), gt)


def read_folder(root: str, poses_path: str | None = None, with_gt: bool = True,
                holdout: tuple[float, int] | None = None) -> Iterator[EvalFrame]:
    """Return an iterator over the frames of a folder dataset (layout in the module docstring).

    The folder, intrinsics and poses are checked at once; frames are read lazily.  With
    ``with_gt`` False the ``gt/`` folder is never opened (frames carry ``gt_m = None``); with
    ``holdout`` = (fraction, seed) it is not opened either and the reference is the held-out
    part of each prompt.

    Raises:
        InputError: missing intrinsics / prompt / gt files or unreadable images.
        CalibrationError: invalid intrinsics.

    """
    stems = folder_stems(root)
    intr_path = os.path.join(root, 'intrinsics.json')
    try:
        with open(intr_path, encoding='utf-8') as f:
            intr = json.load(f)
        camera = PinholeCamera.from_intrinsics(
            float(intr['fx']), float(intr['fy']), float(intr['cx']), float(intr['cy']),
            int(intr['width']), int(intr['height']))
    except OSError as exc:
        raise InputError(f'cannot read {intr_path}: {exc.strerror}') from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f'{intr_path} needs numeric fx, fy, cx, cy, width, height ({exc})'
                         ) from None
    if poses_path is None and os.path.isfile(os.path.join(root, 'poses.txt')):
        poses_path = os.path.join(root, 'poses.txt')
    poses = read_poses(poses_path) if poses_path else None
    frames = _folder_frames(root, stems, camera, poses, with_gt and holdout is None)
    if holdout is None:
        return frames
    return (_held_out(fr, holdout) for fr in frames)


def _folder_frames(root: str, stems: list[str], camera: PinholeCamera,
                   poses: dict[str, np.ndarray] | None, with_gt: bool = True
                   ) -> Iterator[EvalFrame]:
    hw = (camera.height, camera.width)
    for i, stem in enumerate(stems):
        rgb = _read_rgb(_find(os.path.join(root, 'rgb'), stem, IMAGE_EXTS))
        if rgb.shape[:2] != (camera.height, camera.width):
            raise InputError(f'rgb/{stem} is {rgb.shape[1]}x{rgb.shape[0]} but intrinsics.json '
                             f'says {camera.width}x{camera.height}')
        p_path = _find(os.path.join(root, 'prompt'), stem, DEPTH_EXTS)
        if not with_gt:
            if p_path is None:
                raise InputError(f'frame {stem}: missing prompt/{stem}.png|npy')
            prompt = _checked_prompt(_load_depth(p_path), hw, f'prompt/{stem}')
            yield EvalFrame(i, stem, None, rgb, camera, prompt, None,
                            None if poses is None else poses.get(stem))
            continue
        g_path = _find(os.path.join(root, 'gt'), stem, DEPTH_EXTS)
        if p_path is None or g_path is None:
            raise InputError(f'frame {stem}: missing prompt/{stem}.png|npy or gt/{stem}.png|npy')
        gt = _checked_reference(_load_depth(g_path), f'reference gt/{stem}')
        if gt.shape != rgb.shape[:2]:
            raise InputError(f'gt/{stem} is {gt.shape[1]}x{gt.shape[0]}, rgb is '
                             f'{rgb.shape[1]}x{rgb.shape[0]}')
        T = None
        if poses is not None:
            if stem not in poses:
                raise InputError(f'poses file has no pose for frame {stem}')
            T = poses[stem]
        prompt = _checked_prompt(_load_depth(p_path), hw, f'prompt/{stem}')
        yield EvalFrame(i, stem, None, rgb, camera, prompt, gt, T)


def seconds_to_ns(text: str) -> int:
    """Return decimal seconds written as text (``'1700000000.123456789'``) as integer ns.

    Exact: the digits are read as a decimal, not a float (a float64 keeps ~0.2 us around 1.7e9 s).

    Raises:
        ValueError: not a finite, non-negative number.
    """
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f'not a number: {text!r}') from None
    if not value.is_finite() or value < 0:
        raise ValueError(f'not a finite time >= 0: {text!r}')
    return int((value * 1_000_000_000).to_integral_value())


class StampedPoses:
    """Poses of a TUM file by integer-ns stamp, matched to image stamps with the pairing rule.

    Args:
        poses: stamp text (decimal seconds) -> (4, 4) float64 T_world_cam, as from
            :func:`read_poses`.

    Raises:
        ValueError: a key that is not a time in seconds.
    """

    def __init__(self, poses: dict[str, np.ndarray]) -> None:
        """Convert the keys to integer ns and sort by stamp."""
        self._entries = sorted(((seconds_to_ns(key), T) for key, T in poses.items()),
                               key=lambda entry: entry[0])
        self._stamps = [stamp for stamp, _T in self._entries]

    def nearest(self, stamp_ns: int) -> np.ndarray | None:
        """Return the (4, 4) pose for an image stamped ``stamp_ns`` ns; None: none in 50 ms."""
        lo = bisect_left(self._stamps, stamp_ns - POSE_MATCH_NS)
        hi = bisect_right(self._stamps, stamp_ns + POSE_MATCH_NS)
        match = select_nearest(self._entries[lo:hi], stamp_ns, POSE_MATCH_NS)
        return None if match is None else match.item


def read_bag(bag_path: str, prompt_source: str = 'auto', prompt_hw: tuple[int, int] = (192, 256),
             poses_path: str | None = None, topics: dict[str, str] | None = None,
             skipped: list[str] | None = None, with_gt: bool = True,
             config: PipelineConfig | None = None,
             holdout: tuple[float, int] | None = None,
             pairing: dict[str, Any] | None = None) -> Iterator[EvalFrame]:
    """Return evaluation frames from a ROS 2 bag read by :func:`promptda_ros.bagio.read_frames`.

    The bag's topics are checked at once; frames are read lazily.  A frame without reference
    depth or without a prompt (e.g. no LiDAR sweep within the pairing slop) is skipped and the
    reason appended to ``skipped``.

    Args:
        bag_path: bag directory (sqlite3 or mcap).
        prompt_source: 'lidar' (project the LiDAR sweep onto a prompt_hw grid), 'depth_image'
            (the bag's low-res depth topic) or 'auto' (lidar when present, else depth image).
        prompt_hw: (h, w) grid of projected LiDAR prompts (when ``config`` is None).
        poses_path: TUM-style poses file overriding the bag's /tf trajectory.
        topics: keyword overrides forwarded to read_frames (e.g. image_topic=...).
        skipped: list receiving one message per skipped frame.
        with_gt: False = never read the reference depth topic (it is not even subscribed in the
            bag reader; frames carry ``gt_m = None``), for training without ground truth.
        config: frame pipeline settings (prompt grid, depth range) the LiDAR sweep is projected
            with, exactly as the perception node does; None = the defaults with ``prompt_hw``.
        holdout: (fraction, seed): hold out that share of each frame's measurements (LiDAR
            points of the sweep, or cells of the depth image) as the reference instead of
            reading a reference topic (:mod:`promptda_ros.eval.holdout`); None = no split.
        pairing: the node's pairing parameters for read_frames (``slop_s``,
            ``lidar_cache_size``; :meth:`promptda_ros.params_file.OfflineSettings.pairing`);
            None = the defaults.

    Raises:
        InputError: unknown topic key, or the bag lacks the reference depth topic or every
            prompt source.

    """
    import inspect

    from promptda_ros import bagio

    if prompt_source not in ('auto', 'lidar', 'depth_image'):
        raise InputError(f"unknown prompt source '{prompt_source}'")
    params = inspect.signature(bagio.read_frames).parameters
    known = sorted(k[:-len('_topic')] for k in params if k.endswith('_topic'))
    topics = dict(topics or {})
    bad = sorted(k[:-len('_topic')] for k in topics if k[:-len('_topic')] not in known)
    if bad:
        raise InputError(f"unknown topic key(s) {', '.join(bad)} (known: {', '.join(known)})")

    def topic(key: str) -> str | None:
        return topics.get(key, params[key].default)

    present = bagio.bag_topics(bag_path)
    if not with_gt or holdout is not None:
        topics['gt_topic'] = None
    elif topic('gt_topic') not in present:
        raise InputError(f"bag {bag_path} has no reference depth topic {topic('gt_topic')!r} "
                         '(set it with --topics gt=TOPIC)')
    has_lidar = topic('lidar_topic') in present
    has_depth = topic('prompt_depth_topic') in present
    need = {'lidar': has_lidar, 'depth_image': has_depth, 'auto': has_lidar or has_depth}
    if not need[prompt_source]:
        raise InputError(f'bag {bag_path} has no prompt source for --prompt-source '
                         f"{prompt_source} (LiDAR topic {topic('lidar_topic')!r}: "
                         f"{'yes' if has_lidar else 'no'}, depth topic "
                         f"{topic('prompt_depth_topic')!r}: {'yes' if has_depth else 'no'})")
    if poses_path:
        raw = read_poses(poses_path)
        try:
            poses = StampedPoses(raw)
        except ValueError as exc:
            raise InputError(f'{poses_path}: bag poses need a timestamp (seconds) as first '
                             f'column ({exc})') from None
    else:
        poses = None
    if config is None:
        config = PipelineConfig.with_prompt_hw(prompt_hw)
    return _bag_frames(bagio, bag_path, prompt_source, config, poses,
                       {**topics, **(pairing or {})}, skipped if skipped is not None else [],
                       holdout)


def _bag_frames(bagio, bag_path: str, prompt_source: str, config: PipelineConfig,
                poses: StampedPoses | None, topics: dict[str, Any],
                skipped: list[str], holdout: tuple[float, int] | None = None
                ) -> Iterator[EvalFrame]:
    with_gt = topics.get('gt_topic', '') is not None
    for i, fr in enumerate(bagio.read_frames(bag_path, **topics)):
        reference = None
        if with_gt and fr.depth_gt_m is None:
            skipped.append(f'frame {i} (stamp {fr.stamp_ns} ns): no reference depth')
            continue
        use_lidar = fr.points_lidar is not None and fr.T_cam_lidar is not None
        if prompt_source == 'lidar' or (prompt_source == 'auto' and use_lidar):
            if not use_lidar:
                skipped.append(f'frame {i} (stamp {fr.stamp_ns} ns): no LiDAR sweep or '
                               'camera-LiDAR extrinsic')
                continue
            if holdout is None:
                prompt = lidar_prompt_grid(fr.points_lidar, fr.T_cam_lidar, fr.camera, config)
            else:
                prompt, reference = holdout_sweep(fr.points_lidar, fr.T_cam_lidar, fr.camera,
                                                  config, *holdout)
        else:
            if fr.prompt_depth_m is None:
                skipped.append(f'frame {i} (stamp {fr.stamp_ns} ns): no prompt depth image')
                continue
            prompt = _checked_prompt(fr.prompt_depth_m, fr.rgb.shape[:2],
                                     f'prompt depth image at stamp {fr.stamp_ns} ns')
            if holdout is not None:
                prompt, reference = holdout_prompt(prompt, fr.rgb.shape[:2], *holdout)
        T = fr.T_world_cam
        if poses is not None:
            T = poses.nearest(int(fr.stamp_ns))
        gt, n_heldout = reference, None
        if reference is not None:
            n_heldout = int(np.isfinite(reference).sum())
        if with_gt:
            gt = _checked_reference(fr.depth_gt_m, f'reference depth at stamp {fr.stamp_ns} ns')
        yield EvalFrame(i, str(fr.stamp_ns), int(fr.stamp_ns), fr.rgb, fr.camera, prompt, gt,
                        None if T is None else np.asarray(T, np.float64),
                        relative=getattr(fr, 'relative', None),
                        n_heldout=n_heldout)


def open_input(path: str, **options) -> Iterator[EvalFrame]:
    """Open a bag or a frame folder: dispatch on the presence of ``rgb/``.

    Raises:
        InputError: the path does not exist or is neither a bag nor a frame folder.

    """
    if not os.path.exists(path):
        raise InputError(f'input {path} does not exist')
    if os.path.isdir(os.path.join(path, 'rgb')):
        return read_folder(path, options.get('poses_path'), options.get('with_gt', True),
                           options.get('holdout'))
    is_bag = (os.path.isdir(path) and any(
        n.endswith(('.db3', '.mcap')) or n == 'metadata.yaml' for n in os.listdir(path))) or \
        path.endswith(('.mcap', '.db3'))
    if not is_bag:
        raise InputError(f'{path} is neither a ROS 2 bag (metadata.yaml / .db3 / .mcap) nor a '
                         'frame folder (rgb/, prompt/, gt/, intrinsics.json)')
    return read_bag(path, **options)


def strided(frames: Iterator[EvalFrame], stride: int = 1, max_frames: int | None = None
            ) -> Iterator[EvalFrame]:
    """Keep every ``stride``-th frame, at most ``max_frames`` of them."""
    if stride < 1:
        raise InputError(f'stride must be >= 1, got {stride}')
    n = 0
    for fr in frames:
        if fr.index % stride:
            continue
        if max_frames is not None and n >= max_frames:
            return
        n += 1
        yield fr
