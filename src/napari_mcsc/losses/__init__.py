"""Losses of MCSC: supervised, cross teaching and multi-scale cross contrastive."""

from napari_mcsc.losses.contrastive import (
    BlockSetSampler,
    balanced_supcon_loss,
    multi_scale_cross_contrastive_loss,
)
from napari_mcsc.losses.segmentation import (
    cross_teaching_loss,
    dice_loss,
    hard_labels,
    supervised_loss,
)

__all__ = [
    "BlockSetSampler",
    "balanced_supcon_loss",
    "cross_teaching_loss",
    "dice_loss",
    "hard_labels",
    "multi_scale_cross_contrastive_loss",
    "supervised_loss",
]
