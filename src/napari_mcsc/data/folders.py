"""Medical Segmentation Decathlon folders as training data and as images to predict.

Layout: ``imagesTr/<case>.nii.gz``, ``labelsTr/<case>.nii.gz``, ``dataset.json`` (class
names under ``labels``), optionally ``splits.json`` (its ``train`` list is the training
split, in the protocol's order; without it every case of ``imagesTr`` in name order) and
``imagesTs/``. Cases are read with ``benchmark.dataset`` (one reader for such folders).

Two ways to say what is labelled:

- ``labelled=K``: the first K training cases are fully labelled (every slice, empty ones
  included, is an annotation) and the others unlabelled: the semi-supervised protocol.
- ``labelled="painted"``: label files are sparse (a few painted slices, as the plugin
  saves them); a case without a label file is unlabelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from napari_mcsc.data.decathlon import class_names, load_split, read_case
from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.slices import AnnotatedVolume, AnnotationError
from napari_mcsc.io.volumes import expand_volume_paths, read_volume, volume_name

PAINTED = "painted"

T = TypeVar("T")


def _volumes_in(folder: Path) -> dict[str, Path]:
    """Case name -> path of the volumes in ``folder`` (hidden files such as macOS ``._x``
    copies, found in the Decathlon archives, are skipped)."""
    if not folder.is_dir():
        return {}
    try:
        paths = expand_volume_paths([folder])
    except FileNotFoundError:
        return {}
    return {volume_name(p): p for p in paths if not p.name.startswith(".")}


def is_dataset_folder(root: str | Path) -> bool:
    root = Path(root)
    return (root / "imagesTr").is_dir() or (root / "imagesTs").is_dir()


def training_cases(root: str | Path) -> list[str]:
    """The training split's case names, in order."""
    root = Path(root)
    if not (root / "imagesTr").is_dir():
        raise FileNotFoundError(
            f"{root} has no imagesTr folder: expected a Medical Segmentation "
            "Decathlon folder (imagesTr/, labelsTr/, dataset.json)"
        )
    if (root / "splits.json").is_file():
        return load_split(root, "train")
    cases = sorted(_volumes_in(root / "imagesTr"))
    if not cases:
        raise FileNotFoundError(f"{root / 'imagesTr'} holds no volume")
    return cases


@dataclass
class LazyVolumes(Generic[T]):
    """Cases read one at a time, each time the sequence is iterated: ``build_slice_set``
    then holds one native volume at a time instead of all of them."""

    cases: list[str]
    read: Callable[[str], T]

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[T]:
        return (self.read(case) for case in self.cases)


@dataclass
class FolderData:
    """What ``build_slice_set`` needs: annotated volumes, unlabelled images, the classes
    (lists, or :class:`LazyVolumes` read while the slice set is built)."""

    volumes: list[AnnotatedVolume] | LazyVolumes[AnnotatedVolume]
    unlabelled: list[np.ndarray] | LazyVolumes[np.ndarray]
    mapping: LabelMapping
    cases: list[str]


def read_training_data(
    root: str | Path, labelled: int | str, axis: int = 0, lazy: bool = False
) -> FolderData:
    """The training split of ``root`` with ``labelled`` cases (an int K or ``"painted"``);
    ``axis``: the slice axis (every slice along it of a fully labelled case is labelled).

    ``lazy``: volumes and unlabelled images are :class:`LazyVolumes`, read from disk when
    iterated (the classes come from a first pass over the label files alone), so that
    ``build_slice_set`` holds one native volume at a time; otherwise lists in memory. Both
    give the same slice set.
    """
    root = Path(root)
    cases = training_cases(root)
    label_files = _volumes_in(root / "labelsTr")
    labels_present = set(label_files)
    if labelled == PAINTED:
        with_labels = [c for c in cases if c in labels_present]
    else:
        k = int(labelled)
        if not 1 <= k <= len(cases):
            raise AnnotationError(
                f"--labelled {k}: the training split of {root} has {len(cases)} "
                f"cases; give a number from 1 to {len(cases)}"
            )
        with_labels = cases[:k]
        missing = [c for c in with_labels if c not in labels_present]
        if missing:
            raise FileNotFoundError(f"no label file in {root / 'labelsTr'} for case(s) {missing[:3]}")
    if not with_labels:
        raise AnnotationError(
            f"no label file in {root / 'labelsTr'} for any training case: paint "
            "some slices, or use --labelled K for fully labelled cases"
        )
    images = _volumes_in(root / "imagesTr")
    chosen = set(with_labels)
    without_labels = [c for c in cases if c not in chosen]
    for case in without_labels:
        if case not in images:
            raise FileNotFoundError(f"case {case!r} of the split has no image in {root / 'imagesTr'}")

    def annotated(case: str) -> AnnotatedVolume:
        c = read_case(root, case)
        reviewed = range(c.image.shape[axis]) if labelled != PAINTED and c.image.ndim == 3 else ()
        return AnnotatedVolume(c.image, c.labels, reviewed=reviewed, name=case)

    def image_only(case: str) -> np.ndarray:
        return read_volume(images[case]).array.astype(np.float32)

    volumes = LazyVolumes(list(with_labels), annotated)
    unlabelled = LazyVolumes(without_labels, image_only)
    if lazy:
        # the classes from the label files alone (not the images), one at a time
        labels = LazyVolumes(
            volumes.cases, lambda case: read_volume(label_files[case]).array.astype(np.int64)
        )
    else:
        volumes, unlabelled = list(volumes), list(unlabelled)
        labels = [v.labels for v in volumes]
    found = LabelMapping.from_label_volumes(labels)
    try:
        named = sorted(v for v in class_names(root) if v != 0)
    except (ValueError, TypeError, AttributeError):  # nnU-Net v2 style {"name": value}: use the files'
        named = []
    mapping = LabelMapping((0, *named)).merged(found) if named else found
    return FolderData(volumes, unlabelled, mapping, cases)


def images_to_predict(value: str) -> list[Path]:
    """The images that ``predict --data VALUE`` segments: a Decathlon folder's imagesTs
    (or imagesTr when it has none), or the volumes of any folder or glob."""
    root = Path(value)
    if root.is_dir() and is_dataset_folder(root):
        for folder in ("imagesTs", "imagesTr"):
            found = _volumes_in(root / folder)
            if found:
                return list(found.values())
        raise FileNotFoundError(f"{value}: imagesTs and imagesTr hold no volume")
    return [p for p in expand_volume_paths([value]) if not p.name.startswith(".")]


def scans_of(values) -> list[Path]:
    """Every scan the paths a user gives stand for (files, DICOM folders, folders of
    volumes, patterns), a Decathlon folder standing for its imagesTr then imagesTs."""
    found: list[Path] = []
    for value in values:
        root = Path(value)
        if root.is_dir() and is_dataset_folder(root):
            paths = [p for folder in ("imagesTr", "imagesTs") for p in _volumes_in(root / folder).values()]
            if not paths:
                raise FileNotFoundError(f"{value}: imagesTr and imagesTs hold no volume")
        else:
            paths = [p for p in expand_volume_paths([value]) if not p.name.startswith(".")]
        found.extend(p for p in paths if p not in found)
    return found
