# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Success rate of the scripted expert over objects x positions x seeds (physics only, no ROS).

Usage: ``python bench/sim_expert.py --seeds 10``
"""

import argparse
import sys
import time
import warnings

from promptda_ros.sim import scene
from promptda_ros.sim.expert import run_expert_episode


def main(argv=None) -> int:
    """Print a markdown table of expert success (objects x positions) and the total."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=10, help='episodes per cell (%(default)s)')
    args = p.parse_args(argv)
    warnings.simplefilter('ignore')
    t0 = time.time()
    table, total, ok = {}, 0, 0
    for obj in scene.OBJECTS:
        for pos in scene.POSITIONS:
            wins = sum(bool(run_expert_episode(scene.EpisodeConfig(s, obj, pos))['success'])
                       for s in range(args.seeds))
            table[obj, pos] = wins
            total += args.seeds
            ok += wins
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
