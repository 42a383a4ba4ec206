"""Painted slices carried to the rest of their scan by slice-to-slice registration.

The networks see one slice at a time: with two painted slices they extrapolate over most
of the scan, worst beyond the outermost painted slices (docs/benchmarks.md, section 31).
The scan itself says how a structure moves and changes from one slice to the next.
Registering each slice to its neighbour carries the painted labels one slice at a time:
SimpleITK's symmetric-forces demons, a smooth deformation.

- Beyond the outermost painted slices, the carrying starts from the nearest painted slice.
- Between two painted slices, each carries its labels to the midpoint.
- A slice the user marked reviewed as empty (annotated in full: all background) stops
  the carrying: nothing painted is carried onto it or past it.

The carried labels are a second opinion, not the answer: ``fuse`` mixes them into the
networks' class probabilities with weight ``WEIGHT``. Where the network is sure, it wins.
Where it hesitates, the carried labels decide (docs/benchmarks.md, section 32).

Registering is most of the cost (a quarter to half a second a slice), and a scan is
predicted again after every round of training with only its painted slices changed: the
deformations between neighbouring slices are kept (``REGISTRATIONS``), so a scan's slice
pairs are registered once.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk
import torch

from napari_mcsc.data.normalise import Normalisation, normalise_volume

#: The carried labels' share of the fused class probabilities. The network overrules a
#: carried label only where it gives another class WEIGHT / (1 - WEIGHT) (0.67) more
#: probability than the carried class. Chosen on the train split (docs/benchmarks.md,
#: section 32); 0 turns the carrying off.
WEIGHT = 0.4

#: The demons registration: iterations and the smoothing of its displacement field (in
#: pixels of the registered image).
_ITERATIONS = 60
_SMOOTHING = 1.5

#: Slices larger than this (pixels along their longer side) are registered shrunk by a
#: whole factor: the deformation is smooth and the cost grows with the pixel count.
_MAX_SIDE = 256

#: Each slice is registered as its own 1st-99th percentiles mapped to [0, 1].
_PER_SLICE = Normalisation(percentiles=(1.0, 99.0))

#: Carried probabilities are kept as bytes (a fraction of 255) to hold a whole scan.
_SCALE = 255

#: The memory the kept deformations may take (bytes), over all scans: a scan of 88 slices
#: of 200 x 140 needs about 80 MB with both directions registered, one of 300 slices of
#: 512 x 512 (registered at 256 x 256) about 630 MB, so it keeps what fits of it.
CACHE_BYTES = 512 * 2**20


class Registrations:
    """The deformations between neighbouring slices of the scans carried last, so that
    carrying a scan's painted slices again (after another round of training, or with more
    slices painted) registers no slice pair twice. Scans are told apart by their content;
    the least recently carried scans are forgotten first, and a pair that does not fit in
    ``limit`` bytes is registered again when needed. Safe to use from several threads."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit = int(limit)
        self.registered = 0  # slice pairs registered, for benchmarks and tests
        self._scans: OrderedDict[str, dict[tuple[int, int], sitk.Image]] = OrderedDict()
        self._bytes: dict[str, int] = {}
        self._lock = threading.Lock()

    def transform(self, scan: str, planes: list[np.ndarray], fixed: int, moving: int) -> sitk.Transform:
        """The deformation of slice ``moving`` onto slice ``fixed`` of ``scan``
        (``fingerprint``) whose normalised slices are ``planes``."""
        key = (fixed, moving)
        with self._lock:
            field = self._scans.get(scan, {}).get(key)
            if field is not None:
                self._scans.move_to_end(scan)
        if field is None:
            field = _register(planes[fixed], planes[moving])
            with self._lock:
                self.registered += 1
                self._keep(scan, key, field)
        # the transform takes over the image it is made from: it gets a copy
        return sitk.DisplacementFieldTransform(sitk.Image(field))

    def clear(self) -> None:
        """Forget every kept deformation."""
        with self._lock:
            self._scans.clear()
            self._bytes.clear()

    def _keep(self, scan: str, key: tuple[int, int], field: sitk.Image) -> None:
        size = field.GetNumberOfPixels() * field.GetNumberOfComponentsPerPixel() * 8
        others = [s for s in self._scans if s != scan]
        while others and sum(self._bytes.values()) + size > self.limit:
            oldest = others.pop(0)
            del self._scans[oldest], self._bytes[oldest]
        if sum(self._bytes.values()) + size > self.limit:
            return
        self._scans.setdefault(scan, {})[key] = field
        self._bytes[scan] = self._bytes.get(scan, 0) + size
        self._scans.move_to_end(scan)


#: The deformations ``carry_painted`` keeps between calls.
REGISTRATIONS = Registrations()


def fingerprint(images: np.ndarray) -> str:
    """A name for a scan's slices that changes whenever their shape or any value does."""
    data = np.ascontiguousarray(images, dtype=np.float32)
    digest = hashlib.blake2b(data.tobytes(), digest_size=16)
    digest.update(repr(data.shape).encode())
    return digest.hexdigest()


