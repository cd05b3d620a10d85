# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""3-D reconstruction scores: TSDF fusion (open3d) and Acc / Comp / Prec / Recall / F-score.

Each method's depth maps are fused along the camera trajectory into an open3d TSDF volume
(default voxel 0.04 m, truncation 0.12 m = 3 voxels); the reference depth is fused the same way.
The surface point clouds extracted from both volumes are compared as in the PromptDA paper /
ScanNet++ protocol, with threshold ``tau`` (default 0.05 m):

* ``acc``    = mean distance from each predicted point to the nearest reference point (metres);
* ``comp``   = mean distance from each reference point to the nearest predicted point (metres);
* ``prec``   = fraction of predicted points within ``tau`` of the reference;
* ``recall`` = fraction of reference points within ``tau`` of the prediction;
* ``fscore`` = 2 * prec * recall / (prec + recall).

The volume is open3d's ``t.geometry.VoxelBlockGrid`` (hash-block TSDF, the successor of the legacy
``pipelines.integration.ScalableTSDFVolume``, which open3d's maintainers mark as legacy; with the
open3d 0.20 wheels on our CPU machines the legacy ScalableTSDFVolume integrated no voxel at all).
Surface points are extracted where a voxel has been observed at least once (weight >= 1).

open3d is imported lazily (only when a volume is created), so importing this module is cheap.
"""

from __future__ import annotations

import math

import numpy as np

from promptda_ros.core.errors import CalibrationError, InputError

RECON_KEYS = ('acc', 'comp', 'prec', 'recall', 'fscore')


def _o3d():
    try:
        import open3d as o3d  # lazy: open3d takes over a second to import
        import open3d.core as o3c
    except ImportError as exc:  # e.g. missing system library libusb-1.0 for the wheel
        raise InputError(f'3-D reconstruction needs open3d, which failed to import: {exc}'
                         ) from exc
    return o3d, o3c


class TSDFFusion:
    """Fuse metric depth maps into an open3d TSDF voxel-block grid."""

    def __init__(self, voxel_length: float = 0.04, sdf_trunc: float = 0.12,
                 depth_trunc: float = 10.0, block_resolution: int = 8,
                 initial_blocks: int = 20000) -> None:
        """Create an empty volume.

        Args:
            voxel_length: voxel edge, metres.
            sdf_trunc: truncation distance of the signed distance function, metres.
            depth_trunc: depth beyond this is ignored, metres.
            block_resolution: voxels per block edge.
            initial_blocks: initial hash-map capacity (grows when needed).

        Raises:
            InputError: non-positive sizes, or open3d cannot be imported.

        """
        if not (voxel_length > 0 and sdf_trunc > 0 and depth_trunc > 0):
            raise InputError('voxel_length, sdf_trunc and depth_trunc must be > 0, got '
                             f'{voxel_length}, {sdf_trunc}, {depth_trunc}')
        o3d, o3c = _o3d()
        self._o3d, self._o3c = o3d, o3c
        self.voxel_length = float(voxel_length)
        self.sdf_trunc = float(sdf_trunc)
        self.depth_trunc = float(depth_trunc)
        self._device = o3c.Device('CPU:0')
        self._grid = o3d.t.geometry.VoxelBlockGrid(
            attr_names=('tsdf', 'weight'), attr_dtypes=(o3c.float32, o3c.float32),
            attr_channels=((1), (1)), voxel_size=self.voxel_length,
            block_resolution=int(block_resolution), block_count=int(initial_blocks),
            device=self._device)
        self.n_frames = 0

    def integrate(self, depth_m: np.ndarray, camera, T_world_cam: np.ndarray) -> None:
        """Fuse one depth map.

        Args:
            depth_m: (H, W) float metres, NaN / <= 0 = invalid.
            camera: PinholeCamera of the depth map (fx, fy, cx, cy, width, height).
            T_world_cam: (4, 4) camera-optical-frame to world transform.

        Raises:
            InputError: wrong shapes.
            CalibrationError: camera size mismatch or non-finite pose.

        """
        depth = np.asarray(depth_m, dtype=np.float32)
        if depth.ndim != 2:
            raise InputError(f'depth must be (H, W), got {depth.shape}')
        H, W = depth.shape
        if (int(camera.height), int(camera.width)) != (H, W):
            raise CalibrationError(f'camera is {camera.width}x{camera.height} but depth is '
                                   f'{W}x{H}')
        T = np.asarray(T_world_cam, dtype=np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise CalibrationError(f'T_world_cam must be a finite 4x4 transform, got {T.shape}')
        depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)
        if not np.any(depth > 0):
            self.n_frames += 1
            return
        o3d, o3c = self._o3d, self._o3c
        K = np.array([[camera.fx, 0.0, camera.cx], [0.0, camera.fy, camera.cy],
                      [0.0, 0.0, 1.0]], dtype=np.float64)
        intr = o3c.Tensor(K)
        extr = o3c.Tensor(np.ascontiguousarray(np.linalg.inv(T)))
        img = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(depth)))
        trunc_mult = self.sdf_trunc / self.voxel_length
        blocks = self._grid.compute_unique_block_coordinates(
            img, intr, extr, 1.0, self.depth_trunc, trunc_mult)
        self._grid.integrate(blocks, img, intr, extr, 1.0, self.depth_trunc, trunc_mult)
        self.n_frames += 1

    def extract_points(self) -> np.ndarray:
        """Return the fused surface: (N, 3) float64 points in metres, world frame."""
        if self.n_frames == 0:
            return np.zeros((0, 3))
        try:
            pcd = self._grid.extract_point_cloud(weight_threshold=0.5)
        except RuntimeError:  # open3d raises when the surface has no point at all
            return np.zeros((0, 3))
        if 'positions' not in pcd.point:
            return np.zeros((0, 3))
        return pcd.point.positions.numpy().astype(np.float64).reshape(-1, 3)


def recon_scores(pred_points: np.ndarray, ref_points: np.ndarray, tau: float = 0.05
                 ) -> dict[str, float]:
    """Compare a reconstruction with the reference.

    Args:
        pred_points: (N, 3) float metres, world frame.
        ref_points: (M, 3) float metres, world frame.
        tau: distance threshold for precision / recall, metres.

    Returns:
        dict acc, comp (metres), prec, recall, fscore (0..1), n_pred, n_ref.  An empty
        prediction gives prec = recall = fscore = 0 and acc = comp = NaN.

    Raises:
        InputError: malformed arrays, tau <= 0, or an empty reference.

    """
    from scipy.spatial import cKDTree

    P = np.asarray(pred_points, dtype=np.float64)
    R = np.asarray(ref_points, dtype=np.float64)
    for name, arr in (('pred_points', P), ('ref_points', R)):
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise InputError(f'{name} must be (N, 3), got {arr.shape}')
    if not tau > 0:
        raise InputError(f'tau must be > 0, got {tau}')
    if R.shape[0] == 0:
        raise InputError('reference reconstruction is empty (no valid reference depth fused)')
    out: dict[str, float] = {'n_pred': int(P.shape[0]), 'n_ref': int(R.shape[0])}
    if P.shape[0] == 0:
        out.update(acc=math.nan, comp=math.nan, prec=0.0, recall=0.0, fscore=0.0)
        return out
    d_pr = cKDTree(R).query(P, k=1)[0]
    d_rp = cKDTree(P).query(R, k=1)[0]
    prec = float(np.mean(d_pr < tau))
    rec = float(np.mean(d_rp < tau))
    out.update(acc=float(d_pr.mean()), comp=float(d_rp.mean()), prec=prec, recall=rec,
               fscore=(2 * prec * rec / (prec + rec)) if prec + rec > 0 else 0.0)
    return out
