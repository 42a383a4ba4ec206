"""Supervised and cross-teaching segmentation losses (method.md §4.1, §4.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from napari_mcsc.losses.contrastive import IGNORE


def dice_loss(probs: Tensor, target: Tensor, eps: float = 1e-5) -> Tensor:
    """Soft Dice loss averaged over classes, background included.

    ``probs``: softmax output (B, K, H, W); ``target``: class indices (B, H, W), where
    ``IGNORE`` marks pixels that take no part (a masked Dice: filtered pseudo-labels).
    Sums run over the whole batch, squared terms in the denominator (method.md §4.1).
    """
    if target.shape[0] == 0:
        return probs.sum() * 0.0
    valid = target != IGNORE
    onehot = F.one_hot(target.long().clamp(min=0), probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    if not bool(valid.all()):
        mask = valid[:, None].to(probs.dtype)
        probs, onehot = probs * mask, onehot * mask
    dims = (0, 2, 3)
    intersection = (probs * onehot).sum(dims)
    denominator = (probs * probs).sum(dims) + onehot.sum(dims)
    return (1.0 - (2.0 * intersection + eps) / (denominator + eps)).mean()


def supervised_loss(logits: Tensor, target: Tensor) -> Tensor:
    """0.5 (cross-entropy + Dice) on labelled slices."""
    if target.shape[0] == 0:
        return logits.sum() * 0.0
    ce = F.cross_entropy(logits, target.long())
    return 0.5 * (ce + dice_loss(torch.softmax(logits, dim=1), target))


def hard_labels(logits: Tensor) -> Tensor:
    """Detached per-pixel class of (B, K, H, W) logits.

    ``max(...).indices`` rather than ``argmax``: the same result, and on the CPU an
    order of magnitude faster for a reduction over the small channel dimension.
    """
    return logits.detach().max(dim=1).indices


def cross_teaching_loss(logits: Tensor, pseudo_labels: Tensor) -> Tensor:
    """Dice of one network's prediction against the other network's hard prediction
    (``pseudo_labels``, class indices, no gradient; ``IGNORE`` where a filter dropped
    the pixel)."""
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    return dice_loss(torch.softmax(logits, dim=1), pseudo_labels.detach())
