# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Round trips of the duck-typed message codec with rosbags (and rclpy) message classes."""

import struct

import numpy as np
import pytest
from rosbags.typesys import get_typestore, Stores

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import CalibrationError, InputError
from promptda_ros.core.msg_codec import (
    camera_fields,
    camera_info_to_camera,
    cloud_fields,
    cloud_to_structured,
    cloud_to_xyz,
    depth_image_fields,
    image_fields,
    image_to_array,
    image_to_depth_m,
    image_to_rgb,
    ns_to_stamp,
    stamp_to_ns,
)
from promptda_ros.core.pointcloud import pack_rgb, unpack_rgb

TS = get_typestore(Stores.ROS2_JAZZY)
Image = TS.types['sensor_msgs/msg/Image']
CameraInfo = TS.types['sensor_msgs/msg/CameraInfo']
PointCloud2 = TS.types['sensor_msgs/msg/PointCloud2']
PointField = TS.types['sensor_msgs/msg/PointField']
RegionOfInterest = TS.types['sensor_msgs/msg/RegionOfInterest']
Header = TS.types['std_msgs/msg/Header']
Time = TS.types['builtin_interfaces/msg/Time']
HEADER = Header(stamp=Time(sec=1_700_000_000, nanosec=123_456_789), frame_id='camera')


def _wire(msg, msgtype):
    """Serialise to CDR and back, as a bag writer/reader would."""
    return TS.deserialize_cdr(TS.serialize_cdr(msg, msgtype), msgtype)


def _image(fields):
    data = np.frombuffer(fields.pop('data'), np.uint8)
    return _wire(Image(header=HEADER, data=data, **fields), Image.__msgtype__)


def _cloud(fields):
    data = np.frombuffer(fields.pop('data'), np.uint8)
    pfs = [PointField(name=n, offset=o, datatype=d, count=c)
           for n, o, d, c in fields.pop('fields')]
    return _wire(PointCloud2(header=HEADER, fields=pfs, data=data, **fields),
                 PointCloud2.__msgtype__)


RNG = np.random.default_rng(0)
ARRAYS = {
    'rgb8': RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    'bgr8': RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    'rgba8': RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    'bgra8': RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    'mono8': RNG.integers(0, 256, (5, 7), dtype=np.uint8),
    'mono16': RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    '16UC1': RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    '32FC1': RNG.normal(size=(5, 7)).astype(np.float32),
}


@pytest.mark.parametrize('encoding', sorted(ARRAYS))
def test_image_round_trip(encoding):
    arr = ARRAYS[encoding]
    fields = image_fields(arr, encoding)
    assert fields['step'] == arr.shape[1] * arr.itemsize * (arr.shape[2] if arr.ndim == 3 else 1)
    msg = _image(fields)
    out = image_to_array(msg)
    assert out.dtype == arr.dtype
    np.testing.assert_array_equal(out, arr)
    out[...] = 0  # a fresh, writable copy
    assert np.any(image_to_array(msg) != 0)


def test_image_to_rgb_orders_channels():
    rgb = ARRAYS['rgb8']
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 9, np.uint8)], axis=2)
    bgra = np.concatenate([bgr, np.full(rgb.shape[:2] + (1,), 9, np.uint8)], axis=2)
    for arr, enc in [(rgb, 'rgb8'), (bgr, 'bgr8'), (rgba, 'rgba8'), (bgra, 'bgra8')]:
        np.testing.assert_array_equal(image_to_rgb(_image(image_fields(arr, enc))), rgb)
    mono = ARRAYS['mono8']
    np.testing.assert_array_equal(image_to_rgb(_image(image_fields(mono, 'mono8'))),
                                  np.repeat(mono[..., None], 3, axis=2))
    with pytest.raises(InputError, match='not a colour image'):
        image_to_rgb(_image(image_fields(ARRAYS['32FC1'], '32FC1')))


