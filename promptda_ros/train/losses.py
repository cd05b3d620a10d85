# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth losses of PromptDA training (torch).

All losses take depth maps ``(B, H, W)`` or ``(B, 1, H, W)`` in metres and boolean masks of the
same shape (True = valid pixel). Reduction is **per sample, then over the batch**: each sample's
term is the mean over its own valid pixels (or valid neighbour pairs for gradients), and the loss
is the mean of those over the samples that have any; a batch with nothing valid gives 0 (still
connected to ``pred``, so backward works). Reducing per sample makes a batch split across
data-parallel replicas give the same gradient as one process holding the whole batch.

* :func:`l1_loss`             ``mean |pred - target|`` over valid pixels.
* :func:`gradient_loss`       ``mean |dx(pred - target)| + mean |dy(pred - target)|``, forward
  differences between horizontally / vertically adjacent pixels both valid.
* :func:`edge_aware_loss`     the PromptDA paper's loss for real data,
  ``L1(D_gt, D) + lam * (|dx(D - D_pseudo)| + |dy(D - D_pseudo)|)``, lam = 0.5: the L1 on the
  (possibly sparse or hole-ridden) reference, the gradient term against a dense pseudo ground
  truth whose edges are trusted.
* :func:`l1_gradient_loss`    ``L1 + lam * gradient`` against one dense target (synthetic data,
  the paper's supplementary material).
"""

import torch

EDGE_LAMBDA = 0.5
"""Weight of the gradient term (PromptDA: lambda = 0.5)."""


def _flat(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.dim() == 4:
        if x.shape[1] != 1:
            raise ValueError(f'{name} must be (B, H, W) or (B, 1, H, W), got {tuple(x.shape)}')
        x = x[:, 0]
    if x.dim() != 3:
        raise ValueError(f'{name} must be (B, H, W) or (B, 1, H, W), got {tuple(x.shape)}')
    return x


def _pair(pred, target, mask):
    pred = _flat(pred, 'pred')
    target = _flat(target, 'target')
    if target.shape != pred.shape:
        raise ValueError(f'target {tuple(target.shape)} does not match pred {tuple(pred.shape)}')
    if mask is None:
        mask = torch.isfinite(target)
    else:
        mask = _flat(mask, 'mask').to(torch.bool)
        if mask.shape != pred.shape:
            raise ValueError(f'mask {tuple(mask.shape)} does not match pred {tuple(pred.shape)}')
        mask = mask & torch.isfinite(target)
    return pred, torch.where(mask, target, torch.zeros_like(target)), mask


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ``mask`` per sample, then over samples that have any.

    Args:
        values: (B, ...) float.
        mask: (B, ...) bool, same shape.

    Returns:
        scalar tensor (0, connected to ``values``, when nothing is valid).
    """
    values = torch.where(mask, values, torch.zeros_like(values)).flatten(1)
    count = mask.flatten(1).sum(dim=1)
    per_sample = values.sum(dim=1) / count.clamp(min=1)
    has = count > 0
    if not bool(has.any()):
        return values.sum() * 0.0
    return per_sample[has].mean()


def l1_loss(pred: torch.Tensor, target: torch.Tensor,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error on valid pixels.

    Args:
        pred: (B, H, W) or (B, 1, H, W) metres.
        target: same shape, metres (non-finite = invalid).
        mask: same shape, bool, True = valid; None = finite target.

    Returns:
        scalar tensor, metres.
    """
    pred, target, mask = _pair(pred, target, mask)
    return masked_mean((pred - target).abs(), mask)


def gradient_loss(pred: torch.Tensor, target: torch.Tensor,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference of the spatial gradients of ``pred`` and ``target``.

    ``mean |dx(pred - target)| + mean |dy(pred - target)|`` with ``dx e[i, j] = e[i, j + 1] -
    e[i, j]`` (``dy`` down the rows), each mean over the adjacent pairs whose two pixels are valid.

    Args:
        pred: (B, H, W) or (B, 1, H, W) metres.
        target: same shape, metres.
        mask: same shape, bool, True = valid; None = finite target.

    Returns:
        scalar tensor, metres per pixel.
    """
    pred, target, mask = _pair(pred, target, mask)
    err = pred - target
    dx = (err[:, :, 1:] - err[:, :, :-1]).abs()
    dy = (err[:, 1:, :] - err[:, :-1, :]).abs()
    mx = mask[:, :, 1:] & mask[:, :, :-1]
    my = mask[:, 1:, :] & mask[:, :-1, :]
    return masked_mean(dx, mx) + masked_mean(dy, my)


def edge_aware_loss(pred: torch.Tensor, gt: torch.Tensor, pseudo: torch.Tensor,
                    gt_mask: torch.Tensor | None = None, lam: float = EDGE_LAMBDA,
                    pseudo_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Edge-aware loss of PromptDA: L1 to the reference plus lam x gradient loss to a pseudo GT.

    Args:
        pred: (B, H, W) or (B, 1, H, W) predicted depth, metres.
        gt: same shape, reference depth, metres (invalid where ``gt_mask`` is False).
        pseudo: same shape, dense pseudo ground truth, metres.
        gt_mask: bool, valid reference pixels; None = finite ``gt``.
        lam: weight of the gradient term.
        pseudo_mask: bool, valid pseudo pixels; None = finite ``pseudo``.

    Returns:
        scalar tensor.
    """
    return l1_loss(pred, gt, gt_mask) + float(lam) * gradient_loss(pred, pseudo, pseudo_mask)


def l1_gradient_loss(pred: torch.Tensor, target: torch.Tensor,
                     mask: torch.Tensor | None = None, lam: float = EDGE_LAMBDA
                     ) -> torch.Tensor:
    """L1 plus lam x gradient loss against one dense target (synthetic data).

    Args:
        pred: (B, H, W) or (B, 1, H, W) metres.
        target: same shape, metres.
        mask: bool, valid target pixels; None = finite target.
        lam: weight of the gradient term.

    Returns:
        scalar tensor.
    """
    return l1_loss(pred, target, mask) + float(lam) * gradient_loss(pred, target, mask)


LOSSES = ('l1', 'l1_grad', 'edge')
