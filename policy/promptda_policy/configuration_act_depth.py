# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Configuration of the depth ACT policy, registered with lerobot as policy type ``act_depth``.

Importing this module registers the type, so ``PreTrainedConfig.from_pretrained`` /
``ACTDepthPolicy.from_pretrained`` and ``lerobot-train --policy.type=act_depth
--policy.discover_packages_path=promptda_policy.plugin`` rebuild it. lerobot
finds the policy class and processors by naming convention from this module's name
(``configuration_act_depth`` -> ``modeling_act_depth`` / ``processor_act_depth``).
"""

from dataclasses import dataclass, field

from promptda_ros.core.errors import InputError

from . import BACKBONE_NORMS, POLICY_TYPE
from .lerobot_adapter import ACTConfig, FeatureType, NormalizationMode, PreTrainedConfig

DEPTH_UNITS = ('m', 'mm')
DEPTH_NORMALIZATION = (NormalizationMode.MEAN_STD, NormalizationMode.MIN_MAX)


@PreTrainedConfig.register_subclass(POLICY_TYPE)
@dataclass
class ACTDepthConfig(ACTConfig):
    """ACT whose single image input is a 1-channel metric depth map.

    Differences from lerobot's ``ACTConfig``:

    * exactly one VISUAL input feature, shape (1, H, W), in ``depth_unit``;
    * the ResNet's first conv takes one channel. ``imagenet_backbone=True`` initialises the
      backbone from the local torchvision file ``$TORCH_HOME/hub/checkpoints/
      resnet18-f37072fd.pth`` when it exists, summing conv1's RGB kernels into the depth
      kernel (identical features to depth repeated 3x); otherwise the backbone starts random.
      Nothing is ever downloaded, so ``pretrained_backbone_weights`` must stay None;
    * depth is normalised with the dataset's own statistics (MEAN_STD or MIN_MAX), never
      ImageNet statistics (train with ``dataset.use_imagenet_stats=false``).

    Attributes:
        depth_unit: unit of the depth tensor the policy consumes (``'m'`` or ``'mm'``); the
            dataset must be read with the same ``depth_output_unit``.
        imagenet_backbone: use local ImageNet ResNet18 weights when present.
        require_imagenet_backbone: raise instead of starting random when the file is missing.
        backbone_norm: the trunk's normalisation layers. ``'frozen_batch_norm'`` is lerobot's
            (fixed statistics: right for ImageNet weights, an identity for a random start);
            ``'group_norm'`` (32 groups, learnt affine; batch-independent, so training and
            serving compute the same thing) and ``'batch_norm'`` (learnt, running statistics
            at serve time) learn their scale, which a random start needs. Checkpoints saved
            before this option existed load as ``'frozen_batch_norm'``.
        action_fps: rate of the actions in a chunk (Hz) = the training dataset fps; the policy
            node indexes chunks by time with it.
        joint_names: the training dataset's joint names, the order of state and action (empty
            in checkpoints saved before they were recorded); a policy runs only on an arm
            with exactly these joints (:mod:`promptda_policy.control.arm_fit`).
    """

    pretrained_backbone_weights: str | None = None
    depth_unit: str = 'm'
    imagenet_backbone: bool = True
    require_imagenet_backbone: bool = False
    backbone_norm: str = 'frozen_batch_norm'
    push_to_hub: bool = False
    action_fps: float = 30.0
    joint_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        super().__post_init__()
        if self.pretrained_backbone_weights is not None:
            raise InputError(
                'act_depth: pretrained_backbone_weights must be None (got %r); ImageNet weights '
                'are read from the local torchvision cache via imagenet_backbone=true and never '
                'downloaded' % (self.pretrained_backbone_weights,))
        if self.depth_unit not in DEPTH_UNITS:
            raise InputError('act_depth: depth_unit must be one of %s, got %r'
                             % (DEPTH_UNITS, self.depth_unit))
        if self.backbone_norm not in BACKBONE_NORMS:
            raise InputError('act_depth: backbone_norm must be one of %s, got %r'
                             % (BACKBONE_NORMS, self.backbone_norm))
        if not self.action_fps > 0:
            raise InputError('act_depth: action_fps must be > 0, got %r' % (self.action_fps,))
        names = list(self.joint_names)
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise InputError('act_depth: joint_names must be distinct non-empty names, got %r'
                             % (names,))
        visual = self.normalization_mapping.get(FeatureType.VISUAL.value,
                                                self.normalization_mapping.get('VISUAL'))
        if NormalizationMode(visual) not in DEPTH_NORMALIZATION:
            raise InputError('act_depth: depth normalisation must be MEAN_STD or MIN_MAX '
                             '(dataset statistics), got %r' % (visual,))

    def validate_features(self) -> None:
        """Check for exactly one 1-channel image input and a state input.

        Raises:
            InputError: naming the offending feature.
        """
        super().validate_features()
        images = self.image_features
        if len(images) != 1:
            raise InputError('act_depth takes exactly one depth image input, got %d: %s'
                             % (len(images), sorted(images)))
        key, feature = next(iter(images.items()))
        shape = tuple(feature.shape)
        if len(shape) != 3 or shape[0] != 1:
            raise InputError('act_depth: image input %r must be (1, H, W) depth, got shape %s'
                             % (key, shape))
        if shape[1] < 32 or shape[2] < 32:
            raise InputError('act_depth: depth %r of %dx%d is too small for a ResNet (>= 32x32)'
                             % (key, shape[1], shape[2]))
        if self.robot_state_feature is None:
            raise InputError('act_depth needs the joint state input observation.state')
        joints = int(self.robot_state_feature.shape[0])
        if self.joint_names and len(self.joint_names) != joints:
            raise InputError('act_depth: %d joint_names %s for a state of %d values'
                             % (len(self.joint_names), list(self.joint_names), joints))

    @property
    def depth_key(self) -> str:
        """Name of the depth input feature (e.g. ``observation.images.depth``)."""
        return next(iter(self.image_features))