def test_row_padding_and_big_endian():
    depth_mm = np.array([[1, 2, 65535], [1000, 0, 258]], dtype=np.uint16)
    step = 3 * 2 + 5  # 5 padding bytes per row
    rows = [depth_mm[r].astype('>u2').tobytes() + b'\xee' * 5 for r in range(2)]
    msg = Image(header=HEADER, height=2, width=3, encoding='16UC1', is_bigendian=1, step=step,
                data=np.frombuffer(b''.join(rows), np.uint8))
    np.testing.assert_array_equal(image_to_array(_wire(msg, Image.__msgtype__)), depth_mm)
    # Last row without its padding is accepted too.
    short = Image(header=HEADER, height=2, width=3, encoding='16UC1', is_bigendian=1, step=step,
                  data=np.frombuffer(b''.join(rows)[:-5], np.uint8))
    np.testing.assert_array_equal(image_to_array(short), depth_mm)
    rgb = ARRAYS['rgb8']
    padded = np.zeros((5, 7 * 3 + 3), np.uint8)
    padded[:, :21] = rgb.reshape(5, 21)
    msg = Image(header=HEADER, height=5, width=7, encoding='rgb8', is_bigendian=0, step=24,
                data=padded.ravel())
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)


def test_depth_decoding_units_and_invalid():
    mm = np.array([[0, 1500], [65535, 1]], dtype=np.uint16)
    np.testing.assert_allclose(image_to_depth_m(_image(image_fields(mm, '16UC1'))),
                               [[0, 1.5], [65.535, 0.001]], rtol=1e-6)
    m = np.array([[np.nan, 2.5], [np.inf, -1.0]], dtype=np.float32)
    out = image_to_depth_m(_image(image_fields(m, '32FC1')))
    np.testing.assert_array_equal(out, [[0, 2.5], [0, 0]])
    assert out.dtype == np.float32
    back = image_to_depth_m(_image(depth_image_fields(np.array([[1.2344, np.nan]]), '16UC1')))
    np.testing.assert_allclose(back, [[1.234, 0.0]], rtol=1e-6)
    with pytest.raises(InputError, match='not a depth encoding'):
        image_to_depth_m(_image(image_fields(ARRAYS['rgb8'], 'rgb8')))


@pytest.mark.parametrize('kwargs, fragment', [
    (dict(encoding='yuv422'), 'unsupported image encoding'),
    (dict(step=4), 'smaller than one row'),
    (dict(data=np.zeros(10, np.uint8)), 'expected at least'),
    (dict(height=0), 'empty'),
])
def test_bad_images_raise(kwargs, fragment):
    args = dict(header=HEADER, height=2, width=3, encoding='16UC1', is_bigendian=0, step=6,
                data=np.zeros(12, np.uint8))
    args.update(kwargs)
    with pytest.raises(InputError, match=fragment):
        image_to_array(Image(**args))


def test_image_fields_rejects_mismatches():
    with pytest.raises(InputError, match=r'\(H, W, 3\)'):
        image_fields(np.zeros((4, 4), np.uint8), 'rgb8')
    with pytest.raises(InputError, match='dtype uint16'):
        image_fields(np.zeros((4, 4), np.float32), '16UC1')
    with pytest.raises(InputError, match='unsupported'):
        image_fields(np.zeros((4, 4), np.uint8), 'jpeg')
    # float64 metres are accepted for 32FC1.
    assert image_fields(np.zeros((2, 2)), '32FC1')['step'] == 8


def test_camera_info_round_trip_and_semantics():
    cam = PinholeCamera(width=640, height=480, K=[[500.0, 0, 300], [0, 505.0, 250], [0, 0, 1]],
                        D=[0.1, -0.02, 0.001, 0.0, 0.003],
                        P=[[480.0, 0, 310, 0], [0, 485.0, 245, 0], [0, 0, 1, 0]])
    f = camera_fields(cam)
    assert len(f['k']) == 9 and len(f['p']) == 12 and len(f['r']) == 9 and len(f['d']) == 5
    msg = _wire(CameraInfo(header=HEADER, binning_x=0, binning_y=0,
                           roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0,
                                                do_rectify=False),
                           **{k: (np.asarray(v, float) if isinstance(v, list) else v)
                              for k, v in f.items()}), CameraInfo.__msgtype__)
    back = camera_info_to_camera(msg)
    assert back == cam
    assert (back.fx, back.cx) == (480.0, 310.0)


