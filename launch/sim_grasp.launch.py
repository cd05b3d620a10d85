# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Launch the grasping simulation closed loop: simulator + perception node + policy node.

Example::

    ros2 launch promptda_ros sim_grasp.launch.py \
        policy_path:=/data/run/checkpoints/last/pretrained_model depth_source:=default
    ros2 service call /promptda_policy/enable std_srvs/srv/SetBool "{data: true}"
    ros2 service call /promptda_sim/success std_srvs/srv/Trigger
    ros2 param set /promptda_sim object glass_bottle
    ros2 service call /promptda_sim/reset std_srvs/srv/Trigger
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments, the simulator, the perception node and the policy node."""
    share = get_package_share_directory('promptda_ros')
    default_params = os.path.join(share, 'config', 'sim.yaml')
    large_data_profile = os.path.join(share, 'config', 'fastdds_large_data.xml')
    arg = LaunchConfiguration
    arguments = [
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the nodes and their relative topics'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='parameters YAML (default: installed config/sim.yaml)'),
        DeclareLaunchArgument('policy_path', default_value='',
                              description='trained act_depth checkpoint (.../pretrained_model) '
                                          'for the 5-joint arm; empty = no policy node'),
        DeclareLaunchArgument('depth_source', default_value='default',
                              description="policy depth: 'true' (the simulator's depth) or a "
                                          "perception backend on the LiDAR: 'default', "
                                          "'bilinear', 'promptda'"),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description='PromptDA checkpoint for depth_source:=promptda'),
        DeclareLaunchArgument('object', default_value='red_can',
                              description='first episode object: red_can, green_can, '
                                          'glass_bottle, mirror_object'),
        DeclareLaunchArgument('position', default_value='middle',
                              description='first episode position: near, middle, far'),
        DeclareLaunchArgument('seed', default_value='0', description='first episode seed'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='logger level: debug, info, warn, error'),
        DeclareLaunchArgument('large_data_transport', default_value='true',
                              description='start every node with the Fast DDS profile '
                                          'config/fastdds_large_data.xml (best-effort images '
                                          'between processes arrive whole)'),
    ]
    transport = SetEnvironmentVariable(
        'FASTDDS_DEFAULT_PROFILES_FILE', large_data_profile,
        condition=IfCondition(arg('large_data_transport')))
    ns = arg('namespace')
    ros_args = ['--ros-args', '--log-level', arg('log_level')]
    sim = Node(package='promptda_ros', executable='promptda-sim', name='promptda_sim',
               namespace=ns, output='screen',
               parameters=[arg('params_file'), {
                   'object': arg('object'), 'position': arg('position'),
                   'seed': ParameterValue(arg('seed'), value_type=int)}],
               arguments=ros_args)
    uses_lidar = PythonExpression(["'", arg('depth_source'), "' != 'true'"])
    perception = Node(package='promptda_ros', executable='promptda-perception',
                      name='promptda_perception', namespace=ns, output='screen',
                      parameters=[arg('params_file'), {'backend': arg('depth_source'),
                                                       'checkpoint': arg('checkpoint')}],
                      arguments=ros_args, condition=IfCondition(uses_lidar))
    depth_topic = PythonExpression(["'depth/true' if '", arg('depth_source'),
                                    "' == 'true' else 'depth/image'"])
    has_policy = PythonExpression(["'", arg('policy_path'), "' != ''"])
    policy = Node(package='promptda_ros', executable='promptda-policy', name='promptda_policy',
                  namespace=ns, output='screen',
                  # A simulated arm has no e-stop publisher: enabling must not wait for one.
                  parameters=[arg('params_file'), {'estop_required': False}],
                  remappings=[('depth', depth_topic)],
                  arguments=['--policy-path', arg('policy_path')] + ros_args,
                  condition=IfCondition(has_policy))
    return LaunchDescription(arguments + [transport, sim, perception, policy])
