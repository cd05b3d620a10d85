# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth ACT policy: lerobot's ACT with a 1-channel ResNet18 stem.

::

    depth (B, 1, H, W), dataset-normalised
      -> conv1' 1->64, 7x7/2   (conv1' = sum over RGB of the ImageNet conv1 kernels, or random)
      -> ResNet18 layers 1-4 (config.backbone_norm)      -> (B, 512, H/32, W/32)
      -> ACT transformer encoder/decoder (+ joint state) -> action chunk (B, chunk_size, J)

Feeding ``d`` to conv1' equals feeding ``[d, d, d]`` to the RGB conv1 exactly, since
``sum_c W[:, c] * d = (sum_c W[:, c]) * d``; every later layer is unchanged, so the ImageNet
features of a grey image are preserved.

Training cannot save garbage: a non-finite loss (:meth:`ACTDepthPolicy.forward`) or a
non-finite weight after an optimiser step (:meth:`ACTDepthPolicy.update`, which lerobot's loop
calls after every step) raises :class:`NonFiniteError` before the next checkpoint, so the last
saved checkpoint stays the last good one.
"""

import os

import torch
from torch import nn

from promptda_ros.core.errors import CheckpointError, NonFiniteError

from . import POLICY_TYPE
from .configuration_act_depth import ACTDepthConfig
from .lerobot_adapter import ACTPolicy

RESNET18_IMAGENET_FILE = 'resnet18-f37072fd.pth'


def imagenet_resnet18_path() -> str:
    """Return where torchvision caches ImageNet ResNet18 (``$TORCH_HOME/hub/checkpoints``)."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints', RESNET18_IMAGENET_FILE)


def depth_conv_from_rgb(conv: nn.Conv2d) -> nn.Conv2d:
    """Return a 1-channel copy of an RGB conv whose kernel is the sum of the RGB kernels.

    Args:
        conv: conv with weight (C_out, 3, k, k).

    Returns:
        conv with weight (C_out, 1, k, k) = ``conv.weight.sum(dim=1, keepdim=True)``, same
        stride, padding, dilation and bias.
    """
    if conv.in_channels != 3 or conv.groups != 1:
        raise CheckpointError('expected an RGB conv (3 input channels, groups=1), got %d inputs'
                              % conv.in_channels)
    out = nn.Conv2d(1, conv.out_channels, conv.kernel_size, stride=conv.stride,
                    padding=conv.padding, dilation=conv.dilation, bias=conv.bias is not None,
                    padding_mode=conv.padding_mode)
    with torch.no_grad():
        out.weight.copy_(conv.weight.sum(dim=1, keepdim=True))  # (C_out, 1, k, k)
        if conv.bias is not None:
            out.bias.copy_(conv.bias)
    return out.to(conv.weight.device, conv.weight.dtype)


def load_imagenet_backbone(backbone: nn.Module, path: str) -> None:
    """Load torchvision ImageNet ResNet18 weights into a ResNet trunk (RGB conv1, no fc).

    Args:
        backbone: ACT's ``IntermediateLayerGetter`` around a torchvision ResNet18 (still RGB).
        path: torchvision state-dict file.

    Raises:
        CheckpointError: when the file is unreadable or its keys do not match ResNet18.
    """
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise CheckpointError('cannot read ImageNet ResNet18 weights %s: %s' % (path, exc))
    if not isinstance(state, dict):
        raise CheckpointError('%s is not a state dict' % path)
    own = backbone.state_dict()
    trunk = {k: v for k, v in state.items() if not k.startswith('fc.')
             and not k.endswith('num_batches_tracked')}
    missing = sorted(set(own) - set(trunk))
    unexpected = sorted(set(trunk) - set(own))
    if missing or unexpected:
        raise CheckpointError('%s is not a ResNet18 state dict (missing %s, unexpected %s)'
                              % (path, missing[:4], unexpected[:4]))
    bad = [k for k in own if tuple(own[k].shape) != tuple(trunk[k].shape)]
    if bad:
        raise CheckpointError('%s: shape mismatch for %s' % (path, bad[:4]))
    backbone.load_state_dict(trunk, strict=True)


def replace_frozen_norms(module: nn.Module, kind: str) -> int:
    """Swap every torchvision ``FrozenBatchNorm2d`` under ``module`` for a learning layer.

    Args:
        module: a ResNet trunk built by lerobot with frozen batch norm.
        kind: ``'group_norm'`` (32 groups, or fewer when the channels do not divide; weight 1,
            bias 0) or ``'batch_norm'`` (starts from the frozen statistics and affine, so
            ImageNet weights keep their meaning).

    Returns:
        how many layers were replaced.
    """
    from torchvision.ops.misc import FrozenBatchNorm2d

    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, FrozenBatchNorm2d):
            channels = child.weight.shape[0]
            if kind == 'group_norm':
                groups = next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)
                new: nn.Module = nn.GroupNorm(groups, channels)
            else:
                new = nn.BatchNorm2d(channels, eps=child.eps)
                with torch.no_grad():
                    new.weight.copy_(child.weight)
                    new.bias.copy_(child.bias)
                    new.running_mean.copy_(child.running_mean)
                    new.running_var.copy_(child.running_var)
            setattr(module, name, new.to(child.weight.device))
            count += 1
        else:
            count += replace_frozen_norms(child, kind)
    return count


class ACTDepthPolicy(ACTPolicy):
    """ACT policy (lerobot) on one depth image; see the module docstring for the layout."""

    config_class = ACTDepthConfig
    name = POLICY_TYPE

    def __init__(self, config: ACTDepthConfig, **kwargs):
        if not isinstance(config, ACTDepthConfig):
            raise CheckpointError('ACTDepthPolicy needs an ACTDepthConfig, got %s'
                                  % type(config).__name__)
        super().__init__(config, **kwargs)
        backbone = self.model.backbone
        path = imagenet_resnet18_path()
        self.imagenet_initialised = False
        if config.imagenet_backbone and os.path.isfile(path):
            load_imagenet_backbone(backbone, path)
            self.imagenet_initialised = True
        elif config.imagenet_backbone and config.require_imagenet_backbone:
            raise CheckpointError('require_imagenet_backbone is set but %s does not exist '
                                  "(place torchvision's ResNet18 file there)" % path)
        backbone.conv1 = depth_conv_from_rgb(backbone.conv1)
        if config.backbone_norm != 'frozen_batch_norm':
            replace_frozen_norms(backbone, config.backbone_norm)

    def forward(self, batch: dict) -> tuple:
        """Return ACT's (loss, logs) for a batch; a non-finite loss raises NonFiniteError.

        Args:
            batch: preprocessed batch (depth (B, 1, H, W), state (B, J), action (B, T, J)).
        """
        loss, logs = super().forward(batch)
        if not bool(torch.isfinite(loss)):
            raise NonFiniteError('the training loss is %s (not finite): training stopped, the '
                                 'last saved checkpoint is kept; lower --lr or check the data'
                                 % float(loss))
        return loss, logs

    def update(self) -> None:
        """Check every weight after an optimiser step (lerobot's loop calls this after each).

        Raises:
            NonFiniteError: naming how many tensors hold NaN / Inf, e.g. after too high a
                learning rate.
        """
        with torch.no_grad():
            bad = [name for name, p in self.named_parameters()
                   if not bool(torch.isfinite(p).all())]
        if bad:
            raise NonFiniteError('%d weight tensors are not finite after an optimiser step '
                                 '(first: %s): training stopped, the last saved checkpoint is '
                                 'kept; lower --lr' % (len(bad), bad[0]))
