# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Duck-typed conversion of ``sensor_msgs`` Image / CameraInfo / PointCloud2 to numpy and back.

Works on any object with the message attributes (rclpy messages, rosbags messages, plain
namespaces) and imports no message package. The ``*_fields`` functions return plain dicts
the caller passes to its own message constructor (``Image(**fields)`` after converting the
``fields`` list of a cloud into ``PointField`` objects).

Handled: row padding (``step`` / ``row_step`` larger than the packed row), the
``is_bigendian`` flag, encodings ``rgb8 bgr8 rgba8 bgra8 mono8 mono16 8UC1 8UC3 8UC4 16UC1
32FC1 64FC1``, and point clouds of any field layout (x, y, z as FLOAT32 or FLOAT64 at any
offset, extra fields, organized or not).

Over 500 lines because every message <-> array conversion is kept here, for rclpy and rosbags
messages alike (one codec, not one per caller).
"""

from typing import Optional

import numpy as np

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.depth_units import metres_to_mm, mm_to_metres
from promptda_ros.core.errors import CalibrationError, InputError

# encoding -> (numpy base type, channels)
ENCODINGS = {
    'rgb8': ('u1', 3), 'bgr8': ('u1', 3), 'rgba8': ('u1', 4), 'bgra8': ('u1', 4),
    'mono8': ('u1', 1), 'mono16': ('u2', 1), '8UC1': ('u1', 1), '8UC3': ('u1', 3),
    '8UC4': ('u1', 4), '16UC1': ('u2', 1), '32FC1': ('f4', 1), '64FC1': ('f8', 1),
}

# sensor_msgs/PointField datatype constants -> numpy base type.
POINTFIELD_DTYPES = {1: 'i1', 2: 'u1', 3: 'i2', 4: 'u2', 5: 'i4', 6: 'u4', 7: 'f4', 8: 'f8'}
FLOAT32 = 7
FLOAT64 = 8


def _bytes_of(data, name: str) -> np.ndarray:
    """Return a uint8 view of a message ``data`` field (bytes, array.array, numpy, list)."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.dtype.itemsize == 1 else \
            np.frombuffer(data.tobytes(), np.uint8)
    try:
        return np.frombuffer(memoryview(data).cast('B'), dtype=np.uint8)
    except TypeError:
        pass
    try:
        return np.asarray(data, dtype=np.uint8).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f'{name}.data is not a byte buffer: {exc}') from None


def _get(msg, name: str, kind: str):
    try:
        return getattr(msg, name)
    except AttributeError:
        raise InputError(f'{kind} message has no field {name!r}') from None


def _rows(msg, kind: str, row_bytes: int, step: int, height: int) -> np.ndarray:
    """(height, row_bytes) uint8 array of the packed rows (padding removed)."""
    buf = _bytes_of(_get(msg, 'data', kind), kind)
    if step < row_bytes:
        raise InputError(f'{kind} step {step} is smaller than one row ({row_bytes} bytes)')
    needed = step * (height - 1) + row_bytes if height else 0
    if buf.size < needed:
        raise InputError(f'{kind} data has {buf.size} bytes, expected at least {needed} '
                         f'(height {height} x step {step})')
    if height == 0:
        return np.zeros((0, row_bytes), np.uint8)
    if buf.size >= step * height:
        rows = buf[:step * height].reshape(height, step)
    else:  # last row not padded
        rows = np.asarray(np.lib.stride_tricks.as_strided(buf, (height, row_bytes), (step, 1)))
    return rows[:, :row_bytes]


