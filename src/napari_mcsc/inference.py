"""Whole-volume prediction with uncertainty maps and a per-slice uncertainty ranking.

Slices are resized to the network's input size, predicted in batches, and the class
probabilities are resized back to the slice's own size before the argmax, so masks
keep their shape and no slice is left out. Uncertainty needs both networks:
``entropy`` is the predictive entropy of the CNN + Swin-UNet ensemble (divided by
log K, so in [0, 1]); ``disagreement`` is the total-variation distance between the two
networks' class probabilities (in [0, 1]).

Which slice to paint next: where nothing of the scan is painted, the slice of highest mean
entropy; where painted slices are carried to the others (``propagation``), the slice
where the network's own labels differ most from the carried ones. A network that misses
a small structure near the apex misses it confidently, so entropy does not see the
miss while the carried labels do (docs/benchmarks.md, section 37).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from napari_mcsc import propagation
from napari_mcsc.data.context import context_stack
from napari_mcsc.data.field_of_view import Box, box_of_painting, is_whole, tile_boxes, whole_slice
from napari_mcsc.data.normalise import normalise_volume
from napari_mcsc.data.slices import resize_slices
from napari_mcsc.devices import pick_device
from napari_mcsc.model import SegmentationModel
from napari_mcsc.postprocess import consistent_mask
from napari_mcsc.scan_statistics import with_scan_statistics


@dataclass
class SlicePrediction:
    """Predictions for a stack of slices (N, H, W); maps are None when not asked for."""

    labels: np.ndarray
    entropy: np.ndarray | None = None
    disagreement: np.ndarray | None = None
    # per slice, the share of pixels where the network's labels differ from the carried
    # ones (with uncertainty, when painted labels were carried in)
    carried_mismatch: np.ndarray | None = None


# a slice's score where painted labels are carried: its share of mismatch with them, the
# mean entropy (weighted this little) only breaking ties
ENTROPY_TIE_BREAK = 1e-3


def slice_scores(entropy: np.ndarray, carried_mismatch: np.ndarray | None = None) -> np.ndarray:
    """Each slice's score for what to paint next (higher first): its mean entropy, or,
    where painted labels were carried to the slices, its share of pixels where the
    network's labels differ from the carried ones, plus ``ENTROPY_TIE_BREAK`` times its
    mean entropy."""
    means = np.asarray(entropy, dtype=np.float64).reshape(len(entropy), -1).mean(axis=1)
    if carried_mismatch is None:
        return means
    return np.asarray(carried_mismatch, dtype=np.float64) + ENTROPY_TIE_BREAK * means


# a structure "comes or goes" on a slice between two predictions when it covers at least
# this share of its largest slice in one and at most FLIP_REMAINS of that in the other
FLIP_SHARE_OF_LARGEST = 0.25
FLIP_REMAINS = 0.1


def structure_areas(labels: np.ndarray, axis: int = 0) -> dict[int, np.ndarray]:
    """Each structure's voxel count per slice along ``axis`` (label value -> counts): all
    that ``flipped_slices`` compares, so a loop can keep it in place of a whole prediction."""
    labels = np.moveaxis(np.asarray(labels), axis, 0)
    flat = labels.reshape(len(labels), -1)
    return {int(v): (flat == v).sum(axis=1) for v in np.unique(labels) if v != 0}


def flipped_slices(before: np.ndarray, after: np.ndarray, axis: int = 0) -> np.ndarray:
    """Per slice along ``axis``, True where a structure came or went wholesale between two
    predictions of one scan (label values, same shape): the round's new painting changed
    the network's mind there. Such a slice can escape the score of ``slice_scores``: a
    painted slice where a structure has ended teaches the network to drop it from the next
    slice too, and the painting carried from that side agrees with the network
    (docs/benchmarks.md, section 41)."""
    if np.shape(before) != np.shape(after):
        raise ValueError(
            f"predictions of one scan must have one shape, not {np.shape(before)} and {np.shape(after)}"
        )
    return flipped_between(structure_areas(before, axis), structure_areas(after, axis), np.shape(after)[axis])


def flipped_between(
    before: Mapping[int, np.ndarray], after: Mapping[int, np.ndarray], n_slices: int
) -> np.ndarray:
    """``flipped_slices`` from the two predictions' ``structure_areas``."""
    flipped = np.zeros(n_slices, dtype=bool)
    none = np.zeros(n_slices, dtype=np.int64)
    for value in set(before) | set(after):
        area_before, area_after = before.get(value, none), after.get(value, none)
        large = FLIP_SHARE_OF_LARGEST * max(area_before.max(), area_after.max())
        went = (area_before >= large) & (area_after <= FLIP_REMAINS * area_before)
        came = (area_after >= large) & (area_before <= FLIP_REMAINS * area_after)
        flipped |= went | came
    return flipped


