"""Whole-volume prediction with uncertainty maps and a per-slice uncertainty ranking.

Slices are resized to the network's input size, predicted in batches, and the class
probabilities are resized back to the slice's own size before the argmax, so masks
keep their shape and no slice is left out. Uncertainty needs both networks:
``entropy`` is the predictive entropy of the CNN + Swin-UNet ensemble (divided by
log K, so in [0, 1]); ``disagreement`` is the total-variation distance between the two
networks' class probabilities (in [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from napari_mcsc.data.normalise import normalise_volume
from napari_mcsc.devices import pick_device
from napari_mcsc.model import SegmentationModel


@dataclass
class SlicePrediction:
    """Predictions for a stack of slices (N, H, W); maps are None when not asked for."""

    labels: np.ndarray
    entropy: np.ndarray | None = None
    disagreement: np.ndarray | None = None


@dataclass
class VolumePrediction:
    """A volume's predicted label values and uncertainty, in the input's axis order.

    ``uncertainty`` is the map shown to users (ensemble entropy, or the CNN's own entropy
    when the model has no trained Transformer); ``slice_scores`` is its mean per slice
    along the model's axis and ``ranking`` the slice indices, most uncertain first.
    """

    labels: np.ndarray
    uncertainty: np.ndarray | None = None
    disagreement: np.ndarray | None = None
    slice_scores: np.ndarray | None = None
    ranking: list[int] | None = None


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    k = probs.shape[1]
    ent = -(probs * torch.log(probs.clamp_min(1e-8))).sum(dim=1)
    return ent / float(np.log(k)) if k > 1 else ent


@torch.no_grad()
def predict_slices(
    model: SegmentationModel,
    slices: np.ndarray,
    *,
    normalised: bool = False,
    ensemble: bool = False,
    uncertainty: bool = False,
    device: str | torch.device | None = None,
    batch_size: int = 16,
) -> SlicePrediction:
    """Predict a stack of 2D slices (N, H, W). ``normalised``: already in [0, 1]."""
    device = device if isinstance(device, torch.device) else pick_device(device)
    nets = model.networks
    was_training = nets.training
    nets.to(device).eval()
    size = model.image_size
    data = np.asarray(slices, dtype=np.float32)
    if not normalised:
        data = normalise_volume(data, model.normalisation)
    n, h, w = data.shape
    use_swin = (ensemble or uncertainty) and model.has_trained_transformer
    mode = "nearest" if model.settings.image_interpolation == "nearest" else "bilinear"
    labels = np.empty((n, h, w), dtype=np.int64)
    entropy = np.empty((n, h, w), dtype=np.float32) if uncertainty else None
    disagreement = np.empty((n, h, w), dtype=np.float32) if uncertainty and use_swin else None
    for start in range(0, n, batch_size):
        batch = torch.from_numpy(data[start : start + batch_size]).to(device)[:, None]
        if (h, w) != (size, size):
            kwargs = {} if mode == "nearest" else {"align_corners": False, "antialias": True}
            batch = F.interpolate(batch, size=(size, size), mode=mode, **kwargs)
        probs_a = _back_to_size(torch.softmax(nets.cnn(batch).logits.float(), dim=1), h, w)
        probs = probs_a
        if use_swin:
            probs_b = _back_to_size(torch.softmax(nets.swin(batch).logits.float(), dim=1), h, w)
            mean = 0.5 * (probs_a + probs_b)
            if ensemble:
                probs = mean
            if uncertainty:
                entropy[start : start + batch_size] = _entropy(mean).cpu().numpy()
                tv = 0.5 * (probs_a - probs_b).abs().sum(dim=1)
                disagreement[start : start + batch_size] = tv.cpu().numpy()
        elif uncertainty:
            entropy[start : start + batch_size] = _entropy(probs_a).cpu().numpy()
        labels[start : start + batch_size] = probs.max(dim=1).indices.cpu().numpy()
    if was_training:
        nets.train()
    return SlicePrediction(model.mapping.to_values(labels), entropy, disagreement)


def _back_to_size(probs: torch.Tensor, h: int, w: int) -> torch.Tensor:
    if probs.shape[-2:] == (h, w):
        return probs
    return F.interpolate(probs, size=(h, w), mode="bilinear", align_corners=False)


def predict_volume(
    model: SegmentationModel,
    volume: np.ndarray,
    *,
    ensemble: bool = False,
    uncertainty: bool = True,
    device: str | torch.device | None = None,
    batch_size: int = 16,
) -> VolumePrediction:
    """Predict every slice of a 3D ``volume`` along the model's axis."""
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"expected a 3D volume, got shape {volume.shape}")
    axis = model.axis
    stacked = np.moveaxis(normalise_volume(volume, model.normalisation), axis, 0)
    pred = predict_slices(
        model,
        stacked,
        normalised=True,
        ensemble=ensemble,
        uncertainty=uncertainty,
        device=device,
        batch_size=batch_size,
    )
    result = VolumePrediction(labels=np.moveaxis(pred.labels, 0, axis))
    if pred.entropy is not None:
        result.uncertainty = np.moveaxis(pred.entropy, 0, axis)
        result.slice_scores = pred.entropy.reshape(pred.entropy.shape[0], -1).mean(axis=1)
        result.ranking = rank_slices(result.slice_scores)
    if pred.disagreement is not None:
        result.disagreement = np.moveaxis(pred.disagreement, 0, axis)
    return result


def rank_slices(scores: np.ndarray, exclude: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """Slice indices sorted from most to least uncertain, without ``exclude``."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return [int(i) for i in order if int(i) not in exclude]