def _info(**over):
    args = dict(header=HEADER, height=480, width=640, distortion_model='plumb_bob',
                d=np.zeros(5), k=np.array([500.0, 0, 320, 0, 500.0, 240, 0, 0, 1]),
                r=np.eye(3).ravel(), p=np.zeros(12), binning_x=0, binning_y=0,
                roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0,
                                     do_rectify=False))
    args.update(over)
    return CameraInfo(**args)


def test_camera_info_zero_p_binning_roi_and_errors():
    cam = camera_info_to_camera(_info())
    assert (cam.fx, cam.cx, cam.cy) == (500.0, 320.0, 240.0)  # P all zero -> K
    binned = camera_info_to_camera(_info(binning_x=2, binning_y=2))
    assert (binned.width, binned.height, binned.fx, binned.cx) == (320, 240, 250.0, 160.0)
    roi = RegionOfInterest(x_offset=100, y_offset=50, height=200, width=300, do_rectify=True)
    cropped = camera_info_to_camera(_info(roi=roi))
    assert (cropped.width, cropped.height, cropped.cx, cropped.cy) == (300, 200, 220.0, 190.0)
    with pytest.raises(CalibrationError, match='uncalibrated'):
        camera_info_to_camera(_info(k=np.zeros(9)))
    with pytest.raises(CalibrationError, match='focal'):
        camera_info_to_camera(_info(k=np.array([-1.0, 0, 320, 0, 500.0, 240, 0, 0, 1])))


def test_cloud_arbitrary_layout_padding_and_big_endian():
    # Organized 2 x 3, fields: intensity f4 @0, x f8 @4, ring u2 @12, y f4 @14, z f8 @18,
    # point_step 28, row_step with 6 bytes of padding; both byte orders.
    xyz = RNG.normal(size=(2, 3, 3))
    xyz[1, 2, 0] = np.nan
    for big in (False, True):
        o = '>' if big else '<'
        rows = []
        for r in range(2):
            row = b''
            for c in range(3):
                x, y, z = xyz[r, c]
                row += struct.pack(o + 'fdHfd', 7.5, x, 3 * r + c, y, z) + b'\x00' * 2
            rows.append(row + b'\xab' * 6)
        fields = [PointField(name='intensity', offset=0, datatype=7, count=1),
                  PointField(name='x', offset=4, datatype=8, count=1),
                  PointField(name='ring', offset=12, datatype=4, count=1),
                  PointField(name='y', offset=14, datatype=7, count=1),
                  PointField(name='z', offset=18, datatype=8, count=1)]
        msg = _wire(PointCloud2(header=HEADER, height=2, width=3, fields=fields,
                                is_bigendian=big, point_step=28, row_step=3 * 28 + 6,
                                data=np.frombuffer(b''.join(rows), np.uint8), is_dense=False),
                    PointCloud2.__msgtype__)
        out = cloud_to_xyz(msg)
        expected = xyz.reshape(-1, 3)
        expected = expected[np.all(np.isfinite(expected), axis=1)].astype(np.float32)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, expected)
        assert cloud_to_xyz(msg, drop_invalid=False).shape == (6, 3)
        rec = cloud_to_structured(msg)
        np.testing.assert_array_equal(rec['ring'], np.arange(6))
        np.testing.assert_array_equal(rec['intensity'], 7.5)


