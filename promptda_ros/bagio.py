# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Read a ROS 2 bag (sqlite3 or mcap, via rosbags; no ROS needed) into synchronised frames.

:func:`read_frames` pairs every camera image with its CameraInfo, the nearest LiDAR sweep
within a slop (integer-nanosecond header stamps), the optional low-resolution prompt depth
image and ground-truth depth, resolves the camera <- LiDAR extrinsic by chaining
``/tf_static`` (e.g. base_link -> lidar and base_link -> camera_optical_frame) and the camera
pose in the world from ``/tf`` when present. It streams: the bag is read twice (first the
header stamps and transforms only, then the data), and at most the messages of the frames in
flight are held in memory.
"""

from dataclasses import dataclass
from pathlib import Path
import struct
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError
from rosbags.typesys import get_typestore, Stores

from promptda_ros.core.assembly import FrameAssembler
from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.core.msg_codec import (
    camera_info_to_camera,
    cloud_to_xyz,
    image_to_array,
    image_to_depth_m,
    image_to_rgb,
    sec_nanosec_to_ns,
    stamp_to_ns,
)
from promptda_ros.core.sync import seconds_to_ns, select_nearest
from promptda_ros.core.transforms import invert_transform, make_transform, matrix_to_quat
from promptda_ros.pipeline import unit_quaternion

__all__ = ['Frame', 'read_frames', 'bag_topics', 'static_extrinsics', 'extrinsics_matrix',
           'TYPESTORE', 'IMAGE_TOPIC', 'CAMERA_INFO_TOPIC', 'LIDAR_TOPIC', 'PROMPT_DEPTH_TOPIC',
           'GT_TOPIC', 'TF_TOPIC', 'TF_STATIC_TOPIC', 'RELATIVE_TOPIC']

#: The message definitions every bag of the package is read and written with.
TYPESTORE = get_typestore(Stores.ROS2_JAZZY)

# Default topic names (the bundled sample, ``promptda-replay``, ``promptda-eval``).
IMAGE_TOPIC = '/camera/image_raw'
CAMERA_INFO_TOPIC = '/camera/camera_info'
LIDAR_TOPIC = '/lidar/points'
PROMPT_DEPTH_TOPIC = '/lidar/depth'
GT_TOPIC = '/camera/depth_gt'
RELATIVE_TOPIC = '/camera/relative_depth'  # relative depth of a monocular model (32FC1)
TF_TOPIC = '/tf'
TF_STATIC_TOPIC = '/tf_static'


@dataclass
class Frame:
    """One camera frame with everything paired to it.

    Attributes:
        index: 0-based frame number in the bag.
        stamp_ns: image header stamp, integer nanoseconds.
        rgb: (H, W, 3) uint8 RGB.
        camera: PinholeCamera of the image (from CameraInfo).
        points_lidar: (N, 3) float32 metres in the LiDAR frame, or None (no sweep within slop).
        lidar_stamp_ns: stamp of that sweep (ns) or None.
        T_cam_lidar: (4, 4) float64 camera <- LiDAR extrinsic from /tf_static, or None.
        prompt_depth_m: (h, w) float32 metres, 0 = invalid, from the prompt depth topic, or None.
        depth_gt_m: (H, W) float32 metres, NaN = invalid, or None.
        T_world_cam: (4, 4) float64 world <- camera from /tf (+ /tf_static), or None.
        camera_frame: frame id of the image.
        lidar_frame: frame id of the sweep or None.
        relative: (H', W') float32 relative depth / disparity of a monocular model (unitless,
            as stored on the relative topic), or None.
    """

    index: int
    stamp_ns: int
    rgb: np.ndarray
    camera: PinholeCamera
    points_lidar: Optional[np.ndarray] = None
    lidar_stamp_ns: Optional[int] = None
    T_cam_lidar: Optional[np.ndarray] = None
    prompt_depth_m: Optional[np.ndarray] = None
    depth_gt_m: Optional[np.ndarray] = None
    T_world_cam: Optional[np.ndarray] = None
    camera_frame: str = ''
    lidar_frame: Optional[str] = None
    relative: Optional[np.ndarray] = None


BAG_SUFFIXES = ('.db3', '.mcap')


def check_bag_path(bag_path) -> Path:
    """Return ``bag_path`` as a Path if it looks like a rosbag2 bag, else raise.

    A bag is a directory with ``metadata.yaml`` or a single ``.db3`` / ``.mcap`` file.

    Raises:
        InputError: the path does not exist or is not a bag (the message says why).
    """
    path = Path(bag_path)
    if not path.exists():
        raise InputError(f'bag {path} does not exist')
    if path.is_dir() and not (path / 'metadata.yaml').is_file():
        raise InputError(f'{path} is not a rosbag2 bag: the directory has no metadata.yaml')
    if path.is_file() and path.suffix not in BAG_SUFFIXES:
        raise InputError(f'{path} is not a rosbag2 bag: expected a bag directory '
                         f'(metadata.yaml) or a .db3 / .mcap file')
    return path


def _open(bag_path) -> Reader:
    path = check_bag_path(bag_path)
    try:
        reader = Reader(path)
        reader.open()
    except ReaderError as exc:
        raise InputError(f'cannot open bag {path}: {exc}') from None
    return reader


def bag_topics(bag_path) -> Dict[str, str]:
    """Return ``{topic: message type}`` of a bag (e.g. ``'sensor_msgs/msg/Image'``).

    Raises:
        InputError: the bag does not exist or cannot be opened.
    """
    reader = _open(bag_path)
    try:
        return {c.topic: c.msgtype for c in reader.connections}
    finally:
        reader.close()


def _header_stamp(raw: bytes) -> Tuple[int, str]:
    """Return (stamp ns, frame_id) of a CDR message that starts with a std_msgs/Header."""
    buf = memoryview(raw)
    if len(buf) < 16:
        raise InputError('message too short for a header')
    endian = '<' if buf[1] == 1 else '>'
    sec, nsec, n = struct.unpack_from(endian + 'iII', buf, 4)
    frame_id = bytes(buf[16:16 + max(0, n - 1)]).decode('utf-8', 'replace')
    return sec_nanosec_to_ns(sec, nsec), frame_id


def _tf_list(msg) -> List[Tuple[int, str, str, np.ndarray]]:
    out = []
    for tf in msg.transforms:
        t, q = tf.transform.translation, tf.transform.rotation
        stamp = stamp_to_ns(tf.header.stamp)
        out.append((stamp, tf.header.frame_id, tf.child_frame_id,
                    make_transform([t.x, t.y, t.z], [q.x, q.y, q.z, q.w])))
    return out


class _TfBuffer:
    """Static tree plus time-stamped dynamic transforms (nearest in time within a slop)."""

    def __init__(self, slop_ns: int) -> None:
        self.static: Dict[str, Tuple[str, np.ndarray]] = {}
        self.dynamic: Dict[str, Tuple[str, Any, List[np.ndarray]]] = {}  # stamps: list, array
        self.slop_ns = slop_ns

    def add_dynamic(self, stamp: int, parent: str, child: str, T: np.ndarray) -> None:
        entry = self.dynamic.setdefault(child, (parent, [], []))
        entry[1].append(stamp)
        entry[2].append(T)

    def finish(self) -> None:
        for child, (parent, stamps, Ts) in list(self.dynamic.items()):
            order = np.argsort(np.asarray(stamps, np.int64), kind='stable')
            self.dynamic[child] = (parent, np.asarray(stamps, np.int64)[order],
                                   [Ts[i] for i in order])

    def _dynamic_at(self, child: str, stamp: int) -> Optional[Tuple[str, np.ndarray]]:
        parent, stamps, Ts = self.dynamic[child]
        k = _nearest(stamps, stamp, self.slop_ns)
        return None if k is None else (parent, Ts[k])

    def to_root(self, frame: str, stamp: Optional[int]) -> Tuple[str, np.ndarray, bool]:
        """Return (root frame, T_root_frame, used dynamic transforms)."""
        T = np.eye(4)
        dynamic = False
        for _ in range(64):
            if frame in self.static:
                frame, T_pc = self.static[frame]
            elif stamp is not None and frame in self.dynamic:
                hit = self._dynamic_at(frame, stamp)
                if hit is None:
                    return frame, T, dynamic
                frame, T_pc = hit
                dynamic = True
            else:
                return frame, T, dynamic
            T = T_pc @ T
        raise InputError(f'transform tree has a cycle at frame {frame!r}')

    def static_extrinsics(self, camera_frame: str, lidar_frame: str
                          ) -> Optional[Tuple[Tuple[float, ...], Tuple[float, ...]]]:
        """Return camera <- LiDAR as (translation (3,) m, quaternion (4,) xyzw), static tree.

        None when the two frames do not hang from one root of the static tree.
        """
        root_c, T_rc = self.to_root(camera_frame, None)[:2]
        root_l, T_rl = self.to_root(lidar_frame, None)[:2]
        if root_c != root_l:
            return None
        T = invert_transform(T_rc) @ T_rl
        return (tuple(float(v) for v in T[:3, 3]),
                tuple(float(v) for v in matrix_to_quat(T[:3, :3])))


def extrinsics_matrix(translation, quat_xyzw) -> np.ndarray:
    """Return the (4, 4) float64 camera <- LiDAR transform of (translation m, quaternion xyzw).

    The perception node builds its static extrinsics from the same two parameters through the
    same :func:`~promptda_ros.pipeline.unit_quaternion`, so both give bit-identical matrices.
    """
    return make_transform([float(v) for v in translation], unit_quaternion(quat_xyzw))


def static_extrinsics(bag, camera_frame: str, lidar_frame: str,
                      tf_static_topic: str = TF_STATIC_TOPIC
                      ) -> Optional[Tuple[Tuple[float, ...], Tuple[float, ...]]]:
    """Chain camera <- LiDAR from a bag's ``/tf_static``: (translation m, quaternion xyzw).

    Args:
        bag: bag path, or an open rosbags ``Reader`` (left open).
        camera_frame, lidar_frame: frame ids.
        tf_static_topic: the static transform topic.

    Returns None when the bag has no such topic or the frames are not connected.

    Raises:
        InputError: the bag cannot be read, or the static tree has a cycle.
    """
    reader = bag if isinstance(bag, Reader) else _open(bag)
    try:
        tf = _TfBuffer(0)
        conns = [c for c in reader.connections if c.topic == tf_static_topic]
        for conn, _t, raw in reader.messages(connections=conns):
            msg = TYPESTORE.deserialize_cdr(raw, conn.msgtype)
            for _stamp, parent, child, T in _tf_list(msg):
                tf.static[child] = (parent, T)
        return tf.static_extrinsics(camera_frame, lidar_frame)
    finally:
        if reader is not bag:
            reader.close()


def _nearest(stamps: np.ndarray, stamp: int, slop_ns: int) -> Optional[int]:
    """Index in sorted ``stamps`` (int64 ns) of the one paired with ``stamp`` (ns), or None.

    The node's pairing rule (:func:`promptda_ros.core.sync.select_nearest`): the nearest within
    ``slop_ns``, inclusive; a tie goes to the later stamp. Negative stamps never pair.
    """
    if stamps.size == 0 or stamp < 0:
        return None
    j = int(np.searchsorted(stamps, stamp))
    match = select_nearest(((int(stamps[k]), k) for k in (j - 1, j) if 0 <= k < stamps.size),
                           stamp, slop_ns)
    return None if match is None else match.item


def read_frames(bag_path, image_topic: str = IMAGE_TOPIC,
                info_topic: str = CAMERA_INFO_TOPIC,
                lidar_topic: Optional[str] = LIDAR_TOPIC,
                prompt_depth_topic: Optional[str] = PROMPT_DEPTH_TOPIC,
                gt_topic: Optional[str] = GT_TOPIC, tf_topic: Optional[str] = TF_TOPIC,
                tf_static_topic: Optional[str] = TF_STATIC_TOPIC, slop_s: float = 0.05,
                require_lidar: bool = False,
                relative_topic: Optional[str] = RELATIVE_TOPIC,
                lidar_cache_size: int = 10) -> Iterator[Frame]:
    """Yield one :class:`Frame` per image of ``image_topic``, in stamp order.

    Images, camera infos, LiDAR sweeps and prompt depth images are paired as the perception node
    pairs them: fed in recording order to :class:`~promptda_ros.core.assembly.FrameAssembler`
    (the nearest sweep / prompt image within ``slop_s``, the nearest of the last camera infos).
    An image the node would leave unpaired still gives a Frame, without that part.

    Args:
        bag_path: rosbag2 directory (sqlite3 or mcap storage).
        image_topic: sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8 or mono8). Required.
        info_topic: sensor_msgs/CameraInfo of the image (the nearest of the last ones received;
            for an image before every camera info, the nearest in the bag). Required.
        lidar_topic: sensor_msgs/PointCloud2 in the LiDAR's own frame; None = not used.
        prompt_depth_topic: low-res depth Image (16UC1 mm or 32FC1 m); None = not used.
        gt_topic: ground-truth depth Image (16UC1 mm or 32FC1 m); None = not used.
        tf_topic, tf_static_topic: tf2_msgs/TFMessage topics; None = not used.
        slop_s: maximum |stamp difference| in seconds for pairing sweeps / depth / poses (the
            node's ``slop_s``).
        require_lidar: raise InputError when the bag has no ``lidar_topic``.
        relative_topic: 32FC1 Image of relative depth / disparity from a monocular model
            (nearest stamp within slop); None = not used.
        lidar_cache_size: sweeps / prompt images kept for pairing (the node's parameter).

    Optional topics absent from the bag leave the corresponding Frame fields None.

    Raises:
        InputError: the bag is missing / unreadable, or a required topic (named in the
            message) is absent, or a message cannot be decoded.
    """
    if not slop_s >= 0:
        raise InputError(f'slop_s must be >= 0 seconds, got {slop_s}')
    topics = {'image': image_topic, 'info': info_topic, 'lidar': lidar_topic,
              'prompt': prompt_depth_topic, 'gt': gt_topic, 'relative': relative_topic,
              'tf': tf_topic, 'tf_static': tf_static_topic}
    reader = _open(bag_path)
    try:
        yield from _read(reader, bag_path, topics, seconds_to_ns(slop_s), require_lidar,
                         lidar_cache_size)
    finally:
        reader.close()


def _roles(reader: Reader, bag_path, topics: Dict[str, Optional[str]],
           require_lidar: bool) -> Dict[str, str]:
    """Return ``{topic: role}`` of the bag's topics in use; raise on a missing required one."""
    by_topic = {c.topic for c in reader.connections}
    for role, label in (('image', 'image'), ('info', 'camera_info')):
        if topics[role] not in by_topic:
            raise InputError(f'bag {bag_path} has no {label} topic {topics[role]!r} (topics: '
                             f'{", ".join(sorted(by_topic)) or "none"})')
    if require_lidar and topics['lidar'] not in by_topic:
        raise InputError(f'bag {bag_path} has no LiDAR topic {topics["lidar"]!r}')
    return {topic: role for role, topic in topics.items()
            if topic is not None and topic in by_topic}


def _decode(raw: bytes, conn) -> Any:
    try:
        return TYPESTORE.deserialize_cdr(raw, conn.msgtype)
    except (ValueError, IndexError, KeyError, TypeError, struct.error) as exc:
        raise InputError(f'cannot decode a {conn.msgtype} on {conn.topic}: {exc}') from None


def _scan(reader: Reader, roles: Dict[str, str], slop_ns: int
          ) -> Tuple[List[Tuple[str, int]], Dict[str, str], '_TfBuffer']:
    """Pass 1: (role, header stamp ns) of the data messages in recording order, and more.

    Also returns the first frame id of each role and every transform.
    """
    arrivals: List[Tuple[str, int]] = []
    frames_of: Dict[str, str] = {}
    tf = _TfBuffer(slop_ns)
    conns = [c for c in reader.connections if c.topic in roles]
    for conn, _t, raw in reader.messages(connections=conns):
        role = roles[conn.topic]
        if role in ('tf', 'tf_static'):
            for stamp, parent, child, T in _tf_list(_decode(raw, conn)):
                if role == 'tf_static':
                    tf.static[child] = (parent, T)
                else:
                    tf.add_dynamic(stamp, parent, child, T)
            continue
        stamp, frame_id = _header_stamp(raw)
        arrivals.append((role, stamp))
        frames_of.setdefault(role, frame_id)
    tf.finish()
    return arrivals, frames_of, tf


def _pairings(arrivals: List[Tuple[str, int]], prompt_role: Optional[str], slop_ns: int,
              capacity: int) -> Dict[int, Dict[str, int]]:
    """Replay the arrivals through a FrameAssembler; ``{image stamp: {role: stamp}}``.

    ``prompt_role`` ('lidar' / 'prompt', or None: the camera info alone completes a frame) is
    the stream paired within slop; 'info' is the camera info the assembler chose, absent for an
    image left without one.
    """
    assembler = FrameAssembler(slop_ns, capacity, needs_prompt=prompt_role is not None)
    add = {'image': lambda s: assembler.add_image(s, s),
           'info': lambda s: assembler.add_camera_info(s, s),
           prompt_role: lambda s: assembler.add_prompt(s, s)}
    paired: Dict[int, Dict[str, int]] = {}
    events = [event for role, stamp in arrivals if role in add for event in add[role](stamp)]
    for event in events + assembler.finish():
        frame = event.frame
        if frame is not None:  # a 'complete' event
            need = {'info': frame.camera_stamp_ns}
            if prompt_role is not None and frame.prompt_stamp_ns is not None:
                need[prompt_role] = frame.prompt_stamp_ns
            paired.setdefault(event.stamp_ns, need)
        elif event.kind == 'unpaired':
            camera = assembler.camera_for(event.stamp_ns)
            paired.setdefault(event.stamp_ns, {} if camera is None else {'info': camera[0]})
    return paired


def _plan(arrivals: List[Tuple[str, int]], slop_ns: int, capacity: int, bag_path
          ) -> List[Dict[str, int]]:
    """Return, per image in stamp order, the stamp of each part it is paired with."""
    stamps = {role: np.unique(np.asarray([s for r, s in arrivals if r == role], np.int64))
              for role in ('image', 'info', 'lidar', 'prompt', 'gt', 'relative')}
    for role, label in (('image', 'image'), ('info', 'camera_info')):
        if stamps[role].size == 0:
            raise InputError(f'bag {bag_path}: {label} topic has no messages')
    present: List[Optional[str]] = [role for role in ('lidar', 'prompt') if stamps[role].size]
    present = present or [None]
    pairings = [_pairings(arrivals, role, slop_ns, capacity) for role in present]
    plan = []
    for cam_ns in stamps['image'].tolist():
        need = {'image': cam_ns}
        for paired in reversed(pairings):
            need.update(paired.get(cam_ns, {}))
        if 'info' not in need:  # before every camera info: the camera model is static
            need['info'] = int(stamps['info'][_nearest(stamps['info'], cam_ns, 1 << 62)])
        for role in ('gt', 'relative'):
            k = _nearest(stamps[role], cam_ns, slop_ns)
            if k is not None:
                need[role] = int(stamps[role][k])
        plan.append(need)
    return plan


def _lidar_extrinsics(tf: '_TfBuffer', camera_frame: str, lidar_frame: Optional[str]
                      ) -> Optional[np.ndarray]:
    """Return T_cam_lidar (4, 4) float64 from the static tree (identity for one frame) or None."""
    if lidar_frame is None:
        return None
    if lidar_frame == camera_frame:
        return np.eye(4)
    extrinsics = tf.static_extrinsics(camera_frame, lidar_frame)
    return None if extrinsics is None else extrinsics_matrix(*extrinsics)


def _read(reader: Reader, bag_path, topics: Dict[str, Optional[str]], slop_ns: int,
          require_lidar: bool, capacity: int) -> Iterator[Frame]:
    roles = _roles(reader, bag_path, topics, require_lidar)
    arrivals, frames_of, tf = _scan(reader, roles, slop_ns)
    plan = _plan(arrivals, slop_ns, capacity, bag_path)
    wanted: Dict[Tuple[str, int], int] = {}
    for need in plan:
        for key in need.items():
            wanted[key] = wanted.get(key, 0) + 1
    camera_frame = frames_of.get('image', '')
    lidar_frame = frames_of.get('lidar')
    T_cam_lidar = _lidar_extrinsics(tf, camera_frame, lidar_frame)

    # Pass 2: stream the data, emit frames in order as soon as all their parts arrived.
    held: Dict[Tuple[str, int], object] = {}
    next_frame = 0
    data_conns = [c for c in reader.connections
                  if c.topic in roles and roles[c.topic] not in ('tf', 'tf_static')]
    for conn, _t, raw in reader.messages(connections=data_conns):
        key = (roles[conn.topic], _header_stamp(raw)[0])
        if key not in wanted or key in held:
            continue
        held[key] = _decode(raw, conn)
        while next_frame < len(plan) and all(k in held for k in plan[next_frame].items()):
            need = plan[next_frame]
            yield _make_frame(next_frame, need, held, T_cam_lidar, tf, camera_frame,
                              lidar_frame)
            for part in need.items():
                wanted[part] -= 1
                if wanted[part] == 0:
                    del wanted[part]
                    del held[part]
            next_frame += 1
    if next_frame < len(plan):
        raise InputError(f'bag {bag_path}: could not assemble frame {next_frame} '
                         '(messages changed between reads?)')


def _make_frame(index: int, need: dict, held: dict, T_cam_lidar, tf: _TfBuffer,
                camera_frame: str, lidar_frame: Optional[str]) -> Frame:
    cam_ns = need['image']
    image_msg = held[('image', cam_ns)]
    rgb = image_to_rgb(image_msg)
    camera = camera_info_to_camera(held[('info', need['info'])])
    if (camera.height, camera.width) != rgb.shape[:2]:
        raise InputError(f'frame {index}: CameraInfo is {camera.width}x{camera.height} but the '
                         f'image is {rgb.shape[1]}x{rgb.shape[0]}')
    frame = Frame(index=index, stamp_ns=cam_ns, rgb=rgb, camera=camera,
                  camera_frame=camera_frame)
    if 'lidar' in need:
        frame.points_lidar = cloud_to_xyz(held[('lidar', need['lidar'])])
        frame.lidar_stamp_ns = need['lidar']
        frame.lidar_frame = lidar_frame
        frame.T_cam_lidar = None if T_cam_lidar is None else T_cam_lidar.copy()
    if 'prompt' in need:
        frame.prompt_depth_m = image_to_depth_m(held[('prompt', need['prompt'])])
    if 'gt' in need:
        gt = image_to_depth_m(held[('gt', need['gt'])])
        frame.depth_gt_m = np.where(gt > 0, gt, np.float32(np.nan)).astype(np.float32)
    if 'relative' in need:
        frame.relative = image_to_array(held[('relative', need['relative'])]).astype(np.float32)
    _, T_world_cam, dynamic = tf.to_root(camera_frame, cam_ns)
    if dynamic:
        frame.T_world_cam = T_world_cam
    return frame
