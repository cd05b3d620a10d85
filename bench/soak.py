# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Soak the perception node: camera + LiDAR at a fixed rate for N seconds, from another process.

Usage::

    python bench/soak.py --seconds 300                      # 5 minutes at 30 Hz, 640x480
    python bench/soak.py --seconds 30 --width 320 --height 240
    python bench/soak.py --seconds 60 --param queue_size:=1 --no-tune-allocator   # A/B

Starts ``promptda-perception`` as its own process (default backend unless ``--backend``), then
publishes the bundled sample's frames (cycled, fresh stamps) at ``--rate`` Hz with LiDAR
sweeps at ``--lidar-rate`` Hz, and subscribes to ``depth/image``. Each input's header stamp is
the wall clock at publication, so the output's stamp (the node keeps the input header) gives
the end-to-end latency. Both processes use the Fast DDS profile
``config/fastdds_large_data.xml`` unless ``--profile none``.

Prints one table: frames in / out, rates, dropped frames (in - out), latency p50 / p99 / max, the
node's resident memory after warm-up and at the end (growth in %), the node's own account from its
last /diagnostics (frames pushed out of the inference queue, unpaired, rejected; mean latency and
backend time) and whether the node was still running. Exit status 1 (with a one-line reason) when
the node died or published nothing, else 0; speed is reported, not judged.
"""

import argparse
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / 'config' / 'fastdds_large_data.xml'


def rss_mib(pid: int) -> float:
    """Return the resident set size of process ``pid`` in MiB (Linux /proc), NaN if gone."""
    try:
        with open(f'/proc/{pid}/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float('nan')


def _frames(width: int, height: int, count: int) -> tuple:
    """Return (camera, [(rgb (H,W,3) uint8, points (N,3) float32 m, camera frame)]) to cycle."""
    from promptda_ros.sample.scene import SampleGenerator
    gen = SampleGenerator(frames=count, width=width, height=height, seed=0)
    out = []
    R, t = gen.T_cam_lidar[:3, :3], gen.T_cam_lidar[:3, 3]
    for i in range(count):
        frame = gen.frame(i)
        # Sweeps are sent in the camera frame: no extrinsics are involved in the soak.
        out.append((frame.rgb, (frame.points_lidar @ R.T + t).astype(np.float32)))
    return gen.camera, out


def run(args) -> int:
    """Run the soak; print the table; return the exit status."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(args.domain), PYTHONUNBUFFERED='1')
    if args.profile != 'none':
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(Path(args.profile).resolve())
        os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = env['FASTDDS_DEFAULT_PROFILES_FILE']
    os.environ['ROS_DOMAIN_ID'] = str(args.domain)
    camera, frames = _frames(args.width, args.height, args.frames)

    from diagnostic_msgs.msg import DiagnosticArray
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import Header

    from promptda_ros.ros import conversions
    from promptda_ros.ros.diagnostics import diagnostic_values

    script = Path(sys.executable).parent / 'promptda-perception'
    node_cmd = [str(script), '--ros-args', '-p', f'backend:={args.backend}',
                '-p', f'sensor_qos:={args.qos}', '-p', 'publish_points:=false']
    for param in args.param:
        node_cmd += ['-p', param]
    if args.no_tune_allocator:
        env['PROMPTDA_TUNE_ALLOCATOR'] = '0'
    node_proc = subprocess.Popen(node_cmd, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
    rclpy.init()
    node = rclpy.create_node('promptda_soak')
    sensor_qos = (QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
                  if args.qos == 'reliable' else qos_profile_sensor_data)
    pub_image = node.create_publisher(Image, 'image', sensor_qos)
    pub_info = node.create_publisher(CameraInfo, 'camera_info', sensor_qos)
    pub_points = node.create_publisher(PointCloud2, 'lidar/points', sensor_qos)
    latencies_ms: list = []
    out_stamps: list = []
    lock = threading.Lock()

    def on_depth(msg) -> None:
        now = time.time_ns()
        sent = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with lock:
            latencies_ms.append((now - sent) / 1e6)
            out_stamps.append(now)

    node.create_subscription(Image, 'depth/image', on_depth,
                             QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    diagnostics: dict = {}

    def on_diagnostics(msg) -> None:
        if msg.status and msg.status[0].name.endswith(': depth'):
            with lock:
                diagnostics.update(diagnostic_values(msg))

    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
    # Messages are built once and re-stamped, so the publisher costs what a camera driver does.
    header = Header(frame_id='camera')
    messages = [(conversions.image_msg(rgb, 'rgb8', header),
                 conversions.camera_info_msg(camera, header),
                 conversions.cloud_msg(points, header)) for rgb, points in frames]
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    status = 0
    reason = ''
    try:
        deadline = time.monotonic() + 120.0
        while not (pub_image.get_subscription_count() and pub_points.get_subscription_count()):
            if node_proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('the node did not start: '
                                   + (node_proc.stderr.read().strip()[-300:] or 'timeout'))
            time.sleep(0.05)
        time.sleep(1.0)
        period = 1.0 / args.rate
        lidar_every = max(1, round(args.rate / args.lidar_rate))
        n_in = 0
        rss_start = None
        start = time.monotonic()
        end = start + args.seconds
        while time.monotonic() < end and node_proc.poll() is None:
            image_msg, info_msg, cloud_msg = messages[n_in % len(messages)]
            stamp = conversions.ns_to_stamp(time.time_ns())
            for msg in (image_msg, info_msg, cloud_msg):
                msg.header.stamp = stamp
            if n_in % lidar_every == 0:
                pub_points.publish(cloud_msg)
            pub_info.publish(info_msg)
            pub_image.publish(image_msg)
            n_in += 1
            if rss_start is None and time.monotonic() - start > min(3.0, args.seconds / 3):
                rss_start = rss_mib(node_proc.pid)
                with lock:
                    warm_out = len(out_stamps)
                warm_t = time.monotonic()
            time.sleep(max(0.0, start + n_in * period - time.monotonic()))
        sent_s = time.monotonic() - start
        time.sleep(1.0)  # the last frames in flight
        alive = node_proc.poll() is None
        rss_end = rss_mib(node_proc.pid)
        with lock:
            lat = np.array(latencies_ms)
            n_out = len(out_stamps)
            steady_out = n_out - (warm_out if rss_start is not None else 0)
        steady_s = time.monotonic() - 1.0 - (warm_t if rss_start is not None else start)
        rows = [
            ('duration, s', f'{sent_s:.1f}'),
            ('frames in', f'{n_in} ({n_in / sent_s:.1f} Hz)'),
            ('frames out', f'{n_out} ({steady_out / max(steady_s, 1e-9):.1f} Hz after warm-up)'),
            ('dropped', f'{n_in - n_out} ({100.0 * (n_in - n_out) / max(n_in, 1):.1f} %)'),
        ]
        if lat.size:
            rows.append(('latency p50 / p99 / max, ms',
                         f'{np.percentile(lat, 50):.0f} / {np.percentile(lat, 99):.0f} / '
                         f'{lat.max():.0f}'))
        if rss_start is not None:
            growth = 100.0 * (rss_end - rss_start) / rss_start
            rows.append(('node RSS after warm-up / end, MiB',
                         f'{rss_start:.0f} / {rss_end:.0f} ({growth:+.1f} %)'))
        with lock:
            counts = dict(diagnostics)
        if counts:
            # The node's own account of the frames it did not publish (last diagnostics).
            rows.append(('node: replaced before inference / unpaired / rejected',
                         f"{counts.get('dropped_frames', '?')} / "
                         f"{counts.get('unpaired_frames', '?')} / {counts.get('errors', '?')}"))
            rows.append(('node: mean latency / backend time, ms',
                         f"{counts.get('latency_ms', '?')} / {counts.get('network_ms', '?')}"))
        rows.append(('node still running', 'yes' if alive else 'NO'))
        print(f'soak: {args.width}x{args.height} at {args.rate:g} Hz, LiDAR {args.lidar_rate:g} '
              f'Hz, backend {args.backend}, qos {args.qos}, profile '
              f'{Path(args.profile).name if args.profile != "none" else "built-in"}, allocator '
              f'{"glibc default" if args.no_tune_allocator else "tuned"}'
              + ''.join(f', {param}' for param in args.param))
        print('| measure | value |\n|---|---|')
        for name, value in rows:
            print(f'| {name} | {value} |')
        if not alive:
            status, reason = 1, f'the node exited with status {node_proc.returncode}'
        elif n_out == 0:
            status, reason = 1, 'the node published no depth'
    except RuntimeError as exc:
        status, reason = 1, str(exc)
    finally:
        if node_proc.poll() is None:
            node_proc.send_signal(signal.SIGINT)
            try:
                node_proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node_proc.kill()
                node_proc.wait()
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown()
    if status:
        print(f'error: {reason}', file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run the soak."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seconds', type=float, default=300.0, help='soak duration (%(default)s)')
    p.add_argument('--rate', type=float, default=30.0, help='camera rate, Hz (%(default)s)')
    p.add_argument('--lidar-rate', type=float, default=10.0, help='LiDAR rate, Hz (%(default)s)')
    p.add_argument('--width', type=int, default=640, help='image width, px (%(default)s)')
    p.add_argument('--height', type=int, default=480, help='image height, px (%(default)s)')
    p.add_argument('--frames', type=int, default=4, help='sample frames cycled (%(default)s)')
    p.add_argument('--backend', default='default', help='node backend (%(default)s)')
    p.add_argument('--qos', choices=('sensor_data', 'reliable'), default='sensor_data',
                   help='input QoS of the node and the publisher (%(default)s)')
    p.add_argument('--profile', default=str(PROFILE),
                   help="Fast DDS XML profile for both processes, or 'none' (default: "
                        'config/fastdds_large_data.xml)')
    p.add_argument('--domain', type=int, default=92, help='ROS_DOMAIN_ID (%(default)s)')
    p.add_argument('--param', action='append', default=[], metavar='NAME:=VALUE',
                   help='a node parameter, e.g. queue_size:=1 (repeatable)')
    p.add_argument('--no-tune-allocator', action='store_true',
                   help="leave the node's malloc as glibc sets it (PROMPTDA_TUNE_ALLOCATOR=0)")
    args = p.parse_args(argv)
    bad = [param for param in args.param if ':=' not in param]
    if bad:
        print(f'error: --param expects NAME:=VALUE, got {bad[0]!r}', file=sys.stderr)
        return 2
    if args.seconds <= 0 or args.rate <= 0 or args.lidar_rate <= 0 or args.frames < 1:
        print('error: --seconds, --rate, --lidar-rate must be > 0 and --frames >= 1',
              file=sys.stderr)
        return 2
    return run(args)


if __name__ == '__main__':
    sys.exit(main())
