"""Volumes with sparse annotations -> 2D training slices, labelled and unlabelled.

A slice (along ``axis``) is labelled when it holds any non-zero label, or when the user
marked it reviewed (an all-background slice is a valid annotation). Every other slice of
every volume, and every slice of extra unlabelled volumes, is unlabelled. Slices are
normalised per volume and resized once to the network's input size, so each training
iteration only does cheap tensor work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation, normalise_volume


class AnnotationError(ValueError):
    """The annotations cannot be trained on (none painted, shapes differ, ...)."""


@dataclass
class AnnotatedVolume:
    """One image volume, its sparse label volume (or None) and the reviewed slices."""

    image: np.ndarray
    labels: np.ndarray | None = None
    reviewed: Sequence[int] = ()
    name: str = "volume"

    def __post_init__(self) -> None:
        if self.image.ndim != 3:
            raise AnnotationError(
                f"{self.name}: expected a 3D image, got shape {self.image.shape}; "
                "2D images and multi-channel volumes are not supported"
            )
        if self.labels is not None and self.labels.shape != self.image.shape:
            raise AnnotationError(
                f"{self.name}: labels shape {self.labels.shape} differs from image shape "
                f"{self.image.shape}; paint on a Labels layer of the image's shape"
            )

    def labelled_slices(self, axis: int) -> list[int]:
        """Indices along ``axis`` of painted or reviewed slices, sorted."""
        if self.labels is None:
            return []
        other = tuple(i for i in range(3) if i != axis)
        painted = np.flatnonzero(np.any(np.asarray(self.labels) != 0, axis=other)).tolist()
        n = self.image.shape[axis]
        for index in self.reviewed:
            if not 0 <= int(index) < n:
                raise AnnotationError(f"{self.name}: reviewed slice {index} is outside 0..{n - 1}")
        return sorted(set(painted) | {int(i) for i in self.reviewed})


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

    @property
    def num_labelled(self) -> int:
        return int(self.labelled_images.shape[0])

    @property
    def num_unlabelled(self) -> int:
        return int(self.unlabelled_images.shape[0])


def resize_slices(slices: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """(N, H, W) -> (N, size, size); ``mode`` 'nearest' or 'bilinear' (images only)."""
    if tuple(slices.shape[-2:]) == (size, size):
        return slices
    x = slices[:, None].float()
    if mode == "nearest":
        out = F.interpolate(x, size=(size, size), mode="nearest")
    else:
        out = F.interpolate(x, size=(size, size), mode=mode, align_corners=False, antialias=True)
    return out[:, 0]


def build_slice_set(
    volumes: Sequence[AnnotatedVolume],
    *,
    axis: int = 0,
    image_size: int,
    normalisation: Normalisation | None = None,
    image_interpolation: str = "bilinear",
    mapping: LabelMapping | None = None,
    unlabelled: Sequence[np.ndarray] = (),
) -> SliceSet:
    """Split ``volumes`` (and extra ``unlabelled`` images) into labelled/unlabelled slices."""
    if not volumes:
        raise AnnotationError("no image to train on: give at least one image with its labels")
    if axis not in (0, 1, 2):
        raise AnnotationError(f"slice axis must be 0, 1 or 2, got {axis}")
    norm = normalisation or Normalisation()
    if mapping is None:
        mapping = LabelMapping.from_label_volumes(v.labels for v in volumes)
    lab_images, lab_targets, unlab_images, sources, normalised = [], [], [], [], []
    for vol_index, volume in enumerate(volumes):
        image = np.moveaxis(normalise_volume(volume.image, norm), axis, 0)
        normalised.append(image)
        labelled = volume.labelled_slices(axis)
        if labelled:
            classes = np.moveaxis(mapping.to_classes(volume.labels), axis, 0)
            lab_images.append(torch.from_numpy(image[labelled]))
            lab_targets.append(torch.from_numpy(classes[labelled]))
            sources.extend((vol_index, s) for s in labelled)
        rest = sorted(set(range(image.shape[0])) - set(labelled))
        if rest:
            unlab_images.append(torch.from_numpy(image[rest]))
    for extra in unlabelled:
        extra = np.asarray(extra)
        if extra.ndim != 3:
            raise AnnotationError(f"unlabelled images must be 3D, got shape {extra.shape}")
        unlab_images.append(torch.from_numpy(np.moveaxis(normalise_volume(extra, norm), axis, 0)))
    if not lab_images:
        raise AnnotationError(
            "no painted slice: paint at least one slice of the Labels layer "
            "(or mark an all-background slice as reviewed) before training"
        )
    size = image_size
    return SliceSet(
        labelled_images=torch.cat([resize_slices(t, size, image_interpolation) for t in lab_images]),
        labelled_targets=torch.cat([resize_slices(t, size, "nearest").long() for t in lab_targets]),
        unlabelled_images=(
            torch.cat([resize_slices(t, size, image_interpolation) for t in unlab_images])
            if unlab_images
            else torch.zeros((0, size, size))
        ),
        mapping=mapping,
        normalisation=norm,
        axis=axis,
        image_size=size,
        labelled_sources=sources,
        volumes=normalised,
    )
