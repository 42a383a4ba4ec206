"""Volumes on disk: :class:`Volume` (voxels + geometry), :func:`read_volume`,
:func:`write_volume` and the path helpers (extensions, display names, expanding folders
and globs into volume files)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from napari_mcsc.atomic import atomic_write
from napari_mcsc.io.dicom import _DICOM_SUFFIXES, _looks_like_dicom_file, _read_dicom_folder, is_dicom_folder
from napari_mcsc.io.formats import (
    _DETACHED_HEADER_EXTENSIONS,
    _FORMATS_HELP,
    SUPPORTED_EXTENSIONS,
    VolumeReadError,
    _check_scalar,
    _sitk_message,
)
from napari_mcsc.io.geometry import Geometry
from napari_mcsc.io.nifti import _check_nifti_complete, _restore_nifti_non_finite, _unambiguous_name

__all__ = [
    "Volume",
    "expand_volume_paths",
    "is_supported_path",
    "read_volume",
    "split_extension",
    "volume_name",
    "write_volume",
]


@dataclass
class Volume:
    """A voxel array in numpy ``(z, y, x)`` order together with its geometry."""

    array: np.ndarray
    geometry: Geometry
    path: str | None = None
    name: str = field(default="")

    def __post_init__(self) -> None:
        if self.array.ndim != self.geometry.ndim:
            raise ValueError(
                f"Volume array has {self.array.ndim} axes but its geometry has "
                f"{self.geometry.ndim}; they must match."
            )

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape in numpy order."""
        return tuple(self.array.shape)

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return int(self.array.ndim)


