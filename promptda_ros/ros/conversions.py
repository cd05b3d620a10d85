# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""rclpy message construction from the core's message-field dicts, stamps and headers.

Decoding of messages into numpy lives in :mod:`promptda_ros.core.msg_codec` (duck-typed, no ROS
import); this module only builds real ``sensor_msgs`` messages from arrays and copies headers, so
that every output carries the *input image's* header unchanged.
"""

import array

from builtin_interfaces.msg import Time
import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from promptda_ros.core import msg_codec
from promptda_ros.core.camera import PinholeCamera

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp) -> int:
    """Return a ``builtin_interfaces/Time`` (or a Header) as integer ns (InputError if bad)."""
    return msg_codec.stamp_to_ns(stamp)


def ns_to_stamp(stamp_ns: int) -> Time:
    """Return integer nanoseconds as a ``builtin_interfaces/Time``."""
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


def copy_header(header) -> Header:
    """Return a new ``std_msgs/Header`` with the same stamp and frame_id (no shared objects)."""
    return Header(stamp=Time(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
                  frame_id=str(header.frame_id))


def _byte_array(data) -> array.array:
    """Wrap bytes as ``array.array('B')``, the fast path of generated uint8[] setters."""
    out = array.array('B')
    out.frombytes(data if isinstance(data, (bytes, bytearray)) else bytes(data))
    return out


def image_msg(values: np.ndarray, encoding: str, header) -> Image:
    """Build a ``sensor_msgs/Image``.

    Args:
        values: (H, W) or (H, W, C) array matching ``encoding`` (e.g. (H, W) float32 metres for
            '32FC1', (H, W, 3) uint8 for 'rgb8').
        encoding: ROS image encoding.
        header: header to copy (stamp and frame_id).
    """
    return _image_from_fields(msg_codec.image_fields(values, encoding), header)


def _image_from_fields(fields: dict, header) -> Image:
    return Image(header=copy_header(header), height=int(fields['height']),
                 width=int(fields['width']), encoding=str(fields['encoding']),
                 is_bigendian=int(fields['is_bigendian']), step=int(fields['step']),
                 data=_byte_array(fields['data']))


def depth_image_msg(depth_m: np.ndarray, header, encoding: str = '32FC1') -> Image:
    """Build a REP 118 depth image from depth_m (H, W) float metres (NaN / 0 = invalid).

    ``'32FC1'``: float32 metres, NaN = invalid.  ``'16UC1'``: uint16 millimetres, 0 = invalid
    or beyond 65.535 m, through the package's one metres -> millimetres conversion
    (:func:`promptda_ros.core.depth_units.metres_to_mm`, via
    :func:`promptda_ros.core.msg_codec.depth_image_fields`).
    """
    if encoding == '32FC1':
        return image_msg(np.ascontiguousarray(depth_m, dtype=np.float32), '32FC1', header)
    return _image_from_fields(msg_codec.depth_image_fields(depth_m, encoding), header)


def camera_info_msg(camera: PinholeCamera, header) -> CameraInfo:
    """Build a ``sensor_msgs/CameraInfo`` from a PinholeCamera (K, D, R, P, size) and a header."""
    fields = msg_codec.camera_fields(camera)
    return CameraInfo(header=copy_header(header), height=int(fields['height']),
                      width=int(fields['width']),
                      distortion_model=str(fields['distortion_model']),
                      d=[float(v) for v in fields['d']], k=[float(v) for v in fields['k']],
                      r=[float(v) for v in fields['r']], p=[float(v) for v in fields['p']])


def cloud_msg(points: np.ndarray, header, rgb_packed: np.ndarray | None = None) -> PointCloud2:
    """Build an organized ``sensor_msgs/PointCloud2`` (depth_image_proc layout, is_dense False).

    Args:
        points: (H, W, 3) float32 metres in the header's frame, NaN where invalid.
        header: header to copy.
        rgb_packed: (H, W) float32 packed rgb (see ``core.pointcloud.pack_rgb``) or None for xyz.
    """
    fields = msg_codec.cloud_fields(points, rgb_packed)
    point_fields = [PointField(name=str(name), offset=int(offset), datatype=int(datatype),
                               count=int(count))
                    for name, offset, datatype, count in fields['fields']]
    return PointCloud2(header=copy_header(header), height=int(fields['height']),
                       width=int(fields['width']), fields=point_fields,
                       is_bigendian=bool(fields['is_bigendian']),
                       point_step=int(fields['point_step']), row_step=int(fields['row_step']),
                       data=_byte_array(fields['data']), is_dense=bool(fields['is_dense']))
