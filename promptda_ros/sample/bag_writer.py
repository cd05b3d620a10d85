# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Write the generated sample scene as a ROS 2 bag (rosbags, no ROS installation needed).

Topics (frame ids in brackets), all stamped with the sensor time:

=========================  ==========================  =====================================
``/camera/image_raw``      sensor_msgs/Image rgb8       [camera_optical_frame], 10 Hz
``/camera/camera_info``    sensor_msgs/CameraInfo       [camera_optical_frame], with each image
``/camera/depth_gt``       sensor_msgs/Image 32FC1 m    [camera_optical_frame], ground truth
``/camera/relative_depth`` sensor_msgs/Image 32FC1      [camera_optical_frame] relative
                                                        disparity of a simulated monocular
                                                        model (:mod:`.mono_sim`), unitless
``/lidar/points``          sensor_msgs/PointCloud2      [lidar] x, y, z, intensity float32;
                                                        camera stamp + ``lidar_offset_s``
``/lidar/depth``           sensor_msgs/Image 16UC1 mm   [camera_optical_frame] the same sweep
                                                        projected on a low-res grid (0 = none)
``/tf``                    tf2_msgs/TFMessage           odom -> base_link at every sensor stamp
``/tf_static``             tf2_msgs/TFMessage           base_link -> camera_optical_frame and
                                                        base_link -> lidar (transient local)
