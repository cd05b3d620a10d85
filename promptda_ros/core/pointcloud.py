# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth -> organized point cloud, ROS rgb packing and a binary PLY writer/reader.

Back-projection uses ``(u - cx) / fx`` with ``cx, fx`` from P, like ``depth_image_proc``
(never the image centre).
"""

import os
from typing import Optional

import numpy as np

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError

_PLY_TYPES = {'char': 'i1', 'uchar': 'u1', 'short': 'i2', 'ushort': 'u2', 'int': 'i4',
              'uint': 'u4', 'float': 'f4', 'double': 'f8', 'int8': 'i1', 'uint8': 'u1',
              'int16': 'i2', 'uint16': 'u2', 'int32': 'i4', 'uint32': 'u4', 'float32': 'f4',
              'float64': 'f8'}


def depth_to_points(depth_m, camera: PinholeCamera) -> np.ndarray:
    """Back-project a depth image into the camera optical frame.

    Args:
        depth_m: (H, W) float metres; NaN, Inf and values <= 0 are invalid.
        camera: camera of the depth image (same H, W).

    Returns:
        (H, W, 3) float32 metres, NaN where the depth is invalid.
    """
    if not isinstance(camera, PinholeCamera):
        raise InputError(f'camera must be a PinholeCamera, got {type(camera).__name__}')
    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        raise InputError(f'depth_m must be (H, W), got shape {depth.shape}')
    if depth.shape != (camera.height, camera.width):
        raise InputError(f'depth size {depth.shape[1]}x{depth.shape[0]} does not match the '
                         f'camera {camera.width}x{camera.height}; scale the camera first')
    depth = depth.astype(np.float32, copy=False)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth) & (depth > 0)
    d = np.where(valid, depth, np.float32(np.nan))
    return camera.rays() * d[..., None]


def pack_rgb(rgb) -> np.ndarray:
    """Pack colours as ROS does: ``0x00RRGGBB`` bits viewed as float32.

    Args:
        rgb: (..., 3) uint8 RGB.

    Returns:
        (...) float32 packed colours.
    """
    arr = np.asarray(rgb)
    if arr.ndim < 1 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise InputError(f'rgb must be (..., 3) uint8, got shape {arr.shape} dtype {arr.dtype}')
    a = arr.astype(np.uint32)
    packed = (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]
    return np.ascontiguousarray(packed).view(np.float32)


def unpack_rgb(packed) -> np.ndarray:
    """Invert :func:`pack_rgb`: (...) float32 packed -> (..., 3) uint8 RGB."""
    arr = np.ascontiguousarray(packed)
    if arr.dtype != np.float32:
        raise InputError(f'packed rgb must be float32, got {arr.dtype}')
    bits = arr.view(np.uint32)
    return np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=-1).astype(
        np.uint8)


def write_ply(path, points, colors=None) -> int:
    """Write a binary little-endian PLY, skipping points with a NaN/Inf coordinate.

    Args:
        path: output file.
        points: (N, 3) or (H, W, 3) float metres.
        colors: matching (N, 3) or (H, W, 3) uint8 RGB, or None.

    Returns:
        number of vertices written.
    """
    pts = np.asarray(points)
    if pts.ndim not in (2, 3) or pts.shape[-1] != 3:
        raise InputError(f'points must be (N, 3) or (H, W, 3), got shape {pts.shape}')
    flat: np.ndarray = pts.reshape(-1, 3).astype(np.float32)
    cols = None
    if colors is not None:
        cols = np.asarray(colors)
        if cols.shape != pts.shape or cols.dtype != np.uint8:
            raise InputError(f'colors must be uint8 with the points shape {pts.shape}, got '
                             f'shape {cols.shape} dtype {cols.dtype}')
        cols = cols.reshape(-1, 3)
    keep = np.all(np.isfinite(flat), axis=1)
    flat = flat[keep]
    names, formats = ['x', 'y', 'z'], ['<f4'] * 3
    header = ['ply', 'format binary_little_endian 1.0', 'comment promptda_ros',
              f'element vertex {flat.shape[0]}', 'property float x', 'property float y',
              'property float z']
    if cols is not None:
        cols = cols[keep]
        names += ['red', 'green', 'blue']
        formats += ['u1'] * 3
        header += ['property uchar red', 'property uchar green', 'property uchar blue']
    header.append('end_header')
    rec = np.empty(flat.shape[0], dtype=np.dtype({'names': names, 'formats': formats}))
    rec['x'], rec['y'], rec['z'] = flat[:, 0], flat[:, 1], flat[:, 2]
    if cols is not None:
        rec['red'], rec['green'], rec['blue'] = cols[:, 0], cols[:, 1], cols[:, 2]
    with open(os.fspath(path), 'wb') as f:
        f.write(('\n'.join(header) + '\n').encode('ascii'))
        f.write(rec.tobytes())
    return int(flat.shape[0])


def read_ply(path) -> tuple:
    """Read the vertices of a binary (little or big endian) PLY file.

    Returns:
        points: (N, 3) float32 metres.
        colors: (N, 3) uint8 RGB, or None without red/green/blue properties.
    """
    with open(os.fspath(path), 'rb') as f:
        if f.readline().strip() != b'ply':
            raise InputError(f'{path} is not a PLY file')
        fmt = None
        n_vertex = None
        props = []
        element = None
        while True:
            line = f.readline()
            if not line:
                raise InputError(f'{path}: PLY header has no end_header')
            words = line.decode('ascii', 'replace').split()
            if not words or words[0] in ('comment', 'obj_info'):
                continue
            if words[0] == 'end_header':
                break
            if words[0] == 'format':
                fmt = words[1]
            elif words[0] == 'element':
                element = words[1]
                if element == 'vertex':
                    n_vertex = int(words[2])
                elif n_vertex is None:
                    raise InputError(f'{path}: vertex must be the first PLY element')
            elif words[0] == 'property' and element == 'vertex':
                if words[1] == 'list' or words[1] not in _PLY_TYPES:
                    raise InputError(f'{path}: unsupported vertex property {" ".join(words)}')
                props.append((words[2], _PLY_TYPES[words[1]]))
        if fmt not in ('binary_little_endian', 'binary_big_endian') or n_vertex is None:
            raise InputError(f'{path}: only binary PLY with a vertex element is supported')
        order = '<' if fmt == 'binary_little_endian' else '>'
        dtype = np.dtype([(name, order + t) for name, t in props])
        data = np.frombuffer(f.read(dtype.itemsize * n_vertex), dtype=dtype)
    if data.shape[0] != n_vertex:
        raise InputError(f'{path}: truncated, {data.shape[0]} of {n_vertex} vertices')
    names = set(dtype.names or ())
    if not {'x', 'y', 'z'} <= names:
        raise InputError(f'{path}: vertices have no x, y, z')
    points = np.stack([data['x'], data['y'], data['z']], axis=1).astype(np.float32)
    colors: Optional[np.ndarray] = None
    if {'red', 'green', 'blue'} <= names:
        colors = np.stack([data['red'], data['green'], data['blue']], axis=1).astype(np.uint8)
    return points, colors