# ---------------------------------------------------------------------------- Image
def image_to_array(msg) -> np.ndarray:
    """Decode an Image message.

    Returns:
        (H, W) or (H, W, C) array in the message's channel order: uint8 for 8-bit encodings,
        uint16 for ``16UC1``/``mono16``, float32 for ``32FC1``, float64 for ``64FC1``.
        Always a fresh native-endian copy.

    Raises:
        InputError: unknown encoding, empty image or inconsistent step/data size.
    """
    encoding = str(_get(msg, 'encoding', 'Image'))
    if encoding not in ENCODINGS:
        raise InputError(f'unsupported image encoding {encoding!r}; supported: '
                         f'{", ".join(sorted(ENCODINGS))}')
    base, channels = ENCODINGS[encoding]
    height, width = int(_get(msg, 'height', 'Image')), int(_get(msg, 'width', 'Image'))
    if height <= 0 or width <= 0:
        raise InputError(f'image is empty ({width}x{height})')
    dtype = np.dtype(base).newbyteorder('>' if _get(msg, 'is_bigendian', 'Image') else '<')
    row_bytes = width * channels * dtype.itemsize
    step = int(_get(msg, 'step', 'Image'))
    rows = _rows(msg, 'Image', row_bytes, step, height)
    arr = np.ascontiguousarray(rows).view(dtype).astype(dtype.newbyteorder('='))
    shape = (height, width) if channels == 1 else (height, width, channels)
    return arr.reshape(shape)


def image_to_rgb(msg) -> np.ndarray:
    """Decode a colour or mono Image into RGB order.

    Returns:
        (H, W, 3) uint8 RGB. ``bgr8``/``bgra8`` are reordered, alpha dropped, ``mono8``
        replicated, ``mono16`` reduced to its high byte.
    """
    encoding = str(_get(msg, 'encoding', 'Image'))
    arr = image_to_array(msg)
    if encoding in ('rgb8', '8UC3'):
        return arr
    if encoding == 'rgba8':
        return np.ascontiguousarray(arr[..., :3])
    if encoding == 'bgr8':
        return np.ascontiguousarray(arr[..., ::-1])
    if encoding == 'bgra8':
        return np.ascontiguousarray(arr[..., 2::-1])
    if encoding in ('mono8', '8UC1'):
        return np.repeat(arr[..., None], 3, axis=2)
    if encoding == 'mono16':
        return np.repeat((arr >> 8).astype(np.uint8)[..., None], 3, axis=2)
    raise InputError(f'image encoding {encoding!r} is not a colour image')


def image_to_depth_m(msg) -> np.ndarray:
    """Decode a depth Image into metres.

    Returns:
        (H, W) float32 metres, 0.0 = invalid. ``16UC1``/``mono16`` are millimetres (0 =
        invalid); ``32FC1``/``64FC1`` are metres, where NaN, Inf and negative values
        become 0.0.
    """
    encoding = str(_get(msg, 'encoding', 'Image'))
    if encoding in ('16UC1', 'mono16'):
        return mm_to_metres(image_to_array(msg))
    if encoding in ('32FC1', '64FC1'):
        arr = image_to_array(msg).astype(np.float32)
        with np.errstate(invalid='ignore'):
            good = np.isfinite(arr) & (arr > 0)
        return np.where(good, arr, np.float32(0.0)).astype(np.float32)
    raise InputError(f'image encoding {encoding!r} is not a depth encoding '
                     '(expected 16UC1 millimetres or 32FC1 metres)')


def image_fields(array, encoding: str) -> dict:
    """Encode an array as Image fields (no header).

    Args:
        array: (H, W) or (H, W, C) array matching ``encoding`` (float arrays are cast to
            float32 for ``32FC1``).
        encoding: one of :data:`ENCODINGS`.

    Returns:
        dict(height, width, encoding, is_bigendian=0, step, data: bytes), little-endian.
    """
    if encoding not in ENCODINGS:
        raise InputError(f'unsupported image encoding {encoding!r}; supported: '
                         f'{", ".join(sorted(ENCODINGS))}')
    base, channels = ENCODINGS[encoding]
    arr = np.asarray(array)
    expected_ndim = 2 if channels == 1 else 3
    if arr.ndim == 3 and channels == 1 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != expected_ndim or (channels > 1 and arr.shape[2] != channels):
        raise InputError(f'encoding {encoding} needs an array of shape '
                         f'{"(H, W)" if channels == 1 else f"(H, W, {channels})"}, '
                         f'got {arr.shape}')
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f'image is empty (shape {arr.shape})')
    target = np.dtype(base)
    if arr.dtype != target:
        if target.kind == 'f' and arr.dtype.kind == 'f':
            arr = arr.astype(target)
        else:
            raise InputError(f'encoding {encoding} needs dtype {target}, got {arr.dtype}')
    arr = np.ascontiguousarray(arr, dtype=target.newbyteorder('<'))
    height, width = arr.shape[:2]
    return dict(height=int(height), width=int(width), encoding=encoding, is_bigendian=0,
                step=int(width * channels * target.itemsize), data=arr.tobytes())


