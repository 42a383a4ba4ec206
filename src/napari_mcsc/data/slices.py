"""Volumes with sparse annotations -> 2D training slices, labelled and unlabelled.

A slice (along ``axis``) is labelled when it holds any non-zero label, or when the user
marked it reviewed (an all-background slice is a valid annotation). Every other slice of
every volume, and every slice of extra unlabelled volumes, is unlabelled. Slices are
normalised per volume and resized once to the network's input size, so each training
iteration only does cheap tensor work.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from napari_mcsc.data.context import context_stack
from napari_mcsc.data.field_of_view import Box, field_share, painted_box, tile_boxes, whole_slice
from napari_mcsc.data.labels import AnnotationError, LabelMapping, check_label_array
from napari_mcsc.data.normalise import Normalisation, normalise_volume

FAR = 1_000_000  # the distance of a slice of a volume with nothing painted

__all__ = [
    "AnnotatedVolume",
    "AnnotationError",
    "SliceSet",
    "build_slice_set",
    "check_image_array",
    "image_content_problem",
    "resize_slices",
]


def check_image_array(image: np.ndarray, where: str) -> np.ndarray:
    """``image`` as a 3-D real-valued array, or :class:`AnnotationError` saying why not."""
    array = np.asarray(image)
    if array.dtype.kind not in "biuf":
        raise AnnotationError(f"{where}: image voxels must be numbers, got values of type {array.dtype}")
    if array.ndim != 3:
        raise AnnotationError(
            f"{where}: expected a 3D image, got shape {array.shape}; "
            "2D images and multi-channel volumes are not supported"
        )
    if 0 in array.shape:
        raise AnnotationError(f"{where}: the image is empty (shape {array.shape})")
    return array


def image_content_problem(image: np.ndarray) -> str | None:
    """Say why nothing can be learnt from ``image`` (all NaN, constant), or None."""
    array = np.asarray(image)
    if array.size == 0:
        return None
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.any():
            return "the image holds no finite value (all voxels are NaN or infinite)"
        low, high = array[finite].min(), array[finite].max()
    else:
        low, high = array.min(), array.max()
    if low == high:
        return f"the image is constant (every voxel is {low.item():g})"
    return None


def _warn_if_blank(image: np.ndarray, where: str) -> None:
    problem = image_content_problem(image)
    if problem:
        warnings.warn(
            f"{where}: {problem}; it will train as a blank image. Check that it is the right "
            "file and that it was read correctly.",
            UserWarning,
            stacklevel=3,
        )


@dataclass
class AnnotatedVolume:
    """One image volume, its sparse label volume (or None) and the reviewed slices."""

    image: np.ndarray
    labels: np.ndarray | None = None
    reviewed: Sequence[int] = ()
    name: str = "volume"

    def __post_init__(self) -> None:
        self.image = check_image_array(self.image, self.name)
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != self.image.shape:
                raise AnnotationError(
                    f"{self.name}: labels shape {labels.shape} differs from image shape "
                    f"{self.image.shape}; paint on a Labels layer of the image's shape"
                )
            self.labels = check_label_array(labels, f"{self.name}: labels")
        _warn_if_blank(self.image, self.name)

    def labelled_slices(self, axis: int) -> list[int]:
        """Indices along ``axis`` of painted or reviewed slices, sorted."""
        if self.labels is None:
            return []
        return labelled_slice_indices(self.labels, self.reviewed, axis, self.name)


def labelled_slice_indices(labels, reviewed: Sequence[int], axis: int, name: str = "labels") -> list[int]:
    """Indices along ``axis`` of the slices of ``labels`` that hold a painted voxel, plus the
    ``reviewed`` ones, sorted. A reviewed index outside the volume is an AnnotationError."""
    other = tuple(i for i in range(3) if i != axis)
    painted = np.flatnonzero(np.any(np.asarray(labels) != 0, axis=other)).tolist()
    n = np.shape(labels)[axis]
    for index in reviewed:
        if not 0 <= int(index) < n:
            raise AnnotationError(f"{name}: reviewed slice {index} is outside 0..{n - 1}")
    return sorted(set(painted) | {int(i) for i in reviewed})


@dataclass
class SliceSet:
    """Training slices at the network's input size, as CPU tensors.

    ``labelled_images`` (L, S, S) float32, ``labelled_targets`` (L, S, S) int64 classes,
    ``unlabelled_images`` (U, S, S); ``sources`` say where each labelled slice came from.
    """

    labelled_images: torch.Tensor
    labelled_targets: torch.Tensor
    unlabelled_images: torch.Tensor
    mapping: LabelMapping
    normalisation: Normalisation
    axis: int
    image_size: int
    labelled_sources: list[tuple[int, int]] = field(default_factory=list)
    volumes: list[np.ndarray] = field(default_factory=list, repr=False)
    # Each unlabelled slice's distance (in slices) to the nearest painted slice of its
    # volume; FAR for slices of volumes without any painted slice (U,).
    unlabelled_distance: torch.Tensor | None = field(default=None, repr=False)
    # The true classes of the unlabelled slices (U, S, S), where a benchmark knows them:
    # only to measure the targets the networks teach each other, never to train.
    unlabelled_truth: torch.Tensor | None = field(default=None, repr=False)
    # The part of each annotated volume's slices the networks see (data/field_of_view.py),
    # and the mean share of a slice it covers (None: whole slices); volumes without
    # painting (the extra unlabelled ones) are seen in tiles of that share.
    boxes: list[Box] = field(default_factory=list, repr=False)
    field_share: float | None = None

    @property
    def num_labelled(self) -> int:
        return int(self.labelled_images.shape[0])

    @property
    def num_unlabelled(self) -> int:
        return int(self.unlabelled_images.shape[0])


def resize_slices(slices: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """(N, H, W) -> (N, size, size), or (N, C, H, W) -> (N, C, size, size) (slices with
    their context); ``mode`` 'nearest' or 'bilinear' (images only)."""
    if tuple(slices.shape[-2:]) == (size, size):
        return slices
    x = slices[:, None].float() if slices.ndim == 3 else slices.float()
    if mode == "nearest":
        out = F.interpolate(x, size=(size, size), mode="nearest")
    else:
        out = F.interpolate(x, size=(size, size), mode=mode, align_corners=False, antialias=True)
    return out[:, 0] if slices.ndim == 3 else out


def build_slice_set(
    volumes: Iterable[AnnotatedVolume],
    *,
    axis: int = 0,
    image_size: int,
    normalisation: Normalisation | None = None,
    image_interpolation: str = "bilinear",
    mapping: LabelMapping | None = None,
    unlabelled: Iterable[np.ndarray] = (),
    keep_volumes: bool = True,
    crop_margin: float | None = None,
    context: int = 1,
) -> SliceSet:
    """Split ``volumes`` (and extra ``unlabelled`` images) into labelled/unlabelled slices.

    Both are consumed one volume at a time, in order, and each volume's slices are resized
    to ``image_size`` before the next is read: given generators (or lazy sequences such as
    :class:`napari_mcsc.data.folders.LazyVolumes`), memory holds the resized slices plus one
    native volume, not every volume. A generator cannot be read twice, so give ``mapping``
    with one (without it, ``volumes`` is read into a list first to collect the label values).
    ``keep_volumes=False`` leaves ``SliceSet.volumes`` (the normalised native volumes, which
    only the training preview reads) empty. ``crop_margin``: each painted volume's slices are
    cut to the square around its painted structures grown by this share (``painted_box``)
    and the extra unlabelled images are cut into tiles of the mean share; None: whole slices.
    ``context`` 3 or 5: each image slice comes with its neighbours as channels (N, C, S, S;
    ``data.context``); targets stay one per slice.
    """
    if isinstance(volumes, Sized) and not len(volumes):
        raise AnnotationError("no image to train on: give at least one image with its labels")
    if axis not in (0, 1, 2):
        raise AnnotationError(f"slice axis must be 0, 1 or 2, got {axis}")
    norm = normalisation or Normalisation()
    if mapping is None:
        volumes = list(volumes)
        mapping = LabelMapping.from_label_volumes(v.labels for v in volumes)
    size = image_size
    lab_images, lab_targets, unlab_images, sources, normalised = [], [], [], [], []
    distances: list[int] = []
    boxes: list[Box] = []
    shapes: list[tuple[int, int]] = []
    # No enumerate(): its reused result tuple would keep the previous volume alive while
    # the next one is read.
    count = 0
    for volume in volumes:
        vol_index, count = count, count + 1
        image = np.moveaxis(normalise_volume(volume.image, norm), axis, 0)
        if keep_volumes:
            normalised.append(image)
        labelled = volume.labelled_slices(axis)
        box = whole_slice(image.shape[1:])
        if labelled:
            classes = np.moveaxis(mapping.to_classes(volume.labels), axis, 0)
            if crop_margin is not None:
                box = painted_box(classes[labelled] != 0, crop_margin) or box
            lab_images.append(
                _resized(box.cut(_with_context(image, labelled, context)), size, image_interpolation)
            )
            lab_targets.append(_resized(box.cut(classes[labelled]), size, "nearest").long())
            sources.extend((vol_index, s) for s in labelled)
            del classes
        boxes.append(box)
        shapes.append(image.shape[1:])
        rest = sorted(set(range(image.shape[0])) - set(labelled))
        if rest:
            unlab_images.append(
                _resized(box.cut(_with_context(image, rest, context)), size, image_interpolation)
            )
            distances.extend(min((abs(r - p) for p in labelled), default=FAR) for r in rest)
        del volume, image  # before the next volume is read: one native volume at a time
    if not count:
        raise AnnotationError("no image to train on: give at least one image with its labels")
    share = field_share(boxes, shapes)
    number = 0
    for extra in unlabelled:
        number += 1  # noqa: SIM113 (not enumerate(): see above)
        extra = check_image_array(extra, f"unlabelled image {number}")
        _warn_if_blank(extra, f"unlabelled image {number}")
        image = np.moveaxis(normalise_volume(extra, norm), axis, 0)
        stack = _with_context(image, range(image.shape[0]), context)
        for view in _views(stack, share):
            unlab_images.append(_resized(view, size, image_interpolation))
            distances.extend([FAR] * view.shape[0])
        del extra, image
    if not lab_images:
        raise AnnotationError(
            "no painted slice: paint at least one slice of the Labels layer "
            "(or mark an all-background slice as reviewed) before training"
        )
    return SliceSet(
        labelled_images=torch.cat(lab_images),
        labelled_targets=torch.cat(lab_targets),
        unlabelled_images=torch.cat(unlab_images) if unlab_images else torch.zeros(_empty(size, context)),
        mapping=mapping,
        normalisation=norm,
        axis=axis,
        image_size=size,
        labelled_sources=sources,
        volumes=normalised,
        boxes=boxes,
        field_share=share,
        unlabelled_distance=torch.tensor(distances, dtype=torch.long),
    )


def unlabelled_truth(
    volumes: Sequence[AnnotatedVolume],
    truths: Sequence[np.ndarray],
    extra_truths: Iterable[np.ndarray],
    data: SliceSet,
) -> torch.Tensor:
    """The true classes of ``data``'s unlabelled slices, in its order (and cut as its
    slices were): the unpainted slices of ``volumes`` (whose whole truths are ``truths``),
    then every slice of the extra unlabelled volumes whose truths are ``extra_truths``. For
    benchmarks that measure pseudo-labels; a value ``data.mapping`` does not know is
    background."""
    parts = []
    mapping, axis, size = data.mapping, data.axis, data.image_size

    def classes_of(labels: np.ndarray) -> np.ndarray:
        known = np.isin(labels, mapping.values)
        return np.moveaxis(mapping.to_classes(np.where(known, labels, 0)), axis, 0)

    for volume, truth, box in zip(volumes, truths, data.boxes, strict=True):
        rest = sorted(set(range(volume.image.shape[axis])) - set(volume.labelled_slices(axis)))
        if rest:
            parts.append(box.cut(classes_of(np.asarray(truth))[rest]))
    for truth in extra_truths:
        parts.extend(_views(classes_of(np.asarray(truth)), data.field_share))
    if not parts:
        return torch.zeros((0, size, size), dtype=torch.long)
    return torch.cat([_resized(p, size, "nearest").long() for p in parts])


def _resized(stack: np.ndarray, size: int, mode: str) -> torch.Tensor:
    """A (N, H, W) (or (N, C, H, W)) numpy stack at ``size`` as a tensor."""
    tensor = torch.from_numpy(np.ascontiguousarray(stack))
    if tensor.ndim == 4:
        n, c = tensor.shape[:2]
        return resize_slices(tensor.reshape(n * c, *tensor.shape[2:]), size, mode).reshape(n, c, size, size)
    return resize_slices(tensor, size, mode)


def _with_context(image: np.ndarray, indices, context: int) -> np.ndarray:
    """Slices ``indices`` of ``image`` (Z, H, W): (N, H, W), or (N, C, H, W) with context."""
    indices = list(indices)
    return image[indices] if context == 1 else context_stack(image, indices, context)


def _empty(size: int, context: int) -> tuple[int, ...]:
    return (0, size, size) if context == 1 else (0, context, size, size)


def _views(stack: np.ndarray, share: float | None) -> list[np.ndarray]:
    """A volume without painting as the networks see it: whole slices, or tiles of
    ``share`` of the slice (``tile_boxes``)."""
    if share is None:
        return [stack]
    return [box.cut(stack) for box in tile_boxes(stack.shape[-2:], share)]
