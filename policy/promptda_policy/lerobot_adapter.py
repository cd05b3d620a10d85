# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The one module that imports lerobot (pinned: lerobot 0.6.1, see requirements.txt).

Every other module of ``promptda_policy`` takes lerobot names from here, so an API change in
lerobot is absorbed in one file. Importing this module is slow (~seconds: torch, datasets);
modules that only need the safety filter or the profiles never import it.
"""

from lerobot.configs import DatasetConfig, PreTrainedConfig, WandBConfig
from lerobot.configs.train import TrainPipelineConfig
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.datasets import LeRobotDataset, LeRobotDatasetMetadata
from lerobot.policies.act.configuration_act import ACTConfig
from lerobot.policies.act.modeling_act import ACTPolicy
from lerobot.policies.factory import get_policy_class, make_pre_post_processors
from lerobot.processor import make_default_pre_post_processors
from lerobot.scripts.lerobot_train import train as lerobot_train
from lerobot.utils.constants import ACTION, OBS_IMAGES, OBS_STATE

__all__ = [
    'ACTION', 'ACTConfig', 'ACTPolicy', 'DatasetConfig', 'FeatureType', 'LeRobotDataset',
    'LeRobotDatasetMetadata', 'NormalizationMode', 'OBS_IMAGES', 'OBS_STATE', 'PolicyFeature',
    'PreTrainedConfig', 'TrainPipelineConfig', 'WandBConfig', 'get_policy_class',
    'lerobot_train', 'make_default_pre_post_processors', 'make_pre_post_processors',
]
