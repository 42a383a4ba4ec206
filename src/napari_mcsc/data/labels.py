"""Mapping between a user's label values (any integers) and contiguous classes 0..K-1."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: The largest label value a class mapping holds (label arithmetic is done in int64).
MAX_LABEL_VALUE = int(np.iinfo(np.int64).max)


class AnnotationError(ValueError):
    """The annotations cannot be trained on (none painted, shapes differ, bad values...)."""


def check_label_array(labels: np.ndarray, where: str = "label volume") -> np.ndarray:
    """Return ``labels`` as an integer array, or raise :class:`AnnotationError` saying why not.

    Labels must be whole numbers from 0 to :data:`MAX_LABEL_VALUE`; booleans become uint8
    and float arrays holding whole numbers (as some tools save masks) become int64.
    ``where`` names the volume or file in the message.
    """
    array = np.asarray(labels)
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(np.uint8)
    if kind not in "iuf":
        raise AnnotationError(
            f"{where}: labels must be whole numbers, got values of type {array.dtype}; "
            "save the label map as an integer image"
        )
    if array.size == 0:
        return array.astype(np.int64) if kind == "f" else array
    if kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            raise AnnotationError(
                f"{where}: label volumes must hold integer values (found NaN or infinity in "
                f"{int((~finite).sum())} voxels); is this an image rather than a label map?"
            )
        if not np.array_equal(array, np.round(array)):
            raise AnnotationError(
                f"{where}: label volumes must hold integer values (found fractions such as "
                f"{array[array != np.round(array)].flat[0]:g}); is this an image rather than "
                "a label map?"
            )
    low, high = array.min(), array.max()
    if low < 0:
        negative = np.unique(array[array < 0])[:5]
        raise AnnotationError(
            f"{where}: label values must not be negative, found {[_whole(v) for v in negative]}; "
            "0 is background and classes are 1, 2, ..."
        )
    if high > MAX_LABEL_VALUE:
        raise AnnotationError(f"{where}: label value {_whole(high)} is too large (at most {MAX_LABEL_VALUE})")
    return array.astype(np.int64) if kind == "f" else array


def _whole(value) -> int | float:
    value = float(value) if np.asarray(value).dtype.kind == "f" else int(value)
    return int(value) if isinstance(value, float) and value.is_integer() else value


@dataclass(frozen=True)
class LabelMapping:
    """Label values in class order; class 0 is always the background value 0.

    Users paint with whatever values their tool gave them (e.g. 1, 2, 5 or 205, 500);
    networks need classes 0..K-1. ``values[c]`` is the label value of class ``c``.
    """

    values: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.values or self.values[0] != 0:
            raise ValueError("a label mapping must start with the background value 0")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"label values must be distinct, got {self.values}")
        if not all(0 <= v <= MAX_LABEL_VALUE for v in self.values):
            raise ValueError(f"label values must be between 0 and {MAX_LABEL_VALUE}, got {self.values}")

    @classmethod
    def from_label_volumes(cls, volumes: Iterable[np.ndarray], minimum_classes: int = 2) -> LabelMapping:
        """Collect the non-zero values found in ``volumes`` (background always included)."""
        found: set[int] = set()
        for volume in volumes:
            if volume is None:
                continue
            array = check_label_array(volume)
            found.update(int(v) for v in np.unique(array) if v != 0)
        values = (0, *sorted(found))
        while len(values) < minimum_classes:  # a binary task needs a foreground class even if unseen
            values = (*values, max(values) + 1)
        return cls(values)

    def merged(self, other: LabelMapping) -> LabelMapping:
        """These values in their order, then the values only ``other`` has (a warm start
        keeps the old classes where they were and appends new ones)."""
        return LabelMapping((*self.values, *(v for v in other.values if v not in self.values)))

    @property
    def num_classes(self) -> int:
        return len(self.values)

    def to_classes(self, labels: np.ndarray) -> np.ndarray:
        """Label values -> class indices (int64); unknown values raise ValueError."""
        array = check_label_array(labels, "labels")
        lut_keys = np.asarray(self.values, dtype=np.int64)
        flat = array.astype(np.int64).ravel()
        order = np.argsort(lut_keys)
        pos = np.searchsorted(lut_keys[order], flat)
        pos = np.clip(pos, 0, len(lut_keys) - 1)
        ok = lut_keys[order][pos] == flat
        if not ok.all():
            unknown = sorted(set(np.unique(flat[~ok]).tolist()))[:10]
            raise AnnotationError(
                f"label values {unknown} are not in the model's classes {list(self.values)}"
            )
        return order[pos].reshape(array.shape).astype(np.int64)

    def to_values(self, classes: np.ndarray) -> np.ndarray:
        """Class indices -> label values, in the smallest unsigned/signed int type that fits."""
        top = max(self.values)
        dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.int64) if top <= np.iinfo(t).max)
        return np.asarray(self.values, dtype=dtype)[np.asarray(classes)]

    def to_dict(self) -> dict:
        return {"values": list(self.values)}

    @classmethod
    def from_dict(cls, data: dict) -> LabelMapping:
        return cls(tuple(int(v) for v in data["values"]))
