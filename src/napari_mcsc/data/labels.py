"""Mapping between a user's label values (any integers) and contiguous classes 0..K-1."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


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

    @classmethod
    def from_label_volumes(cls, volumes: Iterable[np.ndarray], minimum_classes: int = 2) -> LabelMapping:
        """Collect the non-zero values found in ``volumes`` (background always included)."""
        found: set[int] = set()
        for volume in volumes:
            if volume is None:
                continue
            array = np.asarray(volume)
            if array.dtype.kind == "f":
                if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
                    raise ValueError("label volumes must hold integer values (found fractions or NaN)")
            if array.dtype.kind == "b":
                array = array.astype(np.uint8)
            found.update(int(v) for v in np.unique(array) if v != 0)
        if any(v < 0 for v in found):
            raise ValueError(f"label values must not be negative, found {sorted(v for v in found if v < 0)}")
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
        array = np.asarray(labels)
        lut_keys = np.asarray(self.values)
        flat = array.astype(np.int64).ravel()
        order = np.argsort(lut_keys)
        pos = np.searchsorted(lut_keys[order], flat)
        pos = np.clip(pos, 0, len(lut_keys) - 1)
        ok = lut_keys[order][pos] == flat
        if not ok.all():
            unknown = sorted(set(np.unique(flat[~ok]).tolist()))[:10]
            raise ValueError(f"label values {unknown} are not in the model's classes {list(self.values)}")
        return order[pos].reshape(array.shape).astype(np.int64)

    def to_values(self, classes: np.ndarray) -> np.ndarray:
        """Class indices -> label values, in the smallest unsigned/signed int type that fits."""
        lut = np.asarray(self.values)
        dtype = np.uint8 if lut.max() < 256 else (np.uint16 if lut.max() < 65536 else np.int32)
        return lut.astype(dtype)[np.asarray(classes)]

    def to_dict(self) -> dict:
        return {"values": list(self.values)}

    @classmethod
    def from_dict(cls, data: dict) -> LabelMapping:
        return cls(tuple(int(v) for v in data["values"]))