@dataclass
class VolumePrediction:
    """A volume's predicted label values and uncertainty, in the input's axis order.

    ``uncertainty`` is the map shown to users (ensemble entropy, or the CNN's own entropy
    when the model has no trained Transformer); ``slice_scores`` says which slice to
    paint next along the model's axis (``slice_scores()``: the map's mean per slice, or
    the mismatch with the carried painting where the scan has painted slices) and
    ``ranking`` the slice indices, highest score first; a study's rounds and the widget's
    correction loop put first in it the slices in ``changed``, where a structure came or
    went since the scan's last prediction (``put_changed_first``).
    """

    labels: np.ndarray
    uncertainty: np.ndarray | None = None
    disagreement: np.ndarray | None = None
    slice_scores: np.ndarray | None = None
    ranking: list[int] | None = None
    changed: list[int] | None = None


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
    box: Box | None = None,
    flips: bool = False,
    carried: np.ndarray | None = None,
    carried_weight: float = propagation.WEIGHT,
) -> SlicePrediction:
    """Predict a stack of 2D slices (N, H, W), consecutive slices of a volume (a model with
    ``context_slices`` > 1 takes each one's neighbours from the stack). ``normalised``:
    already in [0, 1].
    ``flips``: average the probabilities (and so the uncertainty) over the slices as they
    are and mirrored left-right and up-down (test-time augmentation, 3x the work).

    A model trained on the square around painted structures (``settings.field_share``)
    predicts inside ``box`` (background outside), or, without one, in overlapping tiles at
    the scale it was trained at; any other model sees whole slices.

    ``carried``: painted labels carried to these slices (``propagation.carry_painted``),
    mixed into the class probabilities with ``carried_weight`` before the argmax; the
    uncertainty maps stay the networks' own, and with ``uncertainty`` each slice's share
    of pixels where the network's labels differ from the carried ones is kept."""
    device = device if isinstance(device, torch.device) else pick_device(device)
    nets = model.networks
    was_training = nets.training
    nets.to(device).eval()
    data = np.asarray(slices, dtype=np.float32)
    if not normalised:
        data = normalise_volume(data, model.normalisation)
    n, h, w = data.shape
    use_swin = (ensemble or uncertainty) and model.has_trained_transformer
    share = model.settings.field_share
    if share is None or (box is not None and is_whole(box, (h, w))):
        regions = [whole_slice((h, w))]
    else:
        regions = [box] if box is not None else tile_boxes((h, w), share)
    labels = np.empty((n, h, w), dtype=np.int64)
    entropy = np.empty((n, h, w), dtype=np.float32) if uncertainty else None
    disagreement = np.empty((n, h, w), dtype=np.float32) if uncertainty and use_swin else None
    carries = carried is not None and carried_weight > 0
    mismatch = np.empty(n, dtype=np.float64) if uncertainty and carries else None
    context = model.settings.network.context_slices
    for start in range(0, n, batch_size):
        part = slice(start, start + batch_size)
        rows = (
            data[part]
            if context == 1
            else context_stack(data, range(start, min(n, start + batch_size)), context)
        )
        probs_a, probs_b = _region_probabilities(model, rows, regions, use_swin, device, flips)
        probs = probs_a
        if use_swin:
            mean = 0.5 * (probs_a + probs_b)
            if ensemble:
                probs = mean
            if uncertainty:
                entropy[part] = _entropy(mean).cpu().numpy()
                disagreement[part] = (0.5 * (probs_a - probs_b).abs().sum(dim=1)).cpu().numpy()
        elif uncertainty:
            entropy[part] = _entropy(probs_a).cpu().numpy()
        if carries:
            if mismatch is not None:
                own = probs.max(dim=1).indices.cpu().numpy()
                mismatch[part] = (own != carried[part].argmax(axis=1)).mean(axis=(1, 2))
            probs = propagation.fuse(probs, carried[part], carried_weight)
        labels[part] = probs.max(dim=1).indices.cpu().numpy()
    if was_training:
        nets.train()
    return SlicePrediction(model.mapping.to_values(labels), entropy, disagreement, mismatch)


