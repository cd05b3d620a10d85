# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-make-sample``: write the procedural sample scene as a ROS 2 bag."""

import argparse
from pathlib import Path
import sys
import time
from typing import List, Optional

from promptda_ros.core.errors import PromptDAError
from promptda_ros.sample.bag_writer import write_sample_bag
from promptda_ros.sample.scene import SampleConfig


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``promptda-make-sample``."""
    p = argparse.ArgumentParser(
        prog='promptda-make-sample',
        description='Generate the procedural indoor sample (RGB camera, spinning LiDAR in its '
                    'own frame, ground-truth depth, /tf and /tf_static) as a ROS 2 bag.')
    p.add_argument('--out', required=True,
                   help='bag directory to create (must not exist)')
    p.add_argument('--seed', type=int, default=0,
                   help='scene seed; the same seed gives the identical bag (default: %(default)s)')
    p.add_argument('--frames', type=int, default=30,
                   help='number of camera frames at 10 Hz (default: %(default)s)')
    p.add_argument('--width', type=int, default=640,
                   help='image width in pixels (default: %(default)s)')
    p.add_argument('--height', type=int, default=480,
                   help='image height in pixels (default: %(default)s)')
    p.add_argument('--storage', choices=('sqlite3', 'mcap'), default='sqlite3',
                   help='rosbag2 storage plugin (default: %(default)s)')
    p.add_argument('--quiet', action='store_true', help='no progress output')
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``promptda-make-sample``; return the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        config = SampleConfig(seed=args.seed, frames=args.frames, width=args.width,
                              height=args.height)
        t0 = time.perf_counter()
        path = write_sample_bag(Path(args.out), config, progress=not args.quiet,
                                storage=args.storage)
    except (PromptDAError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'wrote {path} ({config.frames} frames, {config.width}x{config.height}, seed '
          f'{config.seed}, {args.storage}) in {time.perf_counter() - t0:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