def carry_painted(
    images: np.ndarray, painted: np.ndarray, num_classes: int, reviewed: Sequence[int] = ()
) -> np.ndarray | None:
    """Class probabilities (N, K, H, W, uint8, a fraction of 255) carried from the painted
    slices of ``painted`` (N, H, W: class indices, the slices with any non-zero value
    count as painted) to every slice of ``images`` (N, H, W, one scan's slices in order).
    Painted slices hold their own labels. ``reviewed``: slices the user marked complete;
    one reviewed as empty holds background, and no painting is carried past it: where
    the structures end the networks decide, up to that slice (a structure tapers towards
    the apex, but the heart's base ends at once, so its background carried half way back
    to the painted slice lost on the train split; docs/benchmarks.md, section 38). None
    when nothing is painted."""
    images = np.asarray(images, dtype=np.float32)
    painted = np.asarray(painted)
    if images.shape != painted.shape or images.ndim != 3:
        raise ValueError(f"images {images.shape} and painted {painted.shape} must be the same (N, H, W)")
    anchors = [int(i) for i in np.flatnonzero(painted.reshape(len(painted), -1).any(axis=1))]
    if not anchors:
        return None
    walls = {int(i) for i in reviewed if 0 <= int(i) < len(painted)} - set(anchors)
    planes = [normalise_volume(plane, _PER_SLICE) for plane in images]  # each slice once
    scan = fingerprint(images)
    carried = np.zeros((len(images), num_classes, *images.shape[1:]), dtype=np.uint8)
    for anchor in [*anchors, *walls]:
        carried[anchor] = _one_hot(painted[anchor], num_classes)
    for anchor, walk in _walks(anchors, len(images)):
        current = carried[anchor].astype(np.float32) / _SCALE
        before = anchor
        for index in walk:
            if index in walls:
                break
            transform = REGISTRATIONS.transform(scan, planes, fixed=index, moving=before)
            current = _deform(current, transform, reference=planes[index])
            carried[index] = np.round(current * _SCALE).astype(np.uint8)
            before = index
    return carried


def fuse(probabilities: torch.Tensor, carried: np.ndarray, weight: float = WEIGHT) -> torch.Tensor:
    """``probabilities`` (n, K, H, W) mixed with ``carried`` (``carry_painted``'s bytes for
    the same slices): (1 - weight) * probabilities + weight * carried."""
    prior = torch.from_numpy(carried).to(probabilities.device, probabilities.dtype) / _SCALE
    return (1.0 - weight) * probabilities + weight * prior


def _walks(anchors: list[int], n: int) -> list[tuple[int, range]]:
    """(painted slice, the slices it carries to, in order): outward from the outermost
    painted slices, and from each side of a gap between painted slices to its midpoint
    (the lower one takes the middle slice of an odd gap)."""
    walks = [(anchors[0], range(anchors[0] - 1, -1, -1)), (anchors[-1], range(anchors[-1] + 1, n))]
    for low, high in itertools.pairwise(anchors):
        middle = (low + high) // 2
        walks += [(low, range(low + 1, middle + 1)), (high, range(high - 1, middle, -1))]
    return walks


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    values = np.clip(labels.astype(np.int64), 0, num_classes - 1)
    return (np.arange(num_classes)[:, None, None] == values[None]).astype(np.uint8) * _SCALE


def _deform(probabilities: np.ndarray, transform: sitk.Transform, reference: np.ndarray) -> np.ndarray:
    """``probabilities`` (K, H, W) on a slice, deformed by ``transform`` onto the grid of
    ``reference`` (the slice it was registered to)."""
    reference = sitk.GetImageFromArray(reference)
    out = np.empty_like(probabilities)
    for index, plane in enumerate(probabilities):
        image = sitk.GetImageFromArray(plane)
        out[index] = sitk.GetArrayFromImage(sitk.Resample(image, reference, transform, sitk.sitkLinear, 0.0))
    return out


def _register(fixed: np.ndarray, moving: np.ndarray) -> sitk.Image:
    """The displacement field (float64 vectors) of the smooth deformation that maps
    ``fixed``'s pixels to ``moving``'s (slices normalised with ``_PER_SLICE``; ``moving``'s
    histogram matched to ``fixed``'s), in pixel coordinates of the full slice."""
    shrink = max(1, -(-max(fixed.shape) // _MAX_SIDE))
    fixed_image = _shrunk(fixed, shrink)
    moving_image = sitk.HistogramMatching(_shrunk(moving, shrink), fixed_image, 64, 7, True)
    demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
    demons.SetNumberOfIterations(_ITERATIONS)
    demons.SetStandardDeviations(_SMOOTHING * shrink)
    return sitk.Cast(demons.Execute(fixed_image, moving_image), sitk.sitkVectorFloat64)


def _shrunk(plane: np.ndarray, factor: int) -> sitk.Image:
    image = sitk.GetImageFromArray(plane)
    return image if factor == 1 else sitk.Shrink(image, [factor, factor])