def _region_probabilities(model, data: np.ndarray, regions: list[Box], use_swin: bool, device, flips: bool):
    """Class probabilities (N, K, H, W) of the CNN (and of the Swin-UNet, else None) over
    whole slices: each region predicted at the networks' size (and mirrored, with
    ``flips``), put back in place, and overlapping regions averaged; outside every
    region, background."""
    n, (h, w) = data.shape[0], data.shape[-2:]
    size, nets = model.image_size, model.networks
    mode = "nearest" if model.settings.image_interpolation == "nearest" else "bilinear"
    sums = [torch.zeros((n, model.num_classes, h, w), device=device) for _ in range(1 + use_swin)]
    cover = torch.zeros((1, 1, h, w), device=device)
    for region in regions:
        batch = torch.from_numpy(np.ascontiguousarray(region.cut(data))).to(device)
        batch = batch if batch.ndim == 4 else batch[:, None]  # (N, C, h, w): C slices of context
        rh, rw = batch.shape[-2:]
        batch = resize_slices(batch, size, mode)
        nets_used = (nets.cnn, nets.swin)[: len(sums)]
        for total, net in zip(sums, nets_used, strict=True):
            probs = _back_to_size(_softmax(net, batch, flips), rh, rw)
            total[..., region.y0 : region.y1, region.x0 : region.x1] += probs
        cover[..., region.y0 : region.y1, region.x0 : region.x1] += 1
    outside = cover == 0
    results = []
    for total in sums:
        total = total / cover.clamp_min(1)
        total[:, :1] += outside.float()  # background where no region reached
        results.append(total)
    return results[0], (results[1] if use_swin else None)


