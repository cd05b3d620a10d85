# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Large images between two processes: how many arrive, per QoS and middleware profile.

Usage::

    python bench/bench_transport.py                       # the 4-row table below
    python bench/bench_transport.py --frames 60 --rate 30 --width 640 --height 480 \
        --qos best_effort --profile config/fastdds_large_data.xml   # one row

A publisher process sends ``--frames`` rgb8 images at ``--rate`` Hz to a subscriber process
(keep last 5, the node's input depth) and the subscriber counts what arrived. ``--profile``
is given to BOTH processes as ``FASTDDS_DEFAULT_PROFILES_FILE`` (``none`` = Fast DDS's
built-in transports). Prints ``received N of M`` per row; exit status 0.

The two processes use ``ROS_DOMAIN_ID`` (``--domain``, default 91) so that nothing else on the
machine is counted.
"""

import argparse
import os
from pathlib import Path
import subprocess
import sys
import time

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PROFILE = ROOT / 'config' / 'fastdds_large_data.xml'


def _qos(name: str):
    """Return a keep-last-5 QoSProfile, best effort or reliable (name as on the CLI)."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    reliability = (ReliabilityPolicy.RELIABLE if name == 'reliable'
                   else ReliabilityPolicy.BEST_EFFORT)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=reliability)


def run_publisher(args) -> int:
    """Wait for one subscriber, publish ``args.frames`` images at ``args.rate`` Hz, return 0."""
    import rclpy
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node('transport_bench_pub')
    pub = node.create_publisher(Image, 'transport_bench/image', _qos(args.qos))
    msg = Image(height=args.height, width=args.width, encoding='rgb8', step=args.width * 3,
                data=bytes(args.width * args.height * 3))
    deadline = time.monotonic() + 30.0
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # let discovery finish on both sides before the first frame
    period = 1.0 / args.rate
    start = time.monotonic()
    for i in range(args.frames):
        msg.header.frame_id = str(i)
        pub.publish(msg)
        time.sleep(max(0.0, start + (i + 1) * period - time.monotonic()))
    time.sleep(1.0)  # keep the writer alive while the last samples are read
    node.destroy_node()
    rclpy.shutdown()
    return 0


def run_subscriber(args) -> int:
    """Count images until ``args.frames`` arrived or ``args.timeout`` s passed; print the count."""
    import rclpy
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node('transport_bench_sub')
    got = set()
    node.create_subscription(Image, 'transport_bench/image',
                             lambda m: got.add(m.header.frame_id), _qos(args.qos))
    deadline = time.monotonic() + args.timeout
    while len(got) < args.frames and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(f'received {len(got)} of {args.frames}', flush=True)
    node.destroy_node()
    rclpy.shutdown()
    return 0


def measure(frames: int, rate: float, width: int, height: int, qos: str, profile: str,
            domain: int, timeout: float) -> int:
    """Run a publisher and a subscriber process; return how many of ``frames`` arrived."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1')
    env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    env.pop('FASTRTPS_DEFAULT_PROFILES_FILE', None)
    if profile != 'none':
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(Path(profile).resolve())
    common = [sys.executable, __file__, '--frames', str(frames), '--rate', str(rate),
              '--width', str(width), '--height', str(height), '--qos', qos,
              '--timeout', str(timeout)]
    sub = subprocess.Popen(common + ['--role', 'sub'], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    pub = subprocess.Popen(common + ['--role', 'pub'], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        out, err = sub.communicate(timeout=timeout + 30.0)
        pub.wait(timeout=30.0)
    finally:
        for proc in (sub, pub):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for line in out.splitlines():
        if line.startswith('received '):
            return int(line.split()[1])
    raise RuntimeError(f'subscriber printed no count (rc {sub.returncode}): {err.strip()}')


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; run one role, one measured row, or the default table."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--role', choices=('pub', 'sub'), help=argparse.SUPPRESS)
    p.add_argument('--frames', type=int, default=60, help='images sent (%(default)s)')
    p.add_argument('--rate', type=float, default=30.0, help='publish rate, Hz (%(default)s)')
    p.add_argument('--width', type=int, default=640, help='image width, px (%(default)s)')
    p.add_argument('--height', type=int, default=480, help='image height, px (%(default)s)')
    p.add_argument('--qos', choices=('best_effort', 'reliable'),
                   help='one reliability setting (default: both)')
    p.add_argument('--profile', help="Fast DDS XML profile for both processes, or 'none' "
                                     '(default: both none and config/fastdds_large_data.xml)')
    p.add_argument('--domain', type=int, default=91, help='ROS_DOMAIN_ID (%(default)s)')
    p.add_argument('--timeout', type=float, default=20.0,
                   help='subscriber gives up after this many seconds (%(default)s)')
    args = p.parse_args(argv)
    if args.role == 'pub':
        return run_publisher(args)
    if args.role == 'sub':
        return run_subscriber(args)
    qos_list = [args.qos] if args.qos else ['best_effort', 'reliable']
    profiles = [args.profile] if args.profile else ['none', str(DEFAULT_PROFILE)]
    print(f'{args.frames} frames {args.width}x{args.height} rgb8 at {args.rate:g} Hz, '
          'two processes')
    print('| profile | qos | received |\n|---|---|---|')
    for profile in profiles:
        for qos in qos_list:
            n = measure(args.frames, args.rate, args.width, args.height, qos, profile,
                        args.domain, args.timeout)
            name = 'built-in' if profile == 'none' else Path(profile).name
            print(f'| {name} | {qos} | {n} of {args.frames} |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
