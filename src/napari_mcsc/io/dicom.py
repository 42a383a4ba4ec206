"""DICOM series: recognising a DICOM folder, choosing and reading its series, and
refusing a series with missing or uneven slices."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from napari_mcsc.io.formats import _FORMATS_HELP, VolumeReadError, _check_scalar, _sitk_message

__all__ = ["dicom_series_files", "is_dicom_folder"]

# File names that strongly suggest DICOM when scanning a folder.
_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
# How many files of a folder are sniffed for the "DICM" magic before giving up.
_DICOM_SNIFF_LIMIT = 32


def _looks_like_dicom_file(path: Path) -> bool:
    """True when ``path`` carries the DICOM Part 10 "DICM" magic at byte 128."""
    try:
        with path.open("rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def is_dicom_folder(path: str | os.PathLike[str]) -> bool:
    """Cheap check that a folder (directly) contains DICOM files.

    Looks for a typical DICOM file name (``.dcm``, ``.dicom``, ``.ima``) or, failing
    that, sniffs the "DICM" magic of up to a few dozen files. It does not parse the
    headers: :func:`read_volume` does that and reports a clear error if it fails.
    """
    p = Path(path)
    if not p.is_dir():
        return False
    sniffed = 0
    try:
        with os.scandir(p) as entries:
            for entry in entries:
                if not entry.is_file():
                    continue
                if entry.name.lower().endswith(_DICOM_SUFFIXES):
                    return True
                if sniffed < _DICOM_SNIFF_LIMIT:
                    sniffed += 1
                    if _looks_like_dicom_file(Path(entry.path)):
                        return True
    except OSError:
        return False
    return False


def _dicom_file_names(folder: Path) -> list[Path]:
    """Files of ``folder`` that look like DICOM (by name or by the "DICM" magic)."""
    found = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.is_file() or entry.name.upper() == "DICOMDIR":
                    continue
                p = Path(entry.path)
                if entry.name.lower().endswith(_DICOM_SUFFIXES) or _looks_like_dicom_file(p):
                    found.append(p)
    except OSError:
        pass
    return found


def _slice_positions(reader: sitk.ImageSeriesReader, image: sitk.Image) -> list[float] | None:
    """Each slice's position along the slice normal (mm), or None if a slice lacks one."""
    if image.GetDimension() != 3:
        return None
    normal = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)[:, 2]
    positions = []
    for i in range(len(reader.GetFileNames())):
        try:
            if not reader.HasMetaDataKey(i, "0020|0032"):
                return None
            position = [float(v) for v in reader.GetMetaData(i, "0020|0032").split("\\")]
        except (RuntimeError, ValueError, IndexError):
            return None
        if len(position) != 3:
            return None
        positions.append(float(np.dot(position, normal)))
    return positions


def _check_series_spacing(
    path: Path, files: Sequence[str], positions: Sequence[float], unreadable: Sequence[Path]
) -> None:
    """Refuse a series with missing slices or uneven spacing (the volume would be warped)."""
    if len(positions) < 3:
        return
    gaps = np.abs(np.diff(np.asarray(positions, dtype=float)))
    step = float(np.median(gaps))
    tolerance = 0.01 * step + 1e-3
    worst = int(np.argmax(np.abs(gaps - step)))
    if step > tolerance and abs(gaps[worst] - step) <= tolerance:
        return
    hint = (
        f" These files in the folder could not be read: "
        f"{', '.join(p.name for p in unreadable[:5])}{' ...' if len(unreadable) > 5 else ''}."
        if unreadable
        else ""
    )
    if step <= tolerance:
        what = "several slices lie at the same position (duplicates, or two series mixed)"
    else:
        missing = round(gaps[worst] / step) - 1
        what = (
            f"slices {Path(files[worst]).name} and {Path(files[worst + 1]).name} are "
            f"{gaps[worst]:.4g} mm apart where the others are {step:.4g} mm apart"
            + (f" ({missing} slice{'s' if missing != 1 else ''} missing)" if missing >= 1 else "")
        )
    raise VolumeReadError(
        f"Cannot read the DICOM series in {path}: {what}; reading it anyway would misplace "
        f"the slices and the segmentation would not line up with the scan.{hint} Export the "
        "series again, or remove the files that do not belong to it."
    )


def _dicom_series(path: Path) -> tuple[dict[str, tuple[str, ...]], str]:
    """The DICOM series of a folder (GDCM's id -> its files, in slice order) and the one
    read: the largest."""
    folder = str(path)
    try:
        series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
    except RuntimeError as exc:
        raise VolumeReadError(f"Cannot scan {path} for DICOM files: {_sitk_message(exc)}") from exc
    if not series_ids:
        raise VolumeReadError(
            f"{path} is a folder but contains no DICOM series ({_FORMATS_HELP}). "
            "Open a volume file, or the folder that directly holds the DICOM slices."
        )
    files_by_series = {sid: sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, sid) for sid in series_ids}
    return files_by_series, max(series_ids, key=lambda sid: len(files_by_series[sid]))


def dicom_series_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files of the DICOM series that :func:`read_volume` reads from the folder ``path``
    (the largest series there), in slice order; e.g. to reference them from a DICOM SEG."""
    files_by_series, chosen = _dicom_series(Path(os.fspath(path)).expanduser())
    return [Path(f) for f in files_by_series[chosen]]


def _read_dicom_folder(path: Path) -> sitk.Image:
    files_by_series, chosen = _dicom_series(path)
    series_ids = list(files_by_series)
    if len(series_ids) > 1:
        others = ", ".join(
            f"{sid} ({len(files_by_series[sid])} files)" for sid in series_ids if sid != chosen
        )
        warnings.warn(
            f"{path} holds {len(series_ids)} DICOM series; reading the largest, {chosen} "
            f"({len(files_by_series[chosen])} files) and ignoring {others}. Put each series "
            "in its own folder to open another one.",
            UserWarning,
            stacklevel=3,
        )
    in_a_series = {os.path.realpath(f) for files in files_by_series.values() for f in files}
    unreadable = sorted(
        (p for p in _dicom_file_names(path) if os.path.realpath(p) not in in_a_series),
        key=lambda p: p.name,
    )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files_by_series[chosen])
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise VolumeReadError(
            f"Cannot read the DICOM series {chosen} in {path}: {_sitk_message(exc)}"
        ) from exc
    _check_scalar(image.GetNumberOfComponentsPerPixel(), image.GetDimension(), str(path))
    positions = _slice_positions(reader, image)
    if positions is not None:
        _check_series_spacing(path, files_by_series[chosen], positions, unreadable)
    if unreadable:
        warnings.warn(
            f"{path}: {len(unreadable)} DICOM file(s) could not be read and were left out "
            f"({', '.join(p.name for p in unreadable[:5])}{' ...' if len(unreadable) > 5 else ''}); "
            "if they were slices of this series, the volume is missing its first or last slices.",
            UserWarning,
            stacklevel=3,
        )
    return image
