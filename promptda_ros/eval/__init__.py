# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Evaluation: metrics, methods, held-out splits, flicker, 3D reconstruction and reports.

The scale-and-shift alignment the relative-depth methods use is the core's
(:mod:`promptda_ros.core.alignment`): the ``starrygazer`` backend serves with it too.

The submodules import only numpy / scipy / opencv at import time; open3d is imported lazily
inside :mod:`promptda_ros.eval.recon` and matplotlib inside :mod:`promptda_ros.eval.report`.
"""

from promptda_ros.eval.metrics import (
                                         aggregate_frames,
                                         depth_metrics,
                                         METRIC_KEYS,
                                         MetricAccumulator,
                                         valid_mask,
)
from promptda_ros.eval.temporal import flicker

__all__ = [
    'METRIC_KEYS', 'MetricAccumulator', 'aggregate_frames', 'depth_metrics', 'flicker',
    'valid_mask',
]
