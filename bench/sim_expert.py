# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Success rate of the scripted expert over objects x positions x seeds (physics only, no ROS).

Usage: ``python bench/sim_expert.py --seeds 10``
"""

import argparse
import sys
import time
import warnings

from promptda_sim import scene
from promptda_sim.expert import run_expert_episode


def main(argv=None) -> int:
    """Print a markdown table of expert success (objects x positions) and the total."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=10, help='episodes per cell (%(default)s)')
    p.add_argument('--ros', action='store_true',
                   help='run each episode through the simulator and expert nodes (rclpy graph)')
    p.add_argument('--real-time-factor', type=float, default=2.0,
                   help='with --ros: sim s per wall s (%(default)s)')
    args = p.parse_args(argv)
    warnings.simplefilter('ignore')
    t0 = time.time()
    run = run_expert_episode
    graph = context = None
    if args.ros:
        import rclpy

        from promptda_sim.graph import SimGraph
        context = rclpy.Context()
        rclpy.init(context=context)
        graph = SimGraph(context, depth_source='true', expert=True,
                         real_time_factor=args.real_time_factor)
        run = graph.run_expert_episode
    table, total, ok = {}, 0, 0
    for obj in scene.OBJECTS:
        for pos in scene.POSITIONS:
            wins = sum(bool(run(scene.EpisodeConfig(s, obj, pos))['success'])
                       for s in range(args.seeds))
            table[obj, pos] = wins
            total += args.seeds
            ok += wins
    if graph is not None:
        graph.close()
        rclpy.try_shutdown(context=context)
    print('| object | ' + ' | '.join(scene.POSITIONS) + ' |')
    print('|---|' + '---|' * len(scene.POSITIONS))
    for obj in scene.OBJECTS:
        cells = ' | '.join('%d/%d' % (table[obj, pos], args.seeds) for pos in scene.POSITIONS)
        print('| %s | %s |' % (obj, cells))
    print('expert success: %d/%d = %.1f %% (%.0f s)'
          % (ok, total, 100.0 * ok / total, time.time() - t0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
