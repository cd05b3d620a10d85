# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Replay a ROS 2 bag through the perception node over a real rclpy graph and record its outputs.

``promptda-replay BAG --out OUT_BAG [--params FILE] [--realtime] [--rate X]``

In one process: the perception node and a player/recorder node share one executor thread on a
private rclpy context.  The player reads the bag with rosbags and publishes the camera, camera_info
and LiDAR (or prompt depth) messages; the recorder serialises the node's outputs
(``depth/image``, ``depth/camera_info``, optionally ``depth/points``) with
``rclpy.serialization.serialize_message`` and writes the CDR bytes into a new bag with rosbags.

Pacing: as fast as the node keeps up (default: each frame is published once the previous one has
left the node, with a timeout), or real time (``--realtime``, scaled by ``--rate``).

Over 500 lines because the player, its pacing modes, the output recorder and the CLI form one
tool; the pairing and pipeline it drives live in the core.
"""

import argparse
from dataclasses import dataclass
import math
import os
from pathlib import Path
import sys
import threading
import time
from typing import Any, Mapping

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, ReaderError, Writer, WriterError
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from tqdm import tqdm
import yaml

from promptda_ros.bagio import (
    CAMERA_INFO_TOPIC,
    extrinsics_matrix,
    IMAGE_TOPIC,
    LIDAR_TOPIC,
    PROMPT_DEPTH_TOPIC,
    static_extrinsics,
    TYPESTORE,
)
from promptda_ros.core.errors import InputError, PromptDAError
from promptda_ros.core.sync import seconds_to_ns
from promptda_ros.params_file import read_params_file as load_params_file
from promptda_ros.ros.conversions import stamp_to_ns
from promptda_ros.ros.params import SPECS
from promptda_ros.serving import tune_allocator

PENDING_GRACE_S = 0.3
OUTPUT_TOPICS = {'depth/image': ('/promptda/depth/image', Image, 'sensor_msgs/msg/Image'),
                 'depth/camera_info': ('/promptda/depth/camera_info', CameraInfo,
                                       'sensor_msgs/msg/CameraInfo'),
                 'depth/points': ('/promptda/depth/points', PointCloud2,
                                  'sensor_msgs/msg/PointCloud2')}


@dataclass
class ReplayStats:
    """Summary of one replay (latencies in ms, rates in Hz).

    ``wall_s`` runs from the first published image to the last output written; ``setup_s`` is
    the time before it (backend load and warm-up, graph discovery).
    """

    frames_in: int
    frames_out: int
    dropped: int
    unpaired: int
    errors: int
    timeouts: int
    mean_latency_ms: float
    mean_network_ms: float
    wall_s: float
    out_bag: str
    setup_s: float = 0.0

    @property
    def hz(self) -> float:
        """Depth frames written per second of wall time."""
        return self.frames_out / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> str:
        """One line for the console."""
        return (f'frames in {self.frames_in}, depth out {self.frames_out}, '
                f'dropped {self.dropped}, '
                f'unpaired {self.unpaired}, errors {self.errors}, timeouts {self.timeouts}; '
                f'mean latency {self.mean_latency_ms:.1f} ms (network {self.mean_network_ms:.1f} '
                f'ms), {self.hz:.2f} Hz over {self.wall_s:.1f} s (setup {self.setup_s:.1f} s) '
                f'-> {self.out_bag}')


def _parameter_overrides(params: Mapping[str, Any]) -> list[Parameter]:
    """Turn a name -> value dict into typed rclpy Parameters (ints promoted to float as needed)."""
    unknown = sorted(k for k in params if k not in SPECS and not k.startswith('qos_overrides.')
                     and k != 'use_sim_time')
    if unknown:
        raise InputError(f'unknown perception parameter(s): {", ".join(unknown)}')
    out = []
    for name, value in params.items():
        spec = SPECS.get(name)
        if spec is not None and isinstance(spec.default, float) and isinstance(value, int) \
                and not isinstance(value, bool):
            value = float(value)
        if spec is not None and isinstance(spec.default, list) and spec.default and \
                isinstance(spec.default[0], float):
            value = [float(v) for v in value]
        out.append(Parameter(name, value=list(value) if isinstance(value, tuple) else value))
    return out


def static_extrinsics_from_bag(reader: Reader, camera_frame: str, lidar_frame: str
                               ) -> np.ndarray | None:
    """Return T_cam_lidar (4, 4) from the bag's /tf_static, or None when it cannot be chained.

    The matrix the node gets from the ``lidar_to_camera_*`` parameters this replay sets
    (:func:`promptda_ros.bagio.static_extrinsics`, :func:`promptda_ros.bagio.extrinsics_matrix`).
    """
    extrinsics = static_extrinsics(reader, camera_frame, lidar_frame)
    return None if extrinsics is None else extrinsics_matrix(*extrinsics)


class _Recorder:
    """Frame-outcome bookkeeping; outputs are queued by executor threads, written by the caller.

    (rosbags' sqlite3 storage must be used from the thread that opened it.)
    """

    def __init__(self, writer: Writer, store, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.writer = writer
        self.store = store
        self.lock = threading.Condition()
        self.connections: dict[str, Any] = {}
        self.outcomes: dict[int, str] = {}
        self.changed: dict[int, float] = {}
        self.stamps: dict[str, set[int]] = {key: set() for key in keys}
        self.queue: list[tuple[str, str, int, bytes]] = []
        self.written = 0

    def write_raw(self, topic: str, msgtype: str, stamp_ns: int, raw: bytes) -> None:
        """Write one serialised message now (caller's thread only)."""
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(topic, msgtype,
                                                                 typestore=self.store)
        self.writer.write(self.connections[topic], stamp_ns, raw)

    def flush(self) -> None:
        """Write the queued outputs (caller's thread only)."""
        with self.lock:
            queued, self.queue = self.queue, []
        for item in queued:
            self.write_raw(*item)
        with self.lock:
            self.written += sum(1 for item in queued if item[0] == OUTPUT_TOPICS['depth/image'][0])

    def on_output(self, key: str, msg) -> None:
        topic, _cls, msgtype = OUTPUT_TOPICS[key]
        stamp_ns = stamp_to_ns(msg.header.stamp)
        raw = serialize_message(msg)
        with self.lock:
            self.queue.append((topic, msgtype, stamp_ns, raw))
            self.stamps[key].add(stamp_ns)
            self.lock.notify_all()

    def on_outcome(self, stamp_ns: int, outcome: str) -> None:
        with self.lock:
            self.outcomes[stamp_ns] = outcome
            self.changed[stamp_ns] = time.monotonic()
            self.lock.notify_all()

    def _settled(self, stamp_ns: int, pending_ok: bool) -> bool:
        outcome = self.outcomes.get(stamp_ns)
        if outcome is None:
            return False
        if outcome == 'published':  # every recorded output of the frame has arrived
            return all(stamp_ns in stamps for stamps in self.stamps.values())
        if outcome == 'pending':  # unpaired so far; its partners were published before it,
            # so give their delivery a moment before moving on
            return pending_ok and time.monotonic() - self.changed[stamp_ns] > PENDING_GRACE_S
        return outcome != 'queued'

    def wait(self, stamp_ns: int, timeout_s: float, pending_ok: bool) -> bool:
        """Wait until the frame ``stamp_ns`` left the node (writing outputs meanwhile)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.flush()
            with self.lock:
                if self._settled(stamp_ns, pending_ok):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(min(remaining, 0.05))


def replay_bag(in_bag: str | os.PathLike, out_bag: str | os.PathLike,
               params: Mapping[str, Any] | None = None, realtime: bool = False,
               rate: float = 1.0, *, image_topic: str = IMAGE_TOPIC,
               camera_info_topic: str = CAMERA_INFO_TOPIC,
               points_topic: str = LIDAR_TOPIC, prompt_topic: str = PROMPT_DEPTH_TOPIC,
               record_points: bool = False, copy_inputs: bool = False, timeout_s: float = 10.0,
               progress: bool = True, domain_id: int | None = None) -> ReplayStats:
    """Play ``in_bag`` into a perception node and write its outputs to ``out_bag``.

    Args:
        in_bag: input rosbag2 directory (sqlite3 or mcap).
        out_bag: output rosbag2 directory (must not exist); topics ``/promptda/depth/image``
            (32FC1 m), ``/promptda/depth/camera_info`` and optionally ``/promptda/depth/points``.
        params: perception node parameters (name -> value); when the LiDAR frame differs from the
            camera frame and ``lidar_to_camera_*`` are absent or the identity default, static
            extrinsics are chained from the bag's ``/tf_static``.
        realtime: publish at the bag's pace (scaled by ``rate``) instead of frame by frame.
        rate: playback speed factor for real time (> 0).
        record_points: also record ``depth/points``.
        copy_inputs: also copy every input topic unchanged into ``out_bag`` (for evaluation).
        timeout_s: maximum wait for one frame to leave the node, seconds.
        progress: show a tqdm progress bar on stderr.
        domain_id: ROS domain of the private context (None = ROS_DOMAIN_ID or 0).

    Returns:
        :class:`ReplayStats`.

    Raises:
        InputError: missing bag or topic, existing output, bad parameters, or a node that failed
            to configure (the message gives the node's reason).
    """
    from promptda_ros.backends import available_backends
    from promptda_ros.bagio import check_bag_path

    in_bag, out_bag = check_bag_path(in_bag), Path(out_bag)
    if out_bag.exists():
        raise InputError(f'output bag {out_bag} exists already; choose a new path')
    if not (rate > 0 and math.isfinite(rate)):
        raise InputError(f'rate must be > 0, got {rate}')
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise InputError(f'timeout must be > 0 seconds, got {timeout_s}')
    params = dict(params or {})
    params['autostart'] = True
    backend = params.get('backend', 'default')
    if backend not in available_backends():  # fail here, not after starting the graph
        raise InputError(f'unknown backend {backend!r}; available: '
                         f'{", ".join(available_backends())}')
    if backend == 'promptda' and not params.get('checkpoint'):
        raise InputError("backend 'promptda' needs a checkpoint: set checkpoint=PATH (official "
                         'model.ckpt, -hf directory or .safetensors)')
    source = params.get('prompt_source', 'points')
    prompt_in = points_topic if source == 'points' else prompt_topic
    store = TYPESTORE
    with Reader(in_bag) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        for topic in (image_topic, camera_info_topic, prompt_in):
            if topic not in topics:
                raise InputError(f'topic {topic} not in {in_bag} '
                                 f'(has: {", ".join(sorted(topics))})')
        wanted = {image_topic: ('image', Image), camera_info_topic: ('camera_info', CameraInfo),
                  prompt_in: ('lidar/points', PointCloud2) if source == 'points'
                  else ('prompt_depth', Image)}
        connections = [c for c in reader.connections if c.topic in wanted]
        n_images = sum(c.msgcount for c in reader.connections if c.topic == image_topic)
        if source == 'points' and _extrinsics_unset(params):
            _add_bag_extrinsics(reader, connections, image_topic, points_topic, params)
        overrides = _parameter_overrides(params)
        return _run(reader, connections, wanted, out_bag, overrides, realtime, rate,
                    record_points, copy_inputs, timeout_s, progress, domain_id, n_images, store,
                    image_topic)


def _extrinsics_unset(params: Mapping[str, Any]) -> bool:
    """Return True when the static extrinsics are absent or the identity default."""
    translation = params.get('lidar_to_camera_translation', [0.0, 0.0, 0.0])
    rotation = params.get('lidar_to_camera_rotation_xyzw', [0.0, 0.0, 0.0, 1.0])
    return list(translation) == [0.0, 0.0, 0.0] and list(rotation) == [0.0, 0.0, 0.0, 1.0]


def _first_frame_id(reader: Reader, connections, topic: str, msg_type) -> str:
    selected = [c for c in connections if c.topic == topic]
    for _connection, _t, raw in reader.messages(connections=selected):
        return deserialize_message(raw, msg_type).header.frame_id
    raise InputError(f'topic {topic} has no messages')


def _add_bag_extrinsics(reader, connections, image_topic, points_topic, params) -> None:
    camera_frame = _first_frame_id(reader, connections, image_topic, Image)
    lidar_frame = _first_frame_id(reader, connections, points_topic, PointCloud2)
    if camera_frame == lidar_frame:
        return
    extrinsics = static_extrinsics(reader, camera_frame, lidar_frame)
    if extrinsics is None:
        raise InputError(f'no static transform {lidar_frame} -> {camera_frame} in /tf_static; '
                         'give lidar_to_camera_translation / _rotation_xyzw parameters')
    translation, rotation_xyzw = extrinsics
    params['extrinsics_source'] = 'static'
    params['lidar_to_camera_translation'] = list(translation)
    params['lidar_to_camera_rotation_xyzw'] = list(rotation_xyzw)


def _run(reader, connections, wanted, out_bag, overrides, realtime, rate, record_points,
         copy_inputs, timeout_s, progress, domain_id, n_images, store,
         image_topic) -> ReplayStats:
    from promptda_ros.ros.perception_node import PerceptionNode  # imports the backends

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    namespace = f'/promptda_replay_{os.getpid()}_{threading.get_ident() % 100000}'
    executor = None
    spin_thread = None
    nodes: list[Any] = []
    frames_in = timeouts = 0
    start = time.monotonic()
    stream_start = None
    try:
        # A value rclpy refuses (type, range) is an InputError naming it (params.declare).
        node = PerceptionNode(context=context, namespace=namespace,
                              parameter_overrides=overrides)
        nodes.append(node)
        if node.stats.snapshot().state != 'active':
            reason = node.configure_error or 'see the log above'
            raise InputError(f'the perception node failed to configure: {reason}')
        player = rclpy.create_node('promptda_replay_player', context=context,
                                   namespace=namespace)
        nodes.append(player)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        publishers = {topic: player.create_publisher(cls, name, qos)
                      for topic, (name, cls) in wanted.items()}
        with Writer(out_bag, version=8) as writer:
            keys = tuple(k for k in OUTPUT_TOPICS if record_points or k != 'depth/points')
            recorder = _Recorder(writer, store, keys)
            node.add_frame_listener(recorder.on_outcome)
            record_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
            for key in keys:
                cls = OUTPUT_TOPICS[key][1]
                player.create_subscription(cls, key, lambda msg, k=key: recorder.on_output(k, msg),
                                           record_qos)
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)
            executor.add_node(player)
            spin_thread = threading.Thread(target=executor.spin, daemon=True)
            spin_thread.start()
            _wait_for_graph(list(publishers.values()), node,
                            ('depth', 'info') + (('points',) if record_points else ()), timeout_s)
            all_connections = reader.connections if copy_inputs else connections
            bar = tqdm(total=n_images, unit='frame', disable=not progress, file=sys.stderr)
            player_ = _Player(publishers, image_topic, recorder, timeout_s, bar)
            messages = _bag_messages(reader, all_connections, wanted, recorder, copy_inputs)
            if realtime:
                player_.realtime(messages, rate)
            else:
                player_.lockstep(messages, seconds_to_ns(node.params.slop_s))
            frames_in, timeouts, outstanding = (player_.frames_in, player_.timeouts,
                                                player_.outstanding)
            stream_start = player_.stream_start
            bar.close()
            frames_out, never_paired = _drain(recorder, outstanding, timeout_s)
            executor.shutdown(timeout_sec=1.0)
            spin_thread.join(timeout=5.0)
            node.release()
        snap = node.stats.snapshot()
        end = time.monotonic()
        stream_start = end if stream_start is None else stream_start
        return ReplayStats(frames_in=frames_in, frames_out=frames_out, dropped=snap.dropped,
                           unpaired=snap.unpaired + never_paired, errors=snap.error_total,
                           timeouts=timeouts,
                           mean_latency_ms=snap.latency_ms, mean_network_ms=snap.network_ms,
                           wall_s=end - stream_start, setup_s=stream_start - start,
                           out_bag=str(out_bag))
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        for created in nodes:
            created.destroy_node()
        rclpy.try_shutdown(context=context)


def _drain(recorder: _Recorder, outstanding: list[int], timeout_s: float) -> tuple[int, int]:
    """Let the last frames leave the node; return (frames written, frames never paired).

    Every input is published now: frames still pending can no longer be paired (pending ones
    resolve or time out quickly).
    """
    deadline = time.monotonic() + timeout_s
    with recorder.lock:
        stamps = sorted(recorder.outcomes)
    for stamp in stamps + outstanding:
        recorder.wait(stamp, max(deadline - time.monotonic(), 0.0), pending_ok=True)
    recorder.flush()
    with recorder.lock:
        return recorder.written, sum(1 for o in recorder.outcomes.values() if o == 'pending')


def _bag_messages(reader, connections, wanted, recorder: _Recorder, copy_inputs: bool):
    """Yield (connection topic, bag time ns, rclpy message) of the input topics in bag order.

    With ``copy_inputs`` every message is also copied into the output bag; queued outputs are
    written as the bag is read (rosbags' storage stays on this thread).
    """
    for connection, t_ns, raw in reader.messages(connections=connections):
        if copy_inputs:
            recorder.write_raw(connection.topic, connection.msgtype, t_ns, raw)
        recorder.flush()
        if connection.topic in wanted:
            yield connection.topic, t_ns, deserialize_message(raw, wanted[connection.topic][1])


class _Player:
    """Publishes a bag's input messages into the graph, in one of two modes.

    * lock-step (:meth:`lockstep`): an image is held until the messages it pairs with (stamped
      within the slop after it) are out, and published once the previous frame has left the
      node (with a timeout) - every frame is processed, as fast as the node keeps up;
    * real time (:meth:`realtime`): the bag's pace scaled by ``rate``; frames the node cannot
      keep up with are dropped by it, as on a robot.
    """

    def __init__(self, publishers: dict, image_topic: str, recorder: _Recorder,
                 timeout_s: float, bar) -> None:
        self.publishers = publishers
        self.image_topic = image_topic
        self.recorder = recorder
        self.timeout_s = timeout_s
        self.bar = bar
        self.frames_in = 0
        self.timeouts = 0
        self.stream_start: float | None = None
        self.outstanding: list[int] = []

    def _image_out(self, msg) -> None:
        self.stream_start = self.stream_start or time.monotonic()
        self.publishers[self.image_topic].publish(msg)
        self.outstanding.append(stamp_to_ns(msg.header.stamp))
        self.frames_in += 1
        self.bar.update(1)

    def lockstep(self, messages, slop_ns: int) -> None:
        """Publish frame by frame: each image once the previous frame left the node."""
        held = None  # (image, bag time ns) waiting for its pairing partners
        for topic, t_ns, msg in messages:
            if held is not None and (topic == self.image_topic or t_ns > held[1] + slop_ns):
                self._release(held[0])
                held = None
            if topic == self.image_topic:
                held = (msg, t_ns)
            else:
                self.publishers[topic].publish(msg)
        if held is not None:
            self._release(held[0])

    def _release(self, image_msg) -> None:
        for stamp in self.outstanding:  # the node keeps up: previous frames have left it
            if not self.recorder.wait(stamp, self.timeout_s, pending_ok=True):
                self.timeouts += 1
        self.outstanding.clear()
        self._image_out(image_msg)

    def realtime(self, messages, rate: float) -> None:
        """Publish at the bag's pace scaled by ``rate`` (> 0)."""
        wall0 = t0 = None
        for topic, t_ns, msg in messages:
            if wall0 is None:
                wall0, t0 = time.monotonic(), t_ns
            delay = wall0 + (t_ns - t0) * 1e-9 / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if topic == self.image_topic:
                self._image_out(msg)
            else:
                self.publishers[topic].publish(msg)


def read_depth_bag(path: str | os.PathLike) -> dict[int, np.ndarray]:
    """Read the depth a replay recorded: ``{image stamp ns: (H, W) float32 metres}``.

    The ``/promptda/depth/image`` messages as published (32FC1, NaN = invalid), bit for bit.
    """
    from promptda_ros.bagio import check_bag_path
    from promptda_ros.core.msg_codec import header_stamp_ns, image_to_array

    topic = OUTPUT_TOPICS['depth/image'][0]
    out = {}
    with Reader(check_bag_path(path)) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _t, raw in reader.messages(connections=conns):
            msg = TYPESTORE.deserialize_cdr(raw, conn.msgtype)
            out[header_stamp_ns(msg)] = image_to_array(msg).astype(np.float32, copy=False)
    return out


def _wait_for_graph(inputs: list, node, outputs: tuple, timeout_s: float) -> None:
    """Wait until the node subscribes to the player and the recorder to the node."""
    deadline = time.monotonic() + timeout_s
    while any(pub.get_subscription_count() == 0 for pub in inputs) or \
            any(node.output_subscription_count(key) == 0 for key in outputs):
        if time.monotonic() > deadline:
            raise InputError('the player, perception node and recorder did not connect '
                             f'within {timeout_s} s')
        time.sleep(0.01)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``promptda-replay``."""
    parser = argparse.ArgumentParser(
        prog='promptda-replay',
        description='Play a ROS 2 bag through the promptda_perception node (real rclpy graph, '
                    'in one process) and record its outputs (/promptda/depth/image 32FC1 metres, '
                    '/promptda/depth/camera_info, optionally /promptda/depth/points) to a new '
                    'bag.')
    parser.add_argument('bag', help='input rosbag2 directory')
    parser.add_argument('--out', required=True, help='output rosbag2 directory (must not exist)')
    parser.add_argument('--params', '--params-file', dest='params',
                        help='ROS 2 params YAML (/**/promptda_perception: ros__parameters:), '
                        'e.g. config/perception.yaml')
    parser.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                        help='override one parameter (YAML value), repeatable, e.g. '
                        '--set backend=bilinear')
    parser.add_argument('--realtime', action='store_true',
                        help='publish at the bag pace (default: as fast as the node keeps up, '
                        'one frame at a time)')
    parser.add_argument('--rate', type=float, default=1.0,
                        help='playback speed factor with --realtime (default 1.0)')
    parser.add_argument('--points', action='store_true', help='also record depth/points')
    parser.add_argument('--copy-inputs', action='store_true',
                        help='copy every input topic into the output bag too (for evaluation)')
    parser.add_argument('--timeout', type=float, default=10.0,
                        help='max wait for one frame to leave the node, s (default 10)')
    parser.add_argument('--image-topic', default=IMAGE_TOPIC,
                        help='camera Image topic in the bag (default %(default)s)')
    parser.add_argument('--camera-info-topic', default=CAMERA_INFO_TOPIC,
                        help='CameraInfo topic in the bag (default %(default)s)')
    parser.add_argument('--points-topic', default=LIDAR_TOPIC,
                        help='LiDAR PointCloud2 topic in the bag (default %(default)s)')
    parser.add_argument('--prompt-topic', default=PROMPT_DEPTH_TOPIC,
                        help='prompt depth Image topic, 16UC1 mm or 32FC1 m, used with '
                        '--set prompt_source=depth_image (default %(default)s)')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``promptda-replay``; print the summary; return 0, or 1 with ``error: ...``."""
    args = build_parser().parse_args(argv)
    tune_allocator()
    try:
        params = load_params_file(args.params) if args.params else {}
        for item in args.set:
            name, sep, value = item.partition('=')
            if not sep:
                raise InputError(f'--set expects NAME=VALUE, got {item!r}')
            params[name.strip()] = yaml.safe_load(value)
        stats = replay_bag(args.bag, args.out, params, realtime=args.realtime, rate=args.rate,
                           image_topic=args.image_topic,
                           camera_info_topic=args.camera_info_topic,
                           points_topic=args.points_topic, prompt_topic=args.prompt_topic,
                           record_points=args.points, copy_inputs=args.copy_inputs,
                           timeout_s=args.timeout, progress=not args.no_progress)
    except (PromptDAError, OSError, yaml.YAMLError, ReaderError, WriterError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(stats.summary())
    if stats.frames_out == 0:
        print('error: the node produced no depth frame (see the log for rejected inputs)',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
