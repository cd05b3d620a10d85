# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-sim``: the simulator node alone, or with the scripted expert for N episodes.

The command line sits above the node (:mod:`promptda_sim.node`) and the experiment graph
(:mod:`promptda_sim.graph`), so neither imports the other's caller.
"""

import sys

from rclpy.parameter import Parameter

from promptda_ros.cli_args import CliParser
from promptda_ros.ros.node_kit import parse_node_args, run_node
from promptda_sim.graph import add_episode_arguments, run_expert_cli
from promptda_sim.node import SimNode
from promptda_sim.scene import OBJECTS, POSITIONS


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``promptda-sim`` (ROS arguments after ``--ros-args``)."""
    parser = CliParser(
        prog='promptda-sim',
        description='MuJoCo grasping simulation as a ROS 2 node: camera, LiDAR, joint states '
                    'and /clock out, joint commands in; ~/reset and ~/success services. '
                    'Parameters: see config/sim.yaml.')
    parser.add_argument('--expert', action='store_true',
                        help='also run the scripted expert, commanding on the command topic')
    parser.add_argument('--object', default=None, choices=OBJECTS,
                        help='first episode object')
    parser.add_argument('--position', default=None, choices=POSITIONS,
                        help='first episode position')
    add_episode_arguments(parser, 1, 0, 'with --expert: episodes to play (seeds seed, '
                          'seed+1, ...), then exit')
    parser.set_defaults(seed=None)
    args, ros_args = parse_node_args(parser, argv)
    overrides = []
    for name, kind in (('object', Parameter.Type.STRING), ('position', Parameter.Type.STRING),
                       ('seed', Parameter.Type.INTEGER)):
        if getattr(args, name) is not None:
            overrides.append(Parameter(name, kind, getattr(args, name)))
    if not args.expert:
        return run_node('promptda-sim', lambda: SimNode(parameter_overrides=overrides), ros_args)
    return run_expert_cli(args, ros_args)


if __name__ == '__main__':
    sys.exit(main())
