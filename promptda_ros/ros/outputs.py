# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The perception node's outputs: four lifecycle publishers, each message with the input header.

``depth/image`` (32FC1 m, NaN = invalid), ``depth/camera_info`` (scaled to the output size),
``depth/points`` (organized cloud, computed only while subscribed) and ``prompt/image`` (the
filled prompt, 32FC1 m, only while subscribed and ``publish_prompt``).
"""

from typing import Any

import numpy as np
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from promptda_ros.pipeline import cloud_arrays, DepthResult, PromptResult
from promptda_ros.ros import conversions
from promptda_ros.ros.node_kit import qos_profile
from promptda_ros.ros.params import PerceptionParams

__all__ = ['DepthOutputs']

_OUTPUTS = (('depth', Image, 'depth/image'), ('info', CameraInfo, 'depth/camera_info'),
            ('points', PointCloud2, 'depth/points'), ('prompt', Image, 'prompt/image'))


class DepthOutputs:
    """The publishers of one configured node (created by the constructor, reliable depth 5).

    Args:
        node: the lifecycle node that owns the publishers.
    """

    def __init__(self, node: Any) -> None:
        """Create the four lifecycle publishers (QoS overrides allowed)."""
        self._node = node
        self._pubs = {key: node.create_lifecycle_publisher(
            msg_type, topic, qos_profile(reliable=True),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
            for key, msg_type, topic in _OUTPUTS}

    def subscription_count(self, output: str) -> int:
        """Return how many subscribers ``output`` has ('depth', 'info', 'points', 'prompt')."""
        return self._pubs[output].get_subscription_count()

    def publish(self, header: Any, rgb: np.ndarray, prompt: PromptResult, result: DepthResult,
                params: PerceptionParams) -> None:
        """Publish one frame's outputs, every message with ``header`` (the input image's).

        Args:
            header: ``std_msgs/Header`` of the input image.
            rgb: (H, W, 3) uint8 RGB input image (colours of depth/points).
            prompt: the frame's prompt (its filled grid goes to prompt/image).
            result: the pipeline's output depth (metres) and scaled camera.
            params: ``publish_points``, ``points_rgb``, ``points_decimation``,
                ``points_max_range``, ``publish_prompt``.
        """
        pubs = self._pubs
        pubs['depth'].publish(conversions.depth_image_msg(result.depth_m, header))
        pubs['info'].publish(conversions.camera_info_msg(result.camera, header))
        if params.publish_points and pubs['points'].get_subscription_count() > 0:
            points, rgb_packed = cloud_arrays(result.depth_m, result.camera,
                                              rgb if params.points_rgb else None,
                                              params.points_decimation, params.points_max_range)
            pubs['points'].publish(conversions.cloud_msg(points, header, rgb_packed))
        if params.publish_prompt and pubs['prompt'].get_subscription_count() > 0:
            pubs['prompt'].publish(conversions.depth_image_msg(prompt.filled_m, header))

    def destroy(self) -> None:
        """Destroy the publishers."""
        for pub in self._pubs.values():
            self._node.destroy_lifecycle_publisher(pub)
        self._pubs = {}