def _softmax(net, batch: torch.Tensor, flips: bool) -> torch.Tensor:
    """The network's class probabilities of ``batch``, averaged over mirrored copies with
    ``flips`` (each mirrored back before the average)."""
    probs = torch.softmax(net(batch).logits.float(), dim=1)
    if not flips:
        return probs
    for dims in ((-1,), (-2,)):
        probs = probs + torch.softmax(net(batch.flip(dims)).logits.float(), dim=1).flip(dims)
    return probs / 3.0


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
    painted: np.ndarray | None = None,
    flips: bool = False,
    consistent: bool = False,
    carry: float = propagation.WEIGHT,
    reviewed: Sequence[int] = (),
    scan_statistics: bool = False,
) -> VolumePrediction:
    """Predict every slice of a 3D ``volume`` along the model's axis. ``painted``: the
    scan's sparse labels, if any: a model trained on the square around painted structures
    predicts in this scan's square (``data.field_of_view``), else in tiles. ``flips``:
    test-time mirroring (``predict_slices``); ``consistent``: the mask made 3D-consistent
    (``postprocess.consistent_mask``: stray pieces removed, holes filled, painted voxels
    kept), after the painted slices are carried to the others by registration and mixed
    into the probabilities with weight ``carry`` (``propagation``; 0: not carried).
    ``reviewed``: slices (along the model's axis) the user marked complete, empty ones
    included: with ``consistent``, the mask holds their painting alone, and nothing
    painted is carried onto or past one reviewed as empty (without it they change
    nothing). ``scan_statistics``: the CNN normalises with batch-norm statistics taken from
    this scan's slices (``scan_statistics``), not its training batches'."""
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"expected a 3D volume, got shape {volume.shape}")
    axis = model.axis
    stacked = np.moveaxis(normalise_volume(volume, model.normalisation), axis, 0)
    margin = model.settings.crop_margin
    box = None
    if painted is not None and margin is not None and model.settings.field_share is not None:
        box = box_of_painting(painted, axis, margin)
    carries = carries_painting(painted, consistent, carry)
    if scan_statistics:
        device = device if isinstance(device, torch.device) else pick_device(device)
        model = with_scan_statistics(model, stacked, device)
    pred = predict_slices(
        model,
        stacked,
        normalised=True,
        ensemble=ensemble,
        uncertainty=uncertainty,
        device=device,
        batch_size=batch_size,
        box=box,
        flips=flips,
        carried=_carried(model, stacked, painted, axis, reviewed) if carries else None,
        carried_weight=carry,
    )
    labels = np.moveaxis(pred.labels, 0, axis)
    if consistent:
        labels = consistent_mask(labels, painted, axis=axis, reviewed=reviewed)
    result = VolumePrediction(labels=labels)
    if pred.entropy is not None:
        result.uncertainty = np.moveaxis(pred.entropy, 0, axis)
        result.slice_scores = slice_scores(pred.entropy, pred.carried_mismatch)
        result.ranking = rank_slices(result.slice_scores)
    if pred.disagreement is not None:
        result.disagreement = np.moveaxis(pred.disagreement, 0, axis)
    return result


def carries_painting(painted: np.ndarray | None, consistent: bool, carry: float = propagation.WEIGHT) -> bool:
    """Whether ``predict_volume`` carries the painted slices to the others
    (``propagation``): only for the 3D-consistent mask, with a weight, and where
    something is painted."""
    return consistent and carry > 0 and painted is not None and bool(np.any(painted))


def _carried(
    model: SegmentationModel, stacked: np.ndarray, painted: np.ndarray | None, axis: int, reviewed=()
):
    """The painted slices carried to every slice (``propagation.carry_painted``), up to
    the slices ``reviewed`` as empty, in the model's classes; values the model does not
    know count as unpainted."""
    if painted is None:
        return None
    known = np.where(np.isin(painted, model.mapping.values), painted, 0)
    classes = np.moveaxis(model.mapping.to_classes(known), axis, 0)
    return propagation.carry_painted(stacked, classes, model.num_classes, reviewed)


def rank_slices(
    scores: np.ndarray, exclude: set[int] | frozenset[int] = frozenset(), first: Sequence[bool] | None = None
) -> list[int]:
    """Slice indices sorted from most to least uncertain, without ``exclude``; with
    ``first`` (a flag per slice), the flagged slices before the others, each in score order."""
    order = [int(i) for i in np.argsort(-np.asarray(scores), kind="stable") if int(i) not in exclude]
    if first is None:
        return order
    return [i for i in order if first[i]] + [i for i in order if not first[i]]


def put_changed_first(prediction: VolumePrediction, before: Mapping[int, np.ndarray], axis: int) -> None:
    """Mark in ``prediction`` the slices where a structure came or went since an earlier
    prediction of the scan (``before``: its ``structure_areas``) and rank them first, each
    part in score order; the scores stay the slices' own. Only worth it when the earlier
    prediction's model had been taught some of the scan: a model that never saw it
    changes its mind on most slices (docs/benchmarks.md, section 42)."""
    if prediction.slice_scores is None:
        return
    n_slices = prediction.labels.shape[axis]
    if any(len(areas) != n_slices for areas in before.values()):
        return  # another geometry: nothing to compare
    flipped = flipped_between(before, structure_areas(prediction.labels, axis), n_slices)
    prediction.changed = np.flatnonzero(flipped).tolist()
    prediction.ranking = rank_slices(prediction.slice_scores, first=flipped)
