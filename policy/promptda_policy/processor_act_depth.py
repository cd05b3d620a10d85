# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Pre/post-processors of ``act_depth`` (lerobot finds them by naming convention).

Same pipeline as ACT (rename -> batch -> device -> normalise; unnormalise -> cpu), with one
guard: the depth statistics must be the dataset's own 1-channel statistics, so ImageNet RGB
statistics (3 channels) or missing statistics are refused.
"""

from typing import Any

import numpy as np

from promptda_ros.core.errors import InputError

from .configuration_act_depth import ACTDepthConfig
from .lerobot_adapter import make_default_pre_post_processors


def check_depth_stats(config: ACTDepthConfig, dataset_stats: dict | None) -> None:
    """Raise InputError unless the depth statistics are finite 1-channel dataset statistics."""
    key = config.depth_key
    if dataset_stats is None or key not in dataset_stats:
        raise InputError('act_depth: no dataset statistics for %r; depth is normalised with '
                         "the dataset's own statistics" % key)
    stats = dataset_stats[key]
    needed = ('mean', 'std') if config.normalization_mapping['VISUAL'] == 'MEAN_STD' else (
        'min', 'max')
    for name in needed:
        if name not in stats:
            raise InputError('act_depth: dataset statistics of %r lack %r' % (key, name))
        value = np.asarray(stats[name].cpu() if hasattr(stats[name], 'cpu') else stats[name],
                           dtype=np.float64)
        if value.size != 1:
            raise InputError('act_depth: %s statistics of %r have %d channels; expected the '
                             "dataset's 1-channel depth stats (ImageNet stats are not allowed; "
                             'train with dataset.use_imagenet_stats=false)'
                             % (name, key, value.size))
        if not np.all(np.isfinite(value)):
            raise InputError('act_depth: non-finite %s statistics for %r' % (name, key))


def make_act_depth_pre_post_processors(config: ACTDepthConfig,
                                       dataset_stats: dict | None = None) -> tuple[Any, Any]:
    """Build the (preprocessor, postprocessor) pipelines for a fresh ``act_depth`` policy."""
    check_depth_stats(config, dataset_stats)
    return make_default_pre_post_processors(config, dataset_stats,
                                            normalizer_device=config.device)
