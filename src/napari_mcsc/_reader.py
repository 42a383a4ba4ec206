"""napari (npe2) reader contribution: open medical volumes as Image or Labels layers.

Opening a file keeps its physical placement: napari's ``scale`` and ``translate`` are
the voxel spacing and origin in array order, and the full SimpleITK geometry (which
also has the direction cosines napari cannot show) is stored in the layer metadata
under ``metadata["napari_mcsc"]["geometry"]``. The writer and the segmentation
widget read it back so that predictions are saved in the scan's own geometry.

This module imports neither napari nor Qt, so napari can discover the plugin cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from napari_mcsc.constants import GEOMETRY_KEY, METADATA_KEY, SOURCE_KEY
from napari_mcsc.io.volumes import Volume, is_supported_path, read_volume

# METADATA_KEY is re-exported for the modules that import it from here.
__all__ = ["METADATA_KEY", "looks_like_labels", "napari_get_reader", "read_layers"]

#: An integer volume with at most this many distinct values opens as a Labels layer.
MAX_LABEL_VALUES = 64
# Number of voxels looked at when guessing whether a volume is a label map.
_LABEL_SAMPLE_SIZE = 1_000_000

LayerData = tuple[Any, dict[str, Any], str]
PathOrPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def napari_get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """Return :func:`read_layers` if every path is a readable volume, else ``None``.

    Never raises: napari calls this for every file it is asked to open, and a plugin
    that raises here breaks opening files that other plugins could read.
    """
    try:
        paths = [path] if isinstance(path, str | os.PathLike) else list(path)
        if paths and all(is_supported_path(p) for p in paths):
            return read_layers
    except Exception:  # a reader probe must never raise
        return None
    return None


def looks_like_labels(array: np.ndarray, max_values: int = MAX_LABEL_VALUES) -> bool:
    """Guess whether an array is a label map rather than an intensity image.

    True for non-negative integer arrays with at most ``max_values`` distinct values
    (a strided subsample of about a million voxels is inspected, so this stays fast on
    large scans; CT/MR intensities have far more distinct values than any mask).
    """
    if array.dtype.kind not in "iub" or array.size == 0:
        return False
    flat = array.reshape(-1)
    step = max(1, flat.size // _LABEL_SAMPLE_SIZE)
    sample = flat[::step]
    if sample.min() < 0:
        return False
    return len(np.unique(sample)) <= max_values


def _labels_dtype(array: np.ndarray) -> np.dtype:
    """A compact integer dtype napari's Labels layer handles well for these values."""
    if array.size == 0:
        return np.dtype(np.uint8)
    lo, hi = int(array.min()), int(array.max())
    if lo >= 0 and hi <= np.iinfo(np.uint8).max:
        return np.dtype(np.uint8)
    if np.iinfo(np.int32).min <= lo and hi <= np.iinfo(np.int32).max:
        return np.dtype(np.int32)
    return np.dtype(np.int64)


def volume_to_layer_data(volume: Volume, source: str | None = None) -> LayerData:
    """Turn a :class:`~napari_mcsc.io.Volume` into a napari layer-data tuple."""
    geometry = volume.geometry
    kwargs: dict[str, Any] = {
        "name": volume.name,
        "scale": list(geometry.spacing_zyx),
        "translate": list(geometry.origin_zyx),
        "metadata": {
            METADATA_KEY: {
                GEOMETRY_KEY: geometry.to_dict(),
                SOURCE_KEY: source if source is not None else volume.path,
            }
        },
    }
    data = volume.array
    if looks_like_labels(data):
        dtype = _labels_dtype(data)
        if data.dtype != dtype:
            data = data.astype(dtype)
        return data, kwargs, "labels"
    return data, kwargs, "image"


def read_layers(path: PathOrPaths) -> list[LayerData]:
    """Read one path or a list of paths into napari layer-data tuples (one per volume).

    Each volume becomes an ``image`` layer, or a ``labels`` layer when it looks like
    a label map (see :func:`looks_like_labels`).
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        source = os.fspath(p)
        layers.append(volume_to_layer_data(read_volume(source), source=source))
    return layers
