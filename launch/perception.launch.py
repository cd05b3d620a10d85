# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Launch the promptda_perception lifecycle node.

Example::

    ros2 launch promptda_ros perception.launch.py image:=/camera/color/image_raw \
        camera_info:=/camera/color/camera_info lidar_points:=/velodyne_points
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and the node."""
    share = get_package_share_directory('promptda_ros')
    default_params = os.path.join(share, 'config', 'perception.yaml')
    large_data_profile = os.path.join(share, 'config', 'fastdds_large_data.xml')
    arguments = [
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and its relative topics'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='ROS 2 parameters YAML of promptda_perception '
                                          '(default: the installed config/perception.yaml)'),
        DeclareLaunchArgument('image', default_value='/camera/image_raw',
                              description='input sensor_msgs/Image (rgb8/bgr8/mono8)'),
        DeclareLaunchArgument('camera_info', default_value='/camera/camera_info',
                              description='input sensor_msgs/CameraInfo of the image'),
        DeclareLaunchArgument('lidar_points', default_value='/lidar/points',
                              description='input sensor_msgs/PointCloud2 LiDAR sweeps '
                                          "(prompt_source 'points')"),
        DeclareLaunchArgument('prompt_depth', default_value='/lidar/depth',
                              description='input low-res depth Image, 16UC1 mm or 32FC1 m '
                                          "(prompt_source 'depth_image')"),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='use /clock (true when playing a bag)'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='logger level: debug, info, warn, error'),
        DeclareLaunchArgument('autostart', default_value='true',
                              description='configure and activate the lifecycle node itself '
                                          '(false: leave it to a lifecycle manager)'),
        DeclareLaunchArgument('publish_points', default_value='true',
                              description='publish depth/points (organized PointCloud2)'),
        DeclareLaunchArgument('large_data_transport', default_value='true',
                              description='start the node with the Fast DDS profile '
                                          'config/fastdds_large_data.xml (large shared-memory '
                                          'segments: best-effort images between processes '
                                          'arrive whole); set the same profile in the camera '
                                          "driver's environment too"),
    ]
    transport = SetEnvironmentVariable(
        'FASTDDS_DEFAULT_PROFILES_FILE', large_data_profile,
        condition=IfCondition(LaunchConfiguration('large_data_transport')))
    node = LifecycleNode(
        package='promptda_ros',
        executable='promptda-perception',
        name='promptda_perception',
        namespace=LaunchConfiguration('namespace'),
        output='screen',
        parameters=[
            LaunchConfiguration('params_file'),
            {
                'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'),
                                               value_type=bool),
                'autostart': ParameterValue(LaunchConfiguration('autostart'), value_type=bool),
                'publish_points': ParameterValue(LaunchConfiguration('publish_points'),
                                                 value_type=bool),
            },
        ],
        remappings=[
            ('image', LaunchConfiguration('image')),
            ('image/compressed', [LaunchConfiguration('image'), '/compressed']),
            ('camera_info', LaunchConfiguration('camera_info')),
            ('lidar/points', LaunchConfiguration('lidar_points')),
            ('prompt_depth', LaunchConfiguration('prompt_depth')),
        ],
        ros_arguments=['--log-level', LaunchConfiguration('log_level')],
    )
    return LaunchDescription(arguments + [transport, node])