def test_cloud_fields_organized_xyzrgb_round_trip():
    pts = RNG.normal(size=(4, 5, 3)).astype(np.float32)
    pts[0, 0] = np.nan
    rgb = RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    f = cloud_fields(pts, pack_rgb(rgb))
    assert (f['height'], f['width'], f['point_step'], f['row_step']) == (4, 5, 32, 160)
    assert f['fields'] == [('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 16, 7, 1)]
    assert f['is_dense'] is False and f['is_bigendian'] is False
    msg = _cloud(dict(f))
    rec = cloud_to_structured(msg)
    np.testing.assert_array_equal(unpack_rgb(rec['rgb']).reshape(4, 5, 3), rgb)
    all_pts = cloud_to_xyz(msg, drop_invalid=False).reshape(4, 5, 3)
    np.testing.assert_array_equal(all_pts, pts)
    assert cloud_to_xyz(msg).shape == (19, 3)
    plain = cloud_fields(pts.reshape(-1, 3)[1:])
    assert (plain['height'], plain['width'], plain['point_step']) == (1, 19, 16)
    assert plain['is_dense'] is True
    np.testing.assert_array_equal(cloud_to_xyz(_cloud(dict(plain))), pts.reshape(-1, 3)[1:])


def test_bad_clouds_raise():
    good = cloud_fields(np.zeros((3, 3), np.float32))
    no_z = dict(good, fields=good['fields'][:2])
    with pytest.raises(InputError, match="no 'z' field"):
        cloud_to_xyz(_cloud(no_z))
    ints = dict(good, fields=[('x', 0, 5, 1), ('y', 4, 7, 1), ('z', 8, 7, 1)])
    with pytest.raises(InputError, match='FLOAT32'):
        cloud_to_xyz(_cloud(ints))
    outside = dict(good, fields=[('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 14, 7, 1)])
    with pytest.raises(InputError, match='does not fit'):
        cloud_to_xyz(_cloud(outside))
    short = dict(good, data=good['data'][:20])
    with pytest.raises(InputError, match='expected at least'):
        cloud_to_xyz(_cloud(short))
    with pytest.raises(InputError, match=r'\(H, W, 3\) or \(N, 3\)'):
        cloud_fields(np.zeros((3, 2)))
    with pytest.raises(InputError, match='does not match'):
        cloud_fields(np.zeros((2, 2, 3)), np.zeros((3, 3), np.float32))


def test_empty_cloud_decodes_to_no_points():
    f = cloud_fields(np.zeros((0, 3), np.float32))
    assert cloud_to_xyz(_cloud(f)).shape == (0, 3)


def test_stamps_are_integer_nanoseconds():
    assert stamp_to_ns(HEADER) == 1_700_000_000_123_456_789
    assert stamp_to_ns(HEADER.stamp) == 1_700_000_000_123_456_789
    assert ns_to_stamp(1_700_000_000_123_456_789) == (1_700_000_000, 123_456_789)
    with pytest.raises(InputError, match='integer nanoseconds'):
        ns_to_stamp(1.5e9)


def test_rclpy_messages_decode_identically():
    msgs = pytest.importorskip('sensor_msgs.msg')
    arr = ARRAYS['bgr8']
    img = msgs.Image(**image_fields(arr, 'bgr8'))
    np.testing.assert_array_equal(image_to_rgb(img), arr[..., ::-1])
    pts = RNG.normal(size=(2, 3, 3)).astype(np.float32)
    f = cloud_fields(pts)
    f['fields'] = [msgs.PointField(name=n, offset=o, datatype=d, count=c)
                   for n, o, d, c in f['fields']]
    cloud = msgs.PointCloud2(**f)
    np.testing.assert_array_equal(cloud_to_xyz(cloud), pts.reshape(-1, 3))
    info = msgs.CameraInfo(**camera_fields(PinholeCamera.from_intrinsics(5.0, 6.0, 2, 3, 8, 6)))
    assert camera_info_to_camera(info).fy == 6.0


def test_repeated_field_names_use_first_occurrence():
    f = cloud_fields(np.arange(6, dtype=np.float32).reshape(2, 3))
    f['fields'] = f['fields'] + [('', 12, 7, 1), ('', 12, 7, 1), ('x', 12, 7, 1)]
    rec = cloud_to_structured(_cloud(f))
    assert rec.dtype.names == ('x', 'y', 'z')
    np.testing.assert_array_equal(rec['x'], [0.0, 3.0])
