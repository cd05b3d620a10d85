# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Evaluation of metric depth: metrics, alignment, flicker, 3D reconstruction and reports.

The submodules import only numpy / scipy / opencv at import time; open3d is imported lazily
inside :mod:`promptda_ros.eval.recon` and matplotlib inside :mod:`promptda_ros.eval.report`.
"""

from promptda_ros.eval.alignment import (
                                         align_relative_depth,
                                         AlignmentResult,
                                         fit_scale_shift_lstsq,
                                         fit_scale_shift_ransac,
)
from promptda_ros.eval.metrics import (
                                         aggregate_frames,
                                         depth_metrics,
                                         METRIC_KEYS,
                                         MetricAccumulator,
                                         valid_mask,
)
from promptda_ros.eval.temporal import flicker

__all__ = [
    'AlignmentResult', 'METRIC_KEYS', 'MetricAccumulator', 'aggregate_frames',
    'align_relative_depth', 'depth_metrics', 'fit_scale_shift_lstsq', 'fit_scale_shift_ransac',
    'flicker', 'valid_mask',
]
