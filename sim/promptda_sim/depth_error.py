# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth error on the object's pixels, per object and depth source (no ROS, no rendering).

``promptda-sim-eval`` scores, for each episode, the first depth frame served after the reset
(:data:`FIRST_FRAME_AFTER_S`; arm at its start pose, object at rest, policy not yet enabled)
against the simulator's true depth of the same frame (same stamp), on the object's pixels only.

The object's pixels are found from geometry, not from a second render: the true depth is
back-projected and a pixel belongs to the object when its surface point lies on the object's
cylinder (within :data:`TOLERANCE_M` of its radius and height, above its bottom rim so the table
it stands on is left out). That is exactly the object's visible surface, occlusions included,
and costs one back-projection; the object's pose comes from a physics-only
:class:`~promptda_sim.world.SimWorld` reset to the same episode (a seeded reset is
deterministic).

The error is :func:`promptda_ros.eval.metrics.depth_metrics` on those pixels: ``l1_m``, the
mean |served - true| over object pixels with a finite served depth, and ``finite_share``, the
share of object pixels that have one (its ``coverage``). A served depth of another size than
the camera (the perception node's ``output_size``, e.g. the policy's 60 x 80) is scored on its
own grid: the true depth and the mask are resized to it by nearest neighbour, the rule the
frame pipeline resizes its output with, so a perfect full-size prediction scores 0.
"""

import math

import numpy as np

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.core.pointcloud import depth_to_points
from promptda_ros.core.transforms import invert_transform, transform_points
from promptda_ros.eval.metrics import depth_metrics

FIRST_FRAME_AFTER_S = 0.1
"""The scored frame is the first served this long (sim s) after the reset or later: past the
perception node's pairing slop (``slop_s``, 0.05 s), so its LiDAR sweep cannot be one of the
previous episode; the policy is enabled only 0.3 s after the reset."""
TOLERANCE_M = 0.004
"""How far off the cylinder's surface a surface point may lie and still be the object's, m."""


def cylinder_pixel_mask(true_m: np.ndarray, camera: PinholeCamera, T_world_camera: np.ndarray,
                        T_world_object: np.ndarray, radius_m: float, half_height_m: float,
                        tolerance_m: float = TOLERANCE_M) -> np.ndarray:
    """Pixels whose true surface point lies on an upright cylinder (the object).

    Args:
        true_m: (H, W) float true depth, metres along the optical axis (NaN / <= 0 = none).
        camera: the depth image's camera (H, W).
        T_world_camera: (4, 4) camera optical frame -> world.
        T_world_object: (4, 4) object frame -> world; the cylinder's axis is the object's z,
            centred on its origin.
        radius_m: cylinder radius, m.
        half_height_m: cylinder half height, m.
        tolerance_m: slack on the radius and the top, m; the bottom ``tolerance_m`` is left out
            (the table the object stands on).

    Returns:
        (H, W) bool, True on the object's visible pixels.
    """
    points = depth_to_points(true_m, camera)                       # (H, W, 3) camera frame
    T = invert_transform(np.asarray(T_world_object, np.float64)) @ np.asarray(T_world_camera)
    p = transform_points(T, points.reshape(-1, 3)).reshape(points.shape)   # object frame, m
    with np.errstate(invalid='ignore'):
        radial = np.hypot(p[..., 0], p[..., 1])
        return ((radial <= radius_m + tolerance_m)
                & (p[..., 2] <= half_height_m + tolerance_m)
                & (p[..., 2] >= -half_height_m + tolerance_m))


def object_depth_error(served_m: np.ndarray, true_m: np.ndarray, mask: np.ndarray) -> dict:
    """Depth error of a served depth image on the object's pixels.

    Args:
        served_m: (h, w) float metres, NaN / Inf / <= 0 = no depth (0 is a 16UC1 hole), the
            same field of view as ``true_m``.
        true_m: (H, W) float true depth, metres; resized to (h, w) by nearest neighbour (as
            :class:`promptda_ros.pipeline.DepthPipeline` resizes its output) when different.
        mask: (H, W) bool object pixels (:func:`cylinder_pixel_mask`), resized likewise.

    Returns:
        ``l1_m`` (mean absolute error over object pixels with a served depth, m; NaN if none),
        ``finite_share`` (share of object pixels with a served depth; NaN without object
        pixels) and ``pixels`` (object pixels on the served grid).
    """
    import cv2

    served = np.asarray(served_m, dtype=np.float32)
    true = np.asarray(true_m, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if served.ndim != 2 or true.ndim != 2 or mask.shape != true.shape:
        raise InputError('object depth error: served (h, w), true (H, W) and mask (H, W) '
                         'needed, got %s, %s, %s' % (served.shape, true.shape, mask.shape))
    with np.errstate(invalid='ignore'):
        served = np.where(np.isfinite(served) & (served > 0), served, np.nan)
    if served.shape != true.shape:
        size = (served.shape[1], served.shape[0])
        true = cv2.resize(true, size, interpolation=cv2.INTER_NEAREST)
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    m = depth_metrics(served, true, mask=mask)
    with np.errstate(invalid='ignore'):
        pixels = int(np.count_nonzero(mask & np.isfinite(true) & (true > 0)))
    return {'l1_m': float(m['l1']), 'finite_share': float(m['coverage']), 'pixels': pixels}


def episode_object_error(episode, served_m: np.ndarray, true_m: np.ndarray) -> dict:
    """:func:`object_depth_error` of the first frame of ``episode`` (arm at rest, object settled).

    Args:
        episode: the :class:`~promptda_sim.scene.EpisodeConfig` the frame shows.
        served_m: (h, w) float metres, the depth served to the policy.
        true_m: (H, W) float metres, the simulator's true depth of the same frame.
    """
    from promptda_sim.world import camera_model, SimWorld
    world = SimWorld(episode, render=False)
    camera = camera_model(world.model, 'head', true_m.shape[0], true_m.shape[1])
    mask = cylinder_pixel_mask(true_m, camera, world.T_world_camera(), world.object_pose(),
                               episode.spec.radius, episode.spec.half_height)
    return object_depth_error(served_m, true_m, mask)


def summarise(errors: dict) -> dict:
    """Mean errors per depth source and object.

    Args:
        errors: {source: {object: [per-episode :func:`object_depth_error` dicts]}}.

    Returns:
        {source: {object: {'l1_m', 'finite_share' (means over the episodes that have a
        value; NaN if none), 'episodes'}}}.
    """
    def mean(values):
        v = [x for x in values if x is not None and math.isfinite(x)]
        return float(np.mean(v)) if v else math.nan
    return {source: {obj: {'l1_m': mean([r['l1_m'] for r in runs]),
                           'finite_share': mean([r['finite_share'] for r in runs]),
                           'episodes': len(runs)}
                     for obj, runs in cells.items()}
            for source, cells in errors.items()}


def depth_error_table(summary: dict, objects: list) -> str:
    """Markdown table: rows depth sources, columns objects, cells ``L1 cm (finite %)``.

    Args:
        summary: :func:`summarise` output.
        objects: column order.
    """
    lines = ['| depth source | ' + ' | '.join(objects) + ' |', '|---|' + '---|' * len(objects)]
    for source, cells in summary.items():
        row = []
        for obj in objects:
            c = cells.get(obj)
            if not c or not c['episodes']:
                row.append('-')
                continue
            l1 = '%.1f cm' % (100 * c['l1_m']) if math.isfinite(c['l1_m']) else 'no depth'
            share = ('%.0f %%' % (100 * c['finite_share']) if math.isfinite(c['finite_share'])
                     else '-')
            row.append('%s (%s)' % (l1, share))
        lines.append('| %s | ' % source + ' | '.join(row) + ' |')
    return '\n'.join(lines)
