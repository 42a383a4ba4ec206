"""Read a Medical Segmentation Decathlon-style folder with a ``splits.json``.

Layout: ``imagesTr/<case>.nii.gz``, ``labelsTr/<case>.nii.gz`` and ``splits.json``
mapping split names (``train``, ``val``, ``test``) to case lists, as in ACDC's
SSL4MIS preparation. Images for a ``test`` split may live in ``imagesTs``/``labelsTs``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_mcsc.io.formats import SUPPORTED_EXTENSIONS
from napari_mcsc.io.geometry import Geometry
from napari_mcsc.io.volumes import read_volume


@dataclass
class Case:
    """One volume with its full ground truth."""

    name: str
    image: np.ndarray
    labels: np.ndarray
    geometry: Geometry


def load_split(data_dir: str | Path, split: str) -> list[str]:
    """Case names of ``split`` in the file's order (the protocol's order)."""
    root = Path(data_dir)
    splits_file = root / "splits.json"
    if not splits_file.is_file():
        raise FileNotFoundError(f"no splits.json in {root}: expected a MSD-style folder with one")
    splits = json.loads(splits_file.read_text())
    if split not in splits:
        raise ValueError(f"split {split!r} not in {splits_file} (it has {sorted(splits)})")
    return list(splits[split])


def select_cases(
    data_dir: str | Path,
    split: str,
    *,
    every: int = 1,
    offset: int = 0,
    limit: int | None = None,
    cases: Sequence[str] | None = None,
) -> list[str]:
    """Every ``every``-th case of ``split`` from ``offset`` on, at most ``limit`` of them;
    with ``cases``, only those (in the split's order; each must be in the split)."""
    names = load_split(data_dir, split)
    if cases:
        unknown = sorted(set(cases) - set(names))
        if unknown:
            raise ValueError(f"not in the {split} split: {', '.join(unknown)} (names as in splits.json)")
        names = [n for n in names if n in set(cases)]
    names = names[offset::every]
    return names[:limit] if limit else names


def _find(root: Path, folders: tuple[str, ...], name: str) -> Path:
    for folder in folders:
        for ext in SUPPORTED_EXTENSIONS:  # .nii.gz first, as MSD folders hold them
            path = root / folder / f"{name}{ext}"
            if path.is_file():
                return path
    raise FileNotFoundError(f"case {name!r} not found under {root} ({', '.join(folders)})")


def case_image_path(data_dir: str | Path, name: str) -> Path:
    """The image file of case ``name`` (FileNotFoundError, naming it, when absent)."""
    return _find(Path(data_dir), ("imagesTr", "imagesTs", "imagesVal"), name)


def read_case(data_dir: str | Path, name: str) -> Case:
    root = Path(data_dir)
    image = read_volume(_find(root, ("imagesTr", "imagesTs", "imagesVal"), name))
    labels = read_volume(_find(root, ("labelsTr", "labelsTs", "labelsVal"), name))
    if image.array.shape != labels.array.shape:
        raise ValueError(f"{name}: image {image.array.shape} and labels {labels.array.shape} differ")
    return Case(name, image.array.astype(np.float32), labels.array.astype(np.int64), image.geometry)


def class_names(data_dir: str | Path) -> dict[int, str]:
    """Label names from ``dataset.json`` when present."""
    path = Path(data_dir) / "dataset.json"
    if not path.is_file():
        return {}
    labels = json.loads(path.read_text()).get("labels", {})
    return {int(k): str(v) for k, v in labels.items()}
