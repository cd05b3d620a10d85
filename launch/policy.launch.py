# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Launch the depth ACT policy node, or the demonstration recorder with ``record:=true``.

Examples::

    ros2 launch promptda_ros policy.launch.py \
        policy_path:=/data/run/checkpoints/last/pretrained_model \
        depth:=/promptda_perception/depth/image joint_states:=/joint_states \
        command:=/right_arm_controller/joint_trajectory
    ros2 launch promptda_ros policy.launch.py record:=true dataset_root:=/data/demos_001 \
        command:=/teleop/joint_trajectory
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments, the policy node and the recorder node."""
    default_params = os.path.join(get_package_share_directory('promptda_ros'), 'config',
                                  'policy.yaml')
    arg = LaunchConfiguration
    arguments = [
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and its relative topics'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='parameters YAML (default: installed '
                                          'config/policy.yaml)'),
        DeclareLaunchArgument('record', default_value='false',
                              description='true: run the demo recorder instead of the policy'),
        DeclareLaunchArgument('policy_path', default_value='',
                              description='trained checkpoint dir (.../pretrained_model); '
                                          'empty = policy_path from params_file'),
        DeclareLaunchArgument('dataset_root', default_value='',
                              description='recorder: NEW dataset directory'),
        DeclareLaunchArgument('task', default_value='grasp the object',
                              description='recorder: task string stored with each episode'),
        DeclareLaunchArgument('depth', default_value='/promptda_perception/depth/image',
                              description='input depth sensor_msgs/Image (32FC1 m or 16UC1 mm)'),
        DeclareLaunchArgument('joint_states', default_value='/joint_states',
                              description='input sensor_msgs/JointState'),
        DeclareLaunchArgument('command', default_value='command',
                              description='policy: output JointTrajectory / Float64MultiArray; '
                                          'recorder: the teleop command input'),
        DeclareLaunchArgument('estop', default_value='/estop',
                              description='std_msgs/Bool e-stop input (True latches a stop)'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='use /clock (true when playing a bag)'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='logger level: debug, info, warn, error'),
    ]
    remaps = [('depth', arg('depth')), ('joint_states', arg('joint_states')),
              ('command', arg('command')), ('estop', arg('estop'))]
    common = dict(package='promptda_ros', namespace=arg('namespace'), output='screen',
                  remappings=remaps)
    ros_args = ['--ros-args', '--log-level', arg('log_level')]
    # Empty CLI overrides keep the values of the params file.
    policy = Node(
        executable='promptda-policy', name='promptda_policy',
        parameters=[arg('params_file'), {'use_sim_time': arg('use_sim_time')}],
        arguments=['--policy-path', arg('policy_path')] + ros_args,
        condition=UnlessCondition(arg('record')), **common)
    recorder = Node(
        executable='promptda-policy-record', name='promptda_policy_recorder',
        parameters=[arg('params_file'), {'use_sim_time': arg('use_sim_time')}],
        arguments=['--root', arg('dataset_root'), '--task', arg('task')] + ros_args,
        condition=IfCondition(arg('record')), **common)
    return LaunchDescription(arguments + [policy, recorder])