=========================  ==========================  =====================================
"""

from pathlib import Path
import sys
from typing import Callable, Optional, Union

import numpy as np
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

from promptda_ros.bagio import (
    CAMERA_INFO_TOPIC,
    GT_TOPIC,
    IMAGE_TOPIC,
    LIDAR_TOPIC,
    PROMPT_DEPTH_TOPIC,
    RELATIVE_TOPIC,
    TF_STATIC_TOPIC,
    TF_TOPIC,
    TYPESTORE,
)
from promptda_ros.core.errors import InputError
from promptda_ros.core.msg_codec import camera_fields, depth_image_fields, image_fields
from promptda_ros.core.transforms import matrix_to_quat
from promptda_ros.pipeline import lidar_prompt_grid, PipelineConfig
from promptda_ros.sample.scene import SampleConfig, SampleGenerator

# The topic names the bag reader, the replay and the evaluation default to (named once, in bagio).
INFO_TOPIC = CAMERA_INFO_TOPIC
LIDAR_DEPTH_TOPIC = PROMPT_DEPTH_TOPIC
WORLD_FRAME = 'odom'
BASE_FRAME = 'base_link'
CAMERA_FRAME = 'camera_optical_frame'
LIDAR_FRAME = 'lidar'
PROMPT_WIDTH = 256
"""Width of the ``/lidar/depth`` grid; its height keeps the image aspect (192 for 4:3)."""

_STORAGES = {'sqlite3': StoragePlugin.SQLITE3, 'mcap': StoragePlugin.MCAP}
_ZERO = QosTime(sec=0, nsec=0)
SENSOR_QOS = Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE,
                 _ZERO, _ZERO, QosLiveliness.AUTOMATIC, _ZERO, False)
STATIC_QOS = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE,
                 QosDurability.TRANSIENT_LOCAL, _ZERO, _ZERO, QosLiveliness.AUTOMATIC, _ZERO,
                 False)
TF_QOS = Qos(QosHistory.KEEP_LAST, 100, QosReliability.RELIABLE, QosDurability.VOLATILE,
             _ZERO, _ZERO, QosLiveliness.AUTOMATIC, _ZERO, False)

_TYPES = {
    IMAGE_TOPIC: 'sensor_msgs/msg/Image',
    INFO_TOPIC: 'sensor_msgs/msg/CameraInfo',
    GT_TOPIC: 'sensor_msgs/msg/Image',
    RELATIVE_TOPIC: 'sensor_msgs/msg/Image',
    LIDAR_TOPIC: 'sensor_msgs/msg/PointCloud2',
    LIDAR_DEPTH_TOPIC: 'sensor_msgs/msg/Image',
    TF_TOPIC: 'tf2_msgs/msg/TFMessage',
    TF_STATIC_TOPIC: 'tf2_msgs/msg/TFMessage',
}


def prompt_grid_hw(width: int, height: int) -> tuple:
    """Return the (h, w) of the ``/lidar/depth`` grid for a ``width`` x ``height`` image."""
    return max(1, int(round(height * PROMPT_WIDTH / width))), PROMPT_WIDTH


class _Messages:
    """Builds rosbags message objects from numpy data."""

    def __init__(self, store) -> None:
        self.store = store
        self.t = store.types

    def header(self, stamp_ns: int, frame_id: str):
        sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
        return self.t['std_msgs/msg/Header'](
            stamp=self.t['builtin_interfaces/msg/Time'](sec=sec, nanosec=nsec),
            frame_id=frame_id)

    def image(self, stamp_ns: int, frame_id: str, fields: dict):
        fields = dict(fields)
        fields['data'] = np.frombuffer(fields['data'], np.uint8)
        return self.t['sensor_msgs/msg/Image'](header=self.header(stamp_ns, frame_id), **fields)

    def camera_info(self, stamp_ns: int, frame_id: str, camera):
        f = camera_fields(camera)
        roi_type = self.t['sensor_msgs/msg/RegionOfInterest']
        roi = roi_type(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        return self.t['sensor_msgs/msg/CameraInfo'](
            header=self.header(stamp_ns, frame_id), height=f['height'], width=f['width'],
            distortion_model=f['distortion_model'], d=np.asarray(f['d'], np.float64),
            k=np.asarray(f['k'], np.float64), r=np.asarray(f['r'], np.float64),
            p=np.asarray(f['p'], np.float64), binning_x=0, binning_y=0, roi=roi)

    def cloud(self, stamp_ns: int, frame_id: str, points: np.ndarray, intensity: np.ndarray):
        """Build an unorganized PointCloud2 with float32 x, y, z and intensity (16-byte points)."""
        dtype = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4')])
        rec = np.empty(points.shape[0], dtype)
        rec['x'], rec['y'], rec['z'] = points[:, 0], points[:, 1], points[:, 2]
        rec['intensity'] = intensity
        point_field = self.t['sensor_msgs/msg/PointField']
        fields = [point_field(name=n, offset=4 * i, datatype=point_field.FLOAT32, count=1)
                  for i, n in enumerate(('x', 'y', 'z', 'intensity'))]
        return self.t['sensor_msgs/msg/PointCloud2'](
            header=self.header(stamp_ns, frame_id), height=1, width=int(points.shape[0]),
            fields=fields, is_bigendian=False, point_step=16, row_step=16 * points.shape[0],
            data=np.frombuffer(rec.tobytes(), np.uint8),
            is_dense=bool(np.all(np.isfinite(points))))

    def tf(self, transforms: list):
        """Build a TFMessage from ``[(stamp_ns, parent, child, T_parent_child (4, 4))]``."""
        out = []
        for stamp_ns, parent, child, T in transforms:
            q = matrix_to_quat(T[:3, :3])
            t = T[:3, 3]
            out.append(self.t['geometry_msgs/msg/TransformStamped'](
                header=self.header(stamp_ns, parent), child_frame_id=child,
                transform=self.t['geometry_msgs/msg/Transform'](
                    translation=self.t['geometry_msgs/msg/Vector3'](
                        x=float(t[0]), y=float(t[1]), z=float(t[2])),
                    rotation=self.t['geometry_msgs/msg/Quaternion'](
                        x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))))
        return self.t['tf2_msgs/msg/TFMessage'](transforms=out)


def _progress_writer(progress: Union[bool, Callable[[int, int], None]]):
    if callable(progress):
        return progress
    if not progress:
        return None

    def report(done: int, total: int) -> None:
        sys.stderr.write(f'\rsample bag: frame {done}/{total}')
        if done == total:
            sys.stderr.write('\n')
        sys.stderr.flush()
    return report


def write_sample_bag(path, config: Optional[SampleConfig] = None,
                     progress: Union[bool, Callable[[int, int], None]] = True,
                     storage: str = 'sqlite3') -> Path:
    """Generate the sample scene and write it as a ROS 2 bag (format version 8).

    Args:
        path: bag directory to create; it must not exist yet.
        config: scene / sensor settings (default :class:`SampleConfig()`: 30 frames, 640x480).
        progress: True = one-line frame counter on stderr, False = silent, or a callable
            ``progress(done, total)``.
        storage: 'sqlite3' (default) or 'mcap'.

    Returns:
        Path of the bag directory.

    Raises:
        InputError: unknown storage, the path already exists, or an invalid config.
    """
    if storage not in _STORAGES:
        raise InputError(f"storage must be 'sqlite3' or 'mcap', got {storage!r}")
    config = SampleConfig() if config is None else config
    if not isinstance(config, SampleConfig):
        raise InputError(f'config must be a SampleConfig, got {type(config).__name__}')
    path = Path(path)
    if path.exists():
        raise InputError(f'bag path {path} already exists; choose a new directory')
    if not path.parent.is_dir():
        raise InputError(f'parent directory {path.parent} does not exist')
    gen = SampleGenerator(config)
    report = _progress_writer(progress)
    store = TYPESTORE
    msgs = _Messages(store)
    cam = gen.camera
    grid = PipelineConfig.with_prompt_hw(prompt_grid_hw(cam.width, cam.height), min_depth=0.0)
    T_cam_lidar = gen.T_cam_lidar
    total = gen.num_frames
    try:
        writer = Writer(path, version=8, storage_plugin=_STORAGES[storage])
    except WriterError as exc:
        raise InputError(f'cannot create bag {path}: {exc}') from None
    with writer:
        conns = {}
        for topic, msgtype in _TYPES.items():
            qos = STATIC_QOS if topic == TF_STATIC_TOPIC else \
                TF_QOS if topic == TF_TOPIC else SENSOR_QOS
            conns[topic] = writer.add_connection(topic, msgtype, typestore=store,
                                                 offered_qos_profiles=[qos])

        def write(topic: str, stamp_ns: int, msg) -> None:
            writer.write(conns[topic], int(stamp_ns),
                         store.serialize_cdr(msg, _TYPES[topic]))

        t0 = gen.stamps_ns(0)[0]
        write(TF_STATIC_TOPIC, t0, msgs.tf([
            (t0, BASE_FRAME, CAMERA_FRAME, gen.T_base_cam),
            (t0, BASE_FRAME, LIDAR_FRAME, gen.T_base_lidar)]))
        if report:
            report(0, total)
        for frame in gen.frames():
            cam_ns, lidar_ns = frame.stamp_ns, frame.lidar_stamp_ns
            events = [
                (cam_ns, TF_TOPIC, lambda: msgs.tf(
                    [(cam_ns, WORLD_FRAME, BASE_FRAME, frame.T_world_base)])),
                (cam_ns, INFO_TOPIC, lambda: msgs.camera_info(cam_ns, CAMERA_FRAME, cam)),
                (cam_ns, IMAGE_TOPIC, lambda: msgs.image(
                    cam_ns, CAMERA_FRAME, image_fields(frame.rgb, 'rgb8'))),
                (cam_ns, GT_TOPIC, lambda: msgs.image(
                    cam_ns, CAMERA_FRAME, depth_image_fields(frame.depth_gt_m, '32FC1'))),
                (cam_ns, RELATIVE_TOPIC, lambda: msgs.image(
                    cam_ns, CAMERA_FRAME, image_fields(frame.relative, '32FC1'))),
                (lidar_ns, TF_TOPIC, lambda: msgs.tf(
                    [(lidar_ns, WORLD_FRAME, BASE_FRAME, frame.T_world_base_lidar)])),
                (lidar_ns, LIDAR_TOPIC, lambda: msgs.cloud(
                    lidar_ns, LIDAR_FRAME, frame.points_lidar, frame.intensity)),
                (lidar_ns, LIDAR_DEPTH_TOPIC, lambda: msgs.image(
                    lidar_ns, CAMERA_FRAME, depth_image_fields(lidar_prompt_grid(
                        frame.points_lidar.astype(np.float64), T_cam_lidar, cam, grid),
                        '16UC1'))),
            ]
            # Stable sort: the bag is written in time order even for a negative LiDAR offset.
            for stamp, topic, build in sorted(events, key=lambda e: e[0]):
                write(topic, stamp, build())
            if report:
                report(frame.index + 1, total)
    return path


def copy_bag(src, dst, drop_topics=(), storage: str = 'sqlite3') -> Path:
    """Copy a ROS 2 bag without some topics (raw CDR messages, definitions and QoS kept).

    E.g. the sample without its ground truth:
    ``copy_bag('sample', 'no_gt', ['/camera/depth_gt'])``.

    Args:
        src: bag to read (sqlite3 or mcap).
        dst: bag directory to create; it must not exist yet.
        drop_topics: topics left out.
        storage: 'sqlite3' (default) or 'mcap' for the copy.

    Returns:
        Path of the new bag.

    Raises:
        InputError: unreadable source, existing destination, unknown storage, or a topic to
            drop that the bag does not have (a typo would silently keep it).
    """
    from rosbags.rosbag2 import Reader

    from promptda_ros.bagio import check_bag_path

    if storage not in _STORAGES:
        raise InputError(f"storage must be 'sqlite3' or 'mcap', got {storage!r}")
    dst = Path(dst)
    if dst.exists():
        raise InputError(f'bag path {dst} already exists; choose a new directory')
    with Reader(check_bag_path(src)) as reader:
        topics = {c.topic for c in reader.connections}
        unknown = sorted(set(drop_topics) - topics)
        if unknown:
            raise InputError(f"bag {src} has no topic {', '.join(unknown)} to drop")
        keep = [c for c in reader.connections if c.topic not in set(drop_topics)]
        try:
            writer = Writer(dst, version=8, storage_plugin=_STORAGES[storage])
        except WriterError as exc:
            raise InputError(f'cannot create bag {dst}: {exc}') from None
        with writer:
            out = {}
            for c in keep:
                out[c.id] = writer.add_connection(
                    c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest,
                    serialization_format=c.ext.serialization_format,
                    offered_qos_profiles=c.ext.offered_qos_profiles)
            for c, t_ns, raw in reader.messages(connections=keep):
                writer.write(out[c.id], t_ns, raw)
    return dst
