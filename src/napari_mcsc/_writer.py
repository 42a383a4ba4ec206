"""napari (npe2) writer contribution: save a Labels layer as a medical volume.

The segmentation is written in the geometry of the scan it belongs to: the
``napari_mcsc`` entry that :mod:`napari_mcsc._reader` (or the prediction widget) puts
in the layer metadata carries the full SimpleITK geometry, direction cosines included.
Layers without it (e.g. painted on a plain numpy image) fall back to the layer's
``scale`` / ``translate`` with an identity direction.

A Labels layer over a scan read from a DICOM folder (its ``napari_mcsc`` entry names the
folder as ``source``) can also be saved as a DICOM SEG (``.dcm``) referencing that series,
see :mod:`napari_mcsc.dicom_seg` (needs the optional highdicom).

This module imports neither napari nor Qt.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from napari_mcsc.constants import GEOMETRY_KEY, METADATA_KEY, SOURCE_KEY
from napari_mcsc.io.dicom import is_dicom_folder
from napari_mcsc.io.geometry import Geometry
from napari_mcsc.io.volumes import split_extension, write_volume

__all__ = ["DEFAULT_EXTENSION", "geometry_from_layer_meta", "write_dicom_seg_labels", "write_labels"]

#: Appended to a save path that has no known volume extension.
DEFAULT_EXTENSION = ".nii.gz"


def geometry_from_layer_meta(meta: Mapping[str, Any], ndim: int) -> Geometry:
    """The geometry to save an ``ndim``-D layer with, from napari's layer ``meta``.

    Prefers ``meta["metadata"]["napari_mcsc"]["geometry"]``; otherwise builds an
    axis-aligned geometry from ``meta["scale"]`` / ``meta["translate"]`` (numpy order,
    reversed into SimpleITK order); missing values mean unit spacing / zero origin.
    """
    metadata = meta.get("metadata") or {}
    entry = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    stored = entry.get(GEOMETRY_KEY) if isinstance(entry, Mapping) else None
    if stored is not None:
        try:
            geometry = Geometry.from_dict(stored)
        except ValueError as exc:
            warnings.warn(
                f"Ignoring the layer's stored geometry ({exc}); saving with the layer's "
                "scale and translate instead.",
                UserWarning,
                stacklevel=3,
            )
        else:
            if geometry.ndim == ndim:
                return geometry
            warnings.warn(
                f"The layer's stored geometry is {geometry.ndim}-D but the data is "
                f"{ndim}-D; saving with the layer's scale and translate instead.",
                UserWarning,
                stacklevel=3,
            )
    scale = meta.get("scale")
    translate = meta.get("translate")
    scale = list(scale)[-ndim:] if scale is not None else None
    translate = list(translate)[-ndim:] if translate is not None else None
    return Geometry.from_zyx(scale, translate, ndim=ndim)


def _full_resolution(data: Any) -> np.ndarray:
    # Multiscale labels (a list or napari's MultiScaleData): save the full resolution.
    # numpy and dask arrays are not registered as Sequence, so they skip this branch.
    if isinstance(data, Sequence):
        if not data:
            raise ValueError("The Labels layer has no data to save.")
        data = data[0]
    return np.asarray(data)


def write_labels(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write a Labels layer to ``path`` (.nii.gz, .nii, .mha, .mhd, .nrrd, .nhdr).

    A path without one of those extensions gets ``.nii.gz`` appended; a ``.dcm`` path
    is written as a DICOM SEG (:func:`write_dicom_seg_labels`). Returns the list with
    the single written path, as npe2 expects.
    """
    if os.fspath(path).lower().endswith(".dcm"):
        return write_dicom_seg_labels(path, data, meta)
    array = _full_resolution(data)
    out = os.fspath(path)
    if not split_extension(out)[1]:
        out += DEFAULT_EXTENSION
    geometry = geometry_from_layer_meta(meta or {}, array.ndim)
    return [write_volume(out, array, geometry)]


def write_dicom_seg_labels(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write a Labels layer as a DICOM SEG (``.dcm``) referencing the layer's DICOM series.

    The layer's metadata must name, as ``napari_mcsc`` ``source``, the DICOM folder its
    scan was read from (true of layers the reader opens from a DICOM folder and of the
    widget's predictions over them). One segment per label value present.
    """
    from napari_mcsc.dicom_seg import write_dicom_seg

    meta = meta or {}
    metadata = meta.get("metadata") or {}
    entry = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    source = entry.get(SOURCE_KEY) if isinstance(entry, Mapping) else None
    if not source or not is_dicom_folder(source):
        raise ValueError(
            "Saving as DICOM SEG (.dcm) needs a Labels layer over a scan opened from a DICOM "
            f"folder, and this layer's scan came from {source or 'no file'}; save it as .nii.gz "
            "or .nrrd instead, or open the DICOM series folder and segment that."
        )
    array = _full_resolution(data)
    out = os.fspath(path)
    if not out.lower().endswith(".dcm"):
        out += ".dcm"
    geometry = geometry_from_layer_meta(meta, array.ndim)
    return [write_dicom_seg(out, array, source, geometry, algorithm_type="SEMIAUTOMATIC")]
