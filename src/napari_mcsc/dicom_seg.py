"""DICOM Segmentation (SEG) export for label maps made on a DICOM series.

Why: PACS viewers and 3D Slicer take segmentations as DICOM SEG objects, which reference
the series they segment by its UIDs (study, series, frame of reference, each slice's SOP
instance). So a SEG is built from the series' own files, not from the voxels: only a
label map over a scan read from a DICOM folder (with one file per slice) can be exported.

What is written (docs/dicom_seg.md says the same for users): a BINARY segmentation with
one segment per non-zero label value, in increasing value order (segment 1 is the lowest
value); the segment's label is the class name given, else ``label <value>``; its colour
comes from :data:`PALETTE`; its category and type are SNOMED CT 85756007 "Tissue" (the
classes are whatever the user painted, so no anatomy is claimed; 3D Slicer uses the same
term for a new segment); the algorithm is "napari-mcsc" of family DCM 123110 "Artificial
Intelligence". Empty slices are left out, as the standard allows.

Needs the optional ``highdicom`` package (``pip install "napari-mcsc[dicom]"``), imported
only when a SEG is written. No Qt, no torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_mcsc.atomic import atomic_write
from napari_mcsc.io.dicom import dicom_series_files, is_dicom_folder
from napari_mcsc.io.geometry import Geometry

__all__ = [
    "PALETTE",
    "SEG_EXTENSION",
    "DicomSegError",
    "require_highdicom",
    "segment_values",
    "write_dicom_seg",
]

#: The file extension of a DICOM SEG written here.
SEG_EXTENSION = ".dcm"

#: Segment colours (sRGB), segment 1 first; more segments than colours cycle through them.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)

# Slice positions must agree with the volume's grid to this fraction of a voxel.
_GRID_TOLERANCE = 0.01
_INSTALL_HINT = 'DICOM SEG export needs highdicom: pip install "napari-mcsc[dicom]"'
_FIT_HINT = "; export labels made on the volume read from this folder, or save them as .nii.gz instead"


class DicomSegError(ValueError):
    """A label map cannot be written as a DICOM SEG of the given series; the message says why."""


def require_highdicom() -> Any:
    """Import highdicom, or raise ModuleNotFoundError saying how to install it."""
    try:
        import highdicom
    except ImportError as exc:
        raise ModuleNotFoundError(_INSTALL_HINT) from exc
    return highdicom


def segment_values(labels: np.ndarray) -> list[int]:
    """The non-zero label values of ``labels``, in increasing order (one segment each)."""
    return [int(v) for v in np.unique(labels) if v != 0]


def _read_series(folder: Path) -> list[Any]:
    """The headers (no pixels) of the series files :func:`napari_mcsc.io.read_volume` reads."""
    import pydicom

    return [pydicom.dcmread(f, stop_before_pixels=True) for f in dicom_series_files(folder)]


def _slice_order(datasets: Sequence[Any], shape: tuple[int, ...], geometry: Geometry) -> list[int]:
    """For each dataset, the index of its slice in the ``(z, y, x)`` label array.

    Checks that every file is one slice of the volume's grid (same rows, columns, in-plane
    directions, position on a slice of ``geometry``), so the SEG lies exactly on the scan.
    """
    if len(shape) != 3:
        raise DicomSegError(f"a DICOM SEG needs a 3-D label map; got shape {shape}")
    depth, rows, columns = shape
    if len(datasets) != depth:
        raise DicomSegError(
            f"the DICOM series has {len(datasets)} files but the labels have {depth} slices; "
            f"only a series of single-frame slices read as this volume can be referenced{_FIT_HINT}"
        )
    axes = geometry.direction_matrix
    origin = np.asarray(geometry.origin, dtype=float)
    spacing = np.asarray(geometry.spacing, dtype=float)
    order = []
    for ds in datasets:
        name = Path(getattr(ds, "filename", "") or "?").name
        if int(getattr(ds, "NumberOfFrames", 1) or 1) != 1:
            raise DicomSegError(f"{name} is a multi-frame image; export needs one file per slice")
        if (int(ds.Rows), int(ds.Columns)) != (rows, columns):
            raise DicomSegError(
                f"{name} has {ds.Rows} x {ds.Columns} pixels but the label slices are "
                f"{rows} x {columns}{_FIT_HINT}"
            )
        orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
        if not (
            np.allclose(orientation[:3], axes[:, 0], atol=1e-3)
            and np.allclose(orientation[3:], axes[:, 1], atol=1e-3)
        ):
            raise DicomSegError(f"{name} is oriented differently from the labels' geometry{_FIT_HINT}")
        offset = (np.asarray(ds.ImagePositionPatient, dtype=float) - origin) @ axes / spacing
        index = round(float(offset[2]))
        if np.abs(offset - (0.0, 0.0, index)).max() > _GRID_TOLERANCE or not 0 <= index < depth:
            raise DicomSegError(f"{name} does not lie on a slice of the labels' grid{_FIT_HINT}")
        order.append(index)
    if sorted(order) != list(range(depth)):
        raise DicomSegError("several files of the DICOM series lie on the same slice of the labels")
    return order


def _segment_descriptions(hd: Any, values: Sequence[int], names: Mapping[int, str], algorithm_type: str):
    from pydicom.sr.codedict import codes

    algorithm = hd.AlgorithmIdentificationSequence(
        name="napari-mcsc", family=codes.cid7162.ArtificialIntelligence, version=_version()
    )
    return [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=names.get(value, f"label {value}"),
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=algorithm_type,
            algorithm_identification=algorithm,
            display_color=hd.color.CIELabColor.from_rgb(*PALETTE[(number - 1) % len(PALETTE)]),
        )
        for number, value in enumerate(values, start=1)
    ]


def write_dicom_seg(
    path: str | os.PathLike[str],
    labels: np.ndarray,
    source: str | os.PathLike[str],
    geometry: Geometry,
    *,
    values: Sequence[int] | None = None,
    names: Mapping[int, str] | None = None,
    algorithm_type: str = "AUTOMATIC",
) -> str:
    """Write ``labels`` (``z, y, x``, label values) as a DICOM SEG of the series in ``source``.

    ``geometry`` is the labels' geometry (the volume read from ``source``); every file of
    the series must lie on one of its slices. ``values`` are the label values that get a
    segment (default: those present; a value of ``labels`` not among them raises),
    ``names`` maps a value to its segment label. ``algorithm_type`` is AUTOMATIC for a
    model's prediction, SEMIAUTOMATIC for one a person may have corrected. Written
    atomically; returns the path. Raises :class:`DicomSegError` when the labels do not
    fit the series, ModuleNotFoundError without highdicom.
    """
    hd = require_highdicom()
    folder = Path(os.fspath(source)).expanduser()
    if not (folder.is_dir() and is_dicom_folder(folder)):
        raise DicomSegError(f"{folder} is not a DICOM series folder; a DICOM SEG must reference one")
    array = np.asarray(labels)
    if array.dtype.kind not in "iub":
        raise DicomSegError(f"a DICOM SEG holds label values; got a {array.dtype} array")
    values = segment_values(array) if values is None else sorted({int(v) for v in values if v != 0})
    if not values:
        raise DicomSegError("the labels are all background (0): there is no segment to write")
    lut = {value: number for number, value in enumerate(values, start=1)}
    present = segment_values(array)
    unknown = [v for v in present if v not in lut]
    if unknown:
        raise DicomSegError(f"label values {unknown[:10]} are not among the segments' values {values}")
    datasets = _read_series(folder)
    order = _slice_order(datasets, array.shape, geometry)
    numbers = np.zeros(max(values) + 1, dtype=np.uint16)
    numbers[list(lut)] = list(lut.values())
    frames = numbers[array[order].astype(np.int64)]
    first = datasets[0]
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=_segment_descriptions(hd, values, names or {}, algorithm_type),
        series_instance_uid=hd.UID(),
        series_number=1000 + int(getattr(first, "SeriesNumber", 0) or 0),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="napari-mcsc",
        manufacturer_model_name="napari-mcsc",
        software_versions=_version(),
        device_serial_number="0",
        content_label="MCSC_SEGMENTS",
        content_description="napari-mcsc segmentation",
        series_description=f"Segmentation of {getattr(first, 'SeriesDescription', '') or folder.name}"[:64],
    )
    out = Path(os.fspath(path)).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: seg.save_as(tmp), extension=SEG_EXTENSION)
    return str(out)


def _version() -> str:
    from napari_mcsc import __version__

    return __version__