def split_extension(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Split a file name into ``(stem, extension)`` knowing about ``.nii.gz``.

    The extension is returned lower-cased and is one of :data:`SUPPORTED_EXTENSIONS`,
    or ``""`` when the name has none of them (the stem is then the whole name).
    """
    name = Path(path).name
    lower = name.lower()
    for ext in SUPPORTED_EXTENSIONS:
        if lower.endswith(ext) and len(lower) > len(ext):
            return name[: -len(ext)], ext
    return name, ""


def volume_name(path: str | os.PathLike[str]) -> str:
    """Display name for a path: file name without its volume extension, or folder name."""
    p = Path(path)
    if p.is_dir():
        return p.resolve().name or str(p)
    stem, ext = split_extension(p)
    return stem if ext else p.stem


def is_supported_path(path: str | os.PathLike[str]) -> bool:
    """True for an existing volume file with a supported extension or a DICOM folder."""
    try:
        p = Path(path)
        if p.is_dir():
            return is_dicom_folder(p)
        return p.is_file() and split_extension(p)[1] != ""
    except (TypeError, ValueError, OSError):
        return False


def _read_file(path: Path) -> sitk.Image:
    ext = split_extension(path)[1]
    if not ext:
        hint = ""
        if path.name.lower().endswith(_DICOM_SUFFIXES) or _looks_like_dicom_file(path):
            hint = f" It looks like a DICOM file: open the folder {path.parent} instead."
        raise VolumeReadError(f"Cannot read {path}: unsupported file type; {_FORMATS_HELP}.{hint}")
    reader = sitk.ImageFileReader()
    try:
        with _unambiguous_name(path, ext) as readable:
            reader.SetFileName(str(readable))
            # Header first: refuse vector images before loading all voxels.
            reader.ReadImageInformation()
            _check_scalar(reader.GetNumberOfComponents(), reader.GetDimension(), str(path))
            if ext in (".nii", ".nii.gz"):
                _check_nifti_complete(path, ext)
            return reader.Execute()
    except RuntimeError as exc:
        raise VolumeReadError(
            f"Cannot read {path}: the file is damaged, truncated or not a valid "
            f"{ext} image ({_FORMATS_HELP}). SimpleITK said: {_sitk_message(exc)}"
        ) from exc


def read_volume(path: str | os.PathLike[str]) -> Volume:
    """Read a NIfTI/MetaImage/NRRD file or a DICOM series folder into a :class:`Volume`.

    Spacing, origin and direction are kept in :attr:`Volume.geometry`. 2-D images give
    a 2-D array. Raises ``FileNotFoundError`` for a missing path and
    :class:`VolumeReadError` (a ``ValueError``) for anything that exists but cannot be
    read: unsupported type, damaged file, vector/RGB image, folder without DICOM.
    """
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"No such file or folder: {p}. Check the path ({_FORMATS_HELP}).")
    image = _read_dicom_folder(p) if p.is_dir() else _read_file(p)
    array = sitk.GetArrayFromImage(image)
    ext = "" if p.is_dir() else split_extension(p)[1]
    if ext in (".nii", ".nii.gz") and array.dtype.kind == "f":
        layout = _check_nifti_complete(p, ext)  # complete: checked in _read_file
        if layout is not None:
            _restore_nifti_non_finite(p, ext, layout, array)
    return Volume(
        array=array,
        geometry=Geometry.from_image(image),
        path=str(p),
        name=volume_name(p),
    )


def _storage_array(array: np.ndarray) -> np.ndarray:
    """Convert ``array`` to a dtype every ITK-based tool reads back unchanged.

    bool becomes uint8; 64-bit integers shrink to uint8/int16/int32 when their values
    fit (NIfTI and MetaImage readers outside ITK often choke on 64-bit labels), float16
    becomes float32. Other integer and float dtypes are kept.
    """
    arr = np.asarray(array)
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8)
    if arr.dtype.kind in "iu" and arr.dtype.itemsize == 8:
        if arr.size == 0:
            return arr.astype(np.uint8)
        lo, hi = int(arr.min()), int(arr.max())
        for candidate in (np.uint8, np.int16, np.int32):
            info = np.iinfo(candidate)
            if info.min <= lo and hi <= info.max:
                return arr.astype(candidate)
        return arr
    if arr.dtype == np.float16:
        return arr.astype(np.float32)
    if arr.dtype.kind not in "iuf":
        raise ValueError(
            f"Cannot write an array of dtype {arr.dtype}; use an integer, boolean or floating-point array."
        )
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def write_volume(
    path: str | os.PathLike[str],
    array: np.ndarray,
    geometry: Geometry | None = None,
    *,
    compress: bool = True,
) -> str:
    """Write ``array`` (numpy ``z, y, x`` order) with ``geometry`` to ``path``.

    The format follows the extension (:data:`SUPPORTED_EXTENSIONS`); ``geometry=None``
    means unit spacing, zero origin, identity direction. Integer labels keep an
    integer type (see :func:`_storage_array`). Parent folders are created. Single-file
    formats are written to a temporary file next to the target and renamed over it,
    so a crash never leaves a half-written file under the final name; ``.mhd`` and
    ``.nhdr`` (header + separate data file) are written in place. ``compress`` applies
    to .mha/.mhd/.nrrd/.nhdr (``.nii.gz`` is always and ``.nii`` never compressed).
    Returns the written path as a string.
    """
    p = Path(os.fspath(path)).expanduser()
    ext = split_extension(p)[1]
    if not ext:
        raise ValueError(
            f"Cannot write {p}: unknown file extension. Use one of {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    arr = _storage_array(array)
    if arr.ndim not in (2, 3, 4):
        raise ValueError(
            f"Cannot write a {arr.ndim}-D array of shape {arr.shape}; give a 2-D, 3-D or "
            "4-D array in numpy (z, y, x) order."
        )
    geom = geometry if geometry is not None else Geometry.identity(arr.ndim)
    if geom.ndim != arr.ndim:
        raise ValueError(
            f"The geometry is {geom.ndim}-D but the array {arr.shape} is {arr.ndim}-D; "
            "pass the geometry of an image with the same number of axes."
        )
    image = geom.apply_to(sitk.GetImageFromArray(arr, isVector=False))

    p.parent.mkdir(parents=True, exist_ok=True)
    if ext in _DETACHED_HEADER_EXTENSIONS:
        _write_image(image, p, compress)
        return str(p)
    # Same extension for the temporary file, so that ITK picks the right writer.
    atomic_write(p, lambda tmp: _write_image(image, tmp, compress), extension=ext)
    return str(p)


def _write_image(image: sitk.Image, path: Path, compress: bool) -> None:
    try:
        sitk.WriteImage(image, str(path), useCompression=compress)
    except RuntimeError as exc:
        raise OSError(f"SimpleITK could not write {path}: {_sitk_message(exc)}") from exc


def expand_volume_paths(values: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Paths as a user gives them (files, DICOM folders, folders of volumes, globs) ->
    the volume paths they stand for, in a stable order.

    A folder that is not a DICOM series stands for every supported volume inside it (not
    recursive). A pattern with ``*``, ``?`` or ``[`` is expanded. Raises FileNotFoundError,
    naming the value, when a value stands for no volume at all.
    """
    import glob

    found: list[Path] = []
    for value in values:
        text = os.fspath(value)
        if any(ch in text for ch in "*?["):
            matches = [Path(p) for p in sorted(glob.glob(text)) if is_supported_path(p)]
        elif Path(text).is_dir() and not is_dicom_folder(text):
            matches = [p for p in sorted(Path(text).iterdir()) if is_supported_path(p)]
        else:
            matches = [Path(text)]
        if not matches:
            raise FileNotFoundError(
                f"{text}: no volume found there (expected NIfTI, MHA/MHD, NRRD files or DICOM folders)"
            )
        found.extend(p for p in matches if p not in found)
    return found