def depth_image_fields(depth_m, encoding: str = '32FC1') -> dict:
    """Encode metres as a depth Image (REP 118).

    Args:
        depth_m: (H, W) float metres, NaN/0 = invalid.
        encoding: ``'32FC1'`` (metres, invalid = NaN) or ``'16UC1'`` (millimetres, rounded,
            invalid/out of range = 0).
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if encoding == '32FC1':
        return image_fields(depth, '32FC1')
    if encoding == '16UC1':
        return image_fields(metres_to_mm(depth)[0], '16UC1')
    raise InputError(f"depth encoding must be '32FC1' or '16UC1', got {encoding!r}")


# ---------------------------------------------------------------------------- CameraInfo
def _info_field(msg, lower: str):
    for name in (lower, lower.upper()):
        if hasattr(msg, name):
            return getattr(msg, name)
    raise InputError(f'CameraInfo message has no field {lower!r}')


def camera_info_to_camera(msg) -> PinholeCamera:
    """Build a :class:`PinholeCamera` from a CameraInfo message.

    Honours ``binning_x/y`` and ``roi`` as ``image_geometry`` does (the camera then
    describes the binned / ROI image). An all-zero ``P`` falls back to ``K``.

    Raises:
        CalibrationError: uncalibrated (all-zero K) or otherwise invalid calibration.
    """
    width, height = int(_get(msg, 'width', 'CameraInfo')), int(_get(msg, 'height', 'CameraInfo'))
    K = np.asarray(_info_field(msg, 'k'), dtype=np.float64)
    if K.size == 9 and not np.any(K):
        raise CalibrationError('CameraInfo K is all zeros: the camera is uncalibrated')
    cam = PinholeCamera(
        width=width, height=height, K=K,
        D=np.asarray(_info_field(msg, 'd'), dtype=np.float64),
        P=np.asarray(_info_field(msg, 'p'), dtype=np.float64),
        R=np.asarray(_info_field(msg, 'r'), dtype=np.float64),
        distortion_model=str(getattr(msg, 'distortion_model', '') or 'plumb_bob'))
    roi = getattr(msg, 'roi', None)
    if roi is not None and int(roi.width) > 0 and int(roi.height) > 0 and (
            int(roi.width), int(roi.height)) != (width, height):
        cam = cam.cropped(int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height))
    bx = max(int(getattr(msg, 'binning_x', 0) or 0), 1)
    by = max(int(getattr(msg, 'binning_y', 0) or 0), 1)
    if bx > 1 or by > 1:
        K, P = np.array(cam.K), np.array(cam.P)
        for M in (K, P):
            M[0] /= bx
            M[1] /= by
        cam = PinholeCamera(width=cam.width // bx, height=cam.height // by, K=K, D=cam.D, P=P,
                            R=cam.R, distortion_model=cam.distortion_model)
    return cam


def camera_fields(camera: PinholeCamera) -> dict:
    """Encode a camera as CameraInfo fields (no header, binning 0, empty ROI).

    Returns:
        dict(height, width, distortion_model, d (list), k (9 list), r (9 list), p (12 list)).
    """
    if not isinstance(camera, PinholeCamera):
        raise InputError(f'camera must be a PinholeCamera, got {type(camera).__name__}')
    return dict(height=camera.height, width=camera.width,
                distortion_model=camera.distortion_model,
                d=[float(x) for x in camera.D], k=[float(x) for x in camera.K.ravel()],
                r=[float(x) for x in camera.R.ravel()], p=[float(x) for x in camera.P.ravel()])


# ---------------------------------------------------------------------------- PointCloud2
def _field_tuple(field) -> tuple:
    if isinstance(field, (tuple, list)):
        name, offset, datatype, count = field
    else:
        name, offset, datatype, count = field.name, field.offset, field.datatype, field.count
    return str(name), int(offset), int(datatype), int(count)


def cloud_to_structured(msg, names: Optional[tuple] = None) -> np.ndarray:
    """Decode a PointCloud2 into a structured array.

    Args:
        msg: PointCloud2-like object.
        names: fields to decode (default: every field with a known datatype).

    Returns:
        (height * width,) structured array with native-endian fields (row-major order).

    Raises:
        InputError: missing field, unknown datatype, or inconsistent sizes.
    """
    fields = [_field_tuple(f) for f in _get(msg, 'fields', 'PointCloud2')]
    by_name: dict = {}
    for f in fields:  # first occurrence wins (some drivers repeat padding field names)
        by_name.setdefault(f[0], f)
    if names is None:
        names = tuple(n for n, f in by_name.items() if f[2] in POINTFIELD_DTYPES and n)
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InputError(f'PointCloud2 has no field(s) {missing}; fields are '
                         f'{[f[0] for f in fields]}')
    height = int(_get(msg, 'height', 'PointCloud2'))
    width = int(_get(msg, 'width', 'PointCloud2'))
    point_step = int(_get(msg, 'point_step', 'PointCloud2'))
    row_step = int(_get(msg, 'row_step', 'PointCloud2'))
    order = '>' if _get(msg, 'is_bigendian', 'PointCloud2') else '<'
    formats, offsets = [], []
    for n in names:
        _, offset, datatype, count = by_name[n]
        if datatype not in POINTFIELD_DTYPES:
            raise InputError(f'PointCloud2 field {n!r} has unknown datatype {datatype}')
        base = np.dtype(POINTFIELD_DTYPES[datatype]).newbyteorder(order)
        fmt = base if count <= 1 else np.dtype((base, (count,)))
        if offset < 0 or offset + fmt.itemsize > point_step:
            raise InputError(f'PointCloud2 field {n!r} (offset {offset}, {fmt.itemsize} bytes) '
                             f'does not fit in point_step {point_step}')
        formats.append(fmt)
        offsets.append(offset)
    dtype = np.dtype({'names': list(names), 'formats': formats, 'offsets': offsets,
                      'itemsize': point_step})
    if height * width == 0:
        return np.zeros(0, dtype=dtype.newbyteorder('='))
    rows = _rows(msg, 'PointCloud2', width * point_step, row_step, height)
    packed = np.ascontiguousarray(rows).view(dtype).reshape(-1)
    native = np.dtype({'names': list(names),
                       'formats': [f.newbyteorder('=') if f.shape == () else
                                   np.dtype((f.base.newbyteorder('='), f.shape))
                                   for f in formats]})
    out = np.empty(packed.shape[0], dtype=native)
    for n in names:
        out[n] = packed[n]
    return out


def cloud_to_xyz(msg, drop_invalid: bool = True) -> np.ndarray:
    """Decode the x, y, z fields of a PointCloud2.

    Args:
        msg: PointCloud2-like object; x, y, z FLOAT32 or FLOAT64 at any offsets.
        drop_invalid: drop points with a NaN/Inf coordinate (else keep all, row-major).

    Returns:
        (N, 3) float32 metres.
    """
    fields = {f[0]: f for f in (_field_tuple(f) for f in _get(msg, 'fields', 'PointCloud2'))}
    for axis in ('x', 'y', 'z'):
        if axis not in fields:
            raise InputError(f'PointCloud2 has no {axis!r} field; fields are {list(fields)}')
        if fields[axis][2] not in (FLOAT32, FLOAT64):
            raise InputError(f'PointCloud2 field {axis!r} must be FLOAT32 (7) or FLOAT64 (8), '
                             f'got datatype {fields[axis][2]}')
    arr = cloud_to_structured(msg, ('x', 'y', 'z'))
    xyz = np.empty((arr.shape[0], 3), dtype=np.float32)
    xyz[:, 0] = arr['x']
    xyz[:, 1] = arr['y']
    xyz[:, 2] = arr['z']
    if drop_invalid:
        xyz = xyz[np.all(np.isfinite(xyz), axis=1)]
    return xyz


def cloud_fields(points, rgb_packed=None) -> dict:
    """Encode points as PointCloud2 fields (no header), as ``depth_image_proc`` does.

    Args:
        points: (H, W, 3) organized or (N, 3) float metres; NaN points are kept.
        rgb_packed: (H, W) (or (N,)) float32 ROS-packed rgb (see ``pointcloud.pack_rgb``).

    Returns:
        dict(height, width, fields=[(name, offset, datatype, count)], is_bigendian=False,
        point_step (16 xyz / 32 xyzrgb), row_step, data: bytes, is_dense). Organized clouds
        have ``is_dense=False``; unorganized ones are dense iff every point is finite.
    """
    pts = np.asarray(points)
    if pts.ndim == 3 and pts.shape[2] == 3:
        height, width = pts.shape[:2]
        organized = True
    elif pts.ndim == 2 and pts.shape[1] == 3:
        height, width = 1, pts.shape[0]
        organized = False
    else:
        raise InputError(f'points must have shape (H, W, 3) or (N, 3), got {pts.shape}')
    if not np.issubdtype(pts.dtype, np.number):
        raise InputError(f'points must be numeric, got dtype {pts.dtype}')
    flat = pts.reshape(-1, 3).astype(np.float32)
    fields = [('x', 0, FLOAT32, 1), ('y', 4, FLOAT32, 1), ('z', 8, FLOAT32, 1)]
    point_step = 16
    names, formats, offsets = ['x', 'y', 'z'], ['<f4'] * 3, [0, 4, 8]
    rgb = None
    if rgb_packed is not None:
        rgb = np.asarray(rgb_packed)
        if rgb.size != flat.shape[0] or rgb.shape not in ((height, width), (flat.shape[0],)):
            raise InputError(f'rgb_packed shape {rgb.shape} does not match points '
                             f'{pts.shape[:-1]}')
        if rgb.dtype != np.float32:
            raise InputError(f'rgb_packed must be float32 (packed rgb bits), got {rgb.dtype}')
        fields.append(('rgb', 16, FLOAT32, 1))
        point_step = 32
        names.append('rgb')
        formats.append('<f4')
        offsets.append(16)
    dtype = np.dtype({'names': names, 'formats': formats, 'offsets': offsets,
                      'itemsize': point_step})
    out = np.zeros(flat.shape[0], dtype=dtype)
    out['x'], out['y'], out['z'] = flat[:, 0], flat[:, 1], flat[:, 2]
    if rgb is not None:
        out['rgb'] = rgb.reshape(-1)
    is_dense = False if organized else bool(np.all(np.isfinite(flat)))
    return dict(height=int(height), width=int(width), fields=fields, is_bigendian=False,
                point_step=point_step, row_step=int(point_step * width), data=out.tobytes(),
                is_dense=is_dense)


# ---------------------------------------------------------------------------- stamps
def stamp_to_ns(stamp) -> int:
    """Convert a ``builtin_interfaces/Time`` (or a Header) to integer nanoseconds."""
    stamp = getattr(stamp, 'stamp', stamp)
    try:
        sec, nanosec = int(stamp.sec), int(stamp.nanosec)
    except AttributeError:
        raise InputError(f'not a time stamp: {type(stamp).__name__}') from None
    return sec_nanosec_to_ns(sec, nanosec)


def sec_nanosec_to_ns(sec: int, nanosec: int) -> int:
    """Return the two fields of a ``builtin_interfaces/Time`` as integer nanoseconds.

    Raises:
        InputError: ``nanosec`` outside [0, 1e9) (a buggy driver).
    """
    if not 0 <= nanosec < 1_000_000_000:
        raise InputError(f'stamp nanosec out of range: {nanosec}')
    return int(sec) * 1_000_000_000 + int(nanosec)


def ns_to_stamp(stamp_ns: int) -> tuple:
    """Split integer nanoseconds into ``(sec, nanosec)`` for a ``Time`` message."""
    if isinstance(stamp_ns, float) or not isinstance(stamp_ns, (int, np.integer)):
        raise InputError(f'stamp must be integer nanoseconds, got {stamp_ns!r}')
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return sec, nanosec


# ---------------------------------------------------------------------------- header checks
# What the perception node accepts: colour images, prompt depth images.
RGB_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')
PROMPT_ENCODINGS = ('16UC1', 'mono16', '32FC1')


def header_stamp_ns(msg) -> int:
    """Return the header stamp of a message in integer nanoseconds, validated like data.

    Raises:
        InputError: no header, ``nanosec`` outside [0, 1e9) (a buggy driver) or a negative time.
    """
    header = getattr(msg, 'header', None)
    if header is None:
        raise InputError(f'{type(msg).__name__} message has no header')
    stamp = stamp_to_ns(header.stamp)
    if stamp < 0:
        raise InputError(f'header stamp is negative: {stamp} ns')
    return stamp


def check_image_header(msg, encodings: tuple = RGB_ENCODINGS) -> int:
    """O(1) validation of an Image's metadata and stamp; return the stamp (integer ns).

    Raises:
        InputError: naming the problem (encoding, size, step, data length, stamp).
    """
    stamp = header_stamp_ns(msg)
    encoding = str(_get(msg, 'encoding', 'Image'))
    if encoding not in encodings:
        raise InputError(f'unsupported image encoding {encoding!r}; expected one of '
                         f'{list(encodings)}')
    height, width = int(_get(msg, 'height', 'Image')), int(_get(msg, 'width', 'Image'))
    if height == 0 or width == 0:
        raise InputError(f'empty image ({width}x{height})')
    base, channels = ENCODINGS[encoding]
    row = width * channels * np.dtype(base).itemsize
    step = int(_get(msg, 'step', 'Image'))
    if step < row:
        raise InputError(f'image step {step} < width * bytes per pixel = {row}')
    size = len(_get(msg, 'data', 'Image'))
    if size < step * height:
        raise InputError(f'image data has {size} bytes, expected step * height = '
                         f'{step * height}')
    return stamp


def check_compressed_header(msg) -> int:
    """O(1) validation of a CompressedImage (stamp, non-empty data); return the stamp (ns)."""
    stamp = header_stamp_ns(msg)
    if len(_get(msg, 'data', 'CompressedImage')) == 0:
        raise InputError('compressed image has no data')
    return stamp


def check_cloud_header(msg) -> int:
    """O(1) validation of a PointCloud2's layout and stamp; return the stamp (integer ns).

    Raises:
        InputError: naming the problem (missing x/y/z, empty, too little data, stamp).
    """
    stamp = header_stamp_ns(msg)
    names = {f.name for f in _get(msg, 'fields', 'PointCloud2')}
    missing = {'x', 'y', 'z'} - names
    if missing:
        raise InputError(f'point cloud has no field(s) {sorted(missing)}')
    width, height = int(msg.width), int(msg.height)
    if width * height == 0:
        raise InputError('point cloud is empty')
    size = len(_get(msg, 'data', 'PointCloud2'))
    if msg.point_step == 0 or size < msg.row_step * (height - 1) + msg.point_step * width:
        raise InputError(f'point cloud data has {size} bytes, too few for '
                         f'{width}x{height} points of {msg.point_step} bytes')
    return stamp


def decode_rgb(msg) -> np.ndarray:
    """Decode an Image or a CompressedImage (has ``format``, no ``encoding``) to RGB.

    Returns:
        (H, W, 3) uint8 RGB.

    Raises:
        InputError: undecodable data or unsupported encoding.
    """
    if hasattr(msg, 'format') and not hasattr(msg, 'encoding'):
        import cv2

        bgr = cv2.imdecode(_bytes_of(msg.data, 'CompressedImage'), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f'cannot decode compressed image (format {msg.format!r})')
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return image_to_rgb(msg)
