"""Reading and writing medical volumes (NIfTI, MetaImage, NRRD, DICOM series).

Everything here goes through SimpleITK and keeps the image *geometry* (voxel spacing,
origin and direction cosines) next to the voxel array, so a segmentation written back
to disk lands exactly on top of the scan it was made from in any other viewer (3D
Slicer, ITK-SNAP, ...). The module imports neither Qt nor torch: the CLI, the training
code and the napari reader/writer all share it.

Axis-order convention: arrays are in numpy order ``(z, y, x)`` (what
``sitk.GetArrayFromImage`` returns), while :class:`Geometry` stores spacing, origin
and direction in SimpleITK's ``(x, y, z)`` order, exactly as SimpleITK reports them.
Use :attr:`Geometry.spacing_zyx` / :attr:`Geometry.origin_zyx` when you need them in
array order (e.g. for napari's ``scale`` / ``translate``).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from napari_mcsc.atomic import atomic_write

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Geometry",
    "Volume",
    "VolumeReadError",
    "atomic_write",
    "dicom_series_files",
    "geometry_mismatch",
    "geometry_of",
    "is_dicom_folder",
    "is_supported_path",
    "read_volume",
    "split_extension",
    "volume_name",
    "write_volume",
]

#: File extensions read and written by :func:`read_volume` / :func:`write_volume`
#: (lower case; ``.nii.gz`` is listed before ``.nii`` so that suffix matching is greedy).
#: DICOM is supported as a *folder* holding one series, not as single files.
SUPPORTED_EXTENSIONS: tuple[str, ...] = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr")

# Formats whose header refers to a separate data file (.raw/.zraw, .raw.gz): they are
# written in place, because an atomic rename of the header alone would orphan the data.
_DETACHED_HEADER_EXTENSIONS = (".mhd", ".nhdr")

# File names that strongly suggest DICOM when scanning a folder.
_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
# How many files of a folder are sniffed for the "DICM" magic before giving up.
_DICOM_SNIFF_LIMIT = 32

_FORMATS_HELP = (
    "supported formats are NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd), "
    "NRRD (.nrrd, .nhdr) and a folder holding one DICOM series"
)


class VolumeReadError(ValueError):
    """A path exists but could not be read as a supported volume."""


# --------------------------------------------------------------------------- geometry


def _float_tuple(values: Iterable[Any], what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Geometry {what} must be a sequence of numbers, got {values!r}.") from exc
    if not all(np.isfinite(out)):
        raise ValueError(f"Geometry {what} must contain finite numbers, got {out}.")
    return out


@dataclass(frozen=True)
class Geometry:
    """Where a voxel grid sits in physical (patient/world) space.

    All three fields use SimpleITK's ``(x, y, z)`` order. ``direction`` is the
    direction-cosine matrix flattened row-major (``ndim * ndim`` numbers), i.e. what
    ``sitk.Image.GetDirection()`` returns; its *columns* are the physical directions
    of the x, y and z index axes.
    """

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    def __post_init__(self) -> None:
        spacing = _float_tuple(self.spacing, "spacing")
        origin = _float_tuple(self.origin, "origin")
        direction = _float_tuple(self.direction, "direction")
        ndim = len(spacing)
        if ndim < 1:
            raise ValueError("Geometry needs at least one axis; spacing is empty.")
        if len(origin) != ndim:
            raise ValueError(
                f"Geometry origin has {len(origin)} values but spacing has {ndim}; "
                "give one origin coordinate per axis."
            )
        if len(direction) != ndim * ndim:
            raise ValueError(
                f"Geometry direction has {len(direction)} values; a {ndim}-D image needs "
                f"{ndim * ndim} (the {ndim}x{ndim} matrix flattened row-major)."
            )
        if any(s <= 0 for s in spacing):
            raise ValueError(f"Geometry spacing must be positive, got {spacing}.")
        # Frozen dataclass: normalise the field types (lists, numpy scalars -> tuples of float).
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)

    # -- constructors -------------------------------------------------------------

    @classmethod
    def identity(cls, ndim: int) -> Geometry:
        """Unit spacing, zero origin and identity direction for an ``ndim``-D image."""
        if ndim < 1:
            raise ValueError(f"ndim must be >= 1, got {ndim}.")
        return cls(
            spacing=(1.0,) * ndim,
            origin=(0.0,) * ndim,
            direction=tuple(np.eye(ndim).ravel().tolist()),
        )

    @classmethod
    def from_zyx(
        cls,
        spacing_zyx: Sequence[float] | None = None,
        origin_zyx: Sequence[float] | None = None,
        *,
        ndim: int | None = None,
    ) -> Geometry:
        """Build an axis-aligned geometry from spacing/origin given in numpy order.

        This is how napari's ``scale`` / ``translate`` map back to an image geometry
        (napari has no notion of direction cosines, so the direction is the identity).
        Missing values default to unit spacing / zero origin; ``ndim`` is needed only
        when both are missing.
        """
        if ndim is None:
            if spacing_zyx is not None:
                ndim = len(spacing_zyx)
            elif origin_zyx is not None:
                ndim = len(origin_zyx)
            else:
                raise ValueError("Give spacing_zyx, origin_zyx or ndim to build a Geometry.")
        spacing = tuple(spacing_zyx) if spacing_zyx is not None else (1.0,) * ndim
        origin = tuple(origin_zyx) if origin_zyx is not None else (0.0,) * ndim
        if len(spacing) != ndim or len(origin) != ndim:
            raise ValueError(
                f"spacing ({len(spacing)} values) and origin ({len(origin)} values) must "
                f"both have {ndim} values, one per array axis."
            )
        return cls(
            spacing=tuple(reversed(spacing)),
            origin=tuple(reversed(origin)),
            direction=tuple(np.eye(ndim).ravel().tolist()),
        )

    @classmethod
    def from_image(cls, image: sitk.Image) -> Geometry:
        """The geometry of a SimpleITK image."""
        return cls(
            spacing=tuple(image.GetSpacing()),
            origin=tuple(image.GetOrigin()),
            direction=tuple(image.GetDirection()),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Geometry:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on malformed input."""
        if not isinstance(data, Mapping):
            raise ValueError(
                f"A geometry must be a mapping with 'spacing', 'origin' and 'direction', "
                f"got {type(data).__name__}."
            )
        missing = [k for k in ("spacing", "origin", "direction") if k not in data]
        if missing:
            raise ValueError(
                f"Geometry dictionary is missing {', '.join(missing)}; it needs "
                "'spacing', 'origin' and 'direction' (as written by Geometry.to_dict())."
            )
        return cls(spacing=data["spacing"], origin=data["origin"], direction=data["direction"])

    # -- views --------------------------------------------------------------------

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-safe form (plain lists of floats), e.g. for layer metadata or checkpoints."""
        return {
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": list(self.direction),
        }

    @property
    def ndim(self) -> int:
        """Number of image axes."""
        return len(self.spacing)

    @property
    def spacing_zyx(self) -> tuple[float, ...]:
        """Spacing in numpy axis order (reversed from SimpleITK's x, y, z)."""
        return tuple(reversed(self.spacing))

    @property
    def origin_zyx(self) -> tuple[float, ...]:
        """Origin in numpy axis order (reversed from SimpleITK's x, y, z)."""
        return tuple(reversed(self.origin))

    @property
    def direction_matrix(self) -> np.ndarray:
        """The direction cosines as an ``(ndim, ndim)`` array (SimpleITK order)."""
        return np.asarray(self.direction, dtype=float).reshape(self.ndim, self.ndim)

    @property
    def is_axis_aligned(self) -> bool:
        """True when the direction is the identity (napari can show it without loss)."""
        return bool(np.allclose(self.direction_matrix, np.eye(self.ndim), atol=1e-6))

    def isclose(self, other: Geometry, *, rtol: float = 1e-5, atol: float = 1e-5) -> bool:
        """Equality up to float noise (NIfTI stores spacing as float32, for example)."""
        return (
            self.ndim == other.ndim
            and np.allclose(self.spacing, other.spacing, rtol=rtol, atol=atol)
            and np.allclose(self.origin, other.origin, rtol=rtol, atol=atol)
            and np.allclose(self.direction, other.direction, rtol=rtol, atol=atol)
        )

    def apply_to(self, image: sitk.Image) -> sitk.Image:
        """Set this geometry on ``image`` (in place) and return it for chaining."""
        if image.GetDimension() != self.ndim:
            raise ValueError(
                f"Cannot apply a {self.ndim}-D geometry to a {image.GetDimension()}-D image; "
                "the geometry must come from an image with the same number of axes."
            )
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        try:
            image.SetDirection(self.direction)
        except RuntimeError as exc:  # ITK refuses singular direction matrices
            raise ValueError(
                f"The geometry direction {self.direction} is not a valid (invertible) "
                "direction-cosine matrix."
            ) from exc
        return image


# ---------------------------------------------------------------------------- volume


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


def geometry_of(volume_or_image: Volume | sitk.Image | Geometry) -> Geometry:
    """The :class:`Geometry` of a :class:`Volume`, a SimpleITK image or a Geometry."""
    if isinstance(volume_or_image, Geometry):
        return volume_or_image
    if isinstance(volume_or_image, Volume):
        return volume_or_image.geometry
    if isinstance(volume_or_image, sitk.Image):
        return Geometry.from_image(volume_or_image)
    raise TypeError(
        f"geometry_of() takes a Volume, a SimpleITK Image or a Geometry, "
        f"got {type(volume_or_image).__name__}."
    )


def _numbers(values: Sequence[float]) -> str:
    return " x ".join(f"{v:g}" for v in values)


def geometry_mismatch(
    first: Geometry,
    second: Geometry,
    *,
    spacing_rtol: float = 1e-4,
    origin_voxels: float = 1e-3,
    direction_atol: float = 1e-4,
) -> str | None:
    """Say how two geometries differ beyond float noise, or return ``None`` if they agree.

    Tolerances: spacing relative ``spacing_rtol``; origin ``origin_voxels`` of the smallest
    voxel side; direction cosines ``direction_atol``. These absorb what NIfTI's float32
    header fields do to a geometry, and nothing a person would call a different grid.
    The text names values in SimpleITK's (x, y, z) order.
    """
    if first.ndim != second.ndim:
        return f"{first.ndim}-D vs {second.ndim}-D"
    differences = []
    if not np.allclose(first.spacing, second.spacing, rtol=spacing_rtol, atol=0.0):
        differences.append(f"spacing {_numbers(first.spacing)} vs {_numbers(second.spacing)} mm")
    atol = origin_voxels * min(min(first.spacing), min(second.spacing))
    if not np.allclose(first.origin, second.origin, rtol=0.0, atol=atol):
        differences.append(f"origin ({_numbers(first.origin)}) vs ({_numbers(second.origin)}) mm")
    if not np.allclose(first.direction, second.direction, rtol=0.0, atol=direction_atol):
        differences.append(
            f"direction {_numbers(np.round(first.direction, 4))} vs {_numbers(np.round(second.direction, 4))}"
        )
    return "; ".join(differences) or None


# --------------------------------------------------------------------------- paths


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


def is_supported_path(path: str | os.PathLike[str]) -> bool:
    """True for an existing volume file with a supported extension or a DICOM folder."""
    try:
        p = Path(path)
        if p.is_dir():
            return is_dicom_folder(p)
        return p.is_file() and split_extension(p)[1] != ""
    except (TypeError, ValueError, OSError):
        return False


# ---------------------------------------------------------------------------- read


def _sitk_message(exc: BaseException) -> str:
    """The informative last line of a (multi-line, C++-flavoured) SimpleITK error.

    ITK appends a stale ``Reason: <errno text>`` to some errors (e.g. "No such file or
    directory" for a truncated MetaImage); that line says nothing about the file.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Reason:")] or lines
    return lines[-1] if lines else repr(exc)


def _check_scalar(components: int, dimension: int, path: str) -> None:
    if components != 1:
        raise VolumeReadError(
            f"{path} is a multi-component image: {components} values per voxel on a "
            f"{dimension}-D grid (colour, or a 4-D scan whose {components} frames/channels "
            "are stored as vectors); napari-mcsc segments single-channel 3-D scans. Export "
            "one channel or one frame (or convert colour to grey) first."
        )
    if dimension < 2:
        raise VolumeReadError(f"{path} is a {dimension}-D image; napari-mcsc needs 2-D or 3-D images.")


# NIfTI header fields read here: sizeof_hdr -> (offset of datatype, of bitpix, format
# and offset of dim[8], format and offset of vox_offset), for NIfTI-1 and NIfTI-2.
_NIFTI_LAYOUTS = {
    348: (70, 72, "8h", 40, "f", 108),
    540: (12, 14, "8q", 16, "q", 168),
}
# NIfTI datatype codes of real floating-point voxels -> numpy type.
_NIFTI_FLOATS = {16: "f4", 64: "f8"}


@dataclass(frozen=True)
class _NiftiLayout:
    byte_order: str
    data_offset: int
    shape: tuple[int, ...]  # NIfTI order (x, y, z, ...)
    bitpix: int
    datatype: int

    @property
    def size(self) -> int:
        """Bytes the file must hold: header, extensions and every voxel."""
        return self.data_offset + int(np.prod(self.shape, dtype=object)) * (self.bitpix // 8)


def _nifti_layout(header: bytes) -> _NiftiLayout | None:
    """Where a NIfTI-1/2 file keeps its voxels, from its header (None if not understood)."""
    if len(header) < 4:
        return None
    for order in "<>":
        size = struct.unpack(order + "i", header[:4])[0]
        fields = _NIFTI_LAYOUTS.get(size)
        if fields is None or len(header) < size:
            continue
        datatype_at, bitpix_at, dim_fmt, dim_at, offset_fmt, offset_at = fields
        datatype = struct.unpack_from(order + "h", header, datatype_at)[0]
        bitpix = struct.unpack_from(order + "h", header, bitpix_at)[0]
        dim = struct.unpack_from(order + dim_fmt, header, dim_at)
        vox_offset = struct.unpack_from(order + offset_fmt, header, offset_at)[0]
        ndim = int(dim[0])
        if not 1 <= ndim <= 7 or bitpix <= 0 or bitpix % 8 or not np.isfinite(vox_offset):
            return None
        shape = tuple(int(d) for d in dim[1 : ndim + 1])
        if any(d < 1 for d in shape):
            return None
        return _NiftiLayout(order, max(int(vox_offset), size), shape, int(bitpix), int(datatype))
    return None


def _open_nifti(path: Path, ext: str):
    return path.open("rb") if ext == ".nii" else gzip.open(path, "rb")


def _check_nifti_complete(path: Path, ext: str) -> _NiftiLayout | None:
    """Refuse a NIfTI file shorter than its header says (ITK would fill the rest with 0).

    Returns the file's layout when the header was understood.
    """
    chunk = 1 << 20
    try:
        with _open_nifti(path, ext) as fh:
            head = fh.read(540)
            layout = _nifti_layout(head)
            if layout is None:
                return None
            if ext == ".nii":
                actual = path.stat().st_size
            else:
                actual = len(head)
                while actual < layout.size:
                    block = fh.read(min(chunk, layout.size - actual))
                    if not block:
                        break
                    actual += len(block)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise VolumeReadError(
            f"Cannot read {path}: the compressed data is cut short or damaged ({exc}); "
            "the missing part would be read as zeros. Copy or export the file again."
        ) from exc
    except OSError:
        return None  # unreadable for another reason: ITK reports it
    if actual < layout.size:
        shape_zyx = " x ".join(str(d) for d in reversed(layout.shape))
        raise VolumeReadError(
            f"Cannot read {path}: the file is truncated; its header describes {shape_zyx} "
            f"voxels ({layout.size} bytes) but it holds only {actual} bytes, and the missing "
            "part would be read as zeros. Copy or export the file again."
        )
    return layout


def _restore_nifti_non_finite(path: Path, ext: str, layout: _NiftiLayout, array: np.ndarray) -> None:
    """Put back the NaN and infinite voxels that ITK's NIfTI reader turns into 0 (in place).

    ITK keeps the file's voxel order (x fastest, as numpy's C order of (z, y, x)), so
    the n-th stored value is ``array.flat[n]``.
    """
    kind = _NIFTI_FLOATS.get(layout.datatype)
    if kind is None or array.dtype.kind != "f":
        return
    dtype = np.dtype(layout.byte_order + kind)
    try:
        with _open_nifti(path, ext) as fh:
            fh.seek(layout.data_offset)
            raw = np.frombuffer(fh.read(layout.size - layout.data_offset), dtype=dtype)
    except (OSError, EOFError, zlib.error, ValueError):
        return
    if raw.size != array.size:
        return
    lost = np.flatnonzero(~np.isfinite(raw))
    if lost.size:
        array.reshape(-1)[lost] = raw[lost]


@contextlib.contextmanager
def _unambiguous_name(path: Path, ext: str):
    """A name under which ITK reads ``path`` itself.

    Asked for ``scan.nii.gz``, ITK's NIfTI library opens ``scan.nii`` instead when that
    file exists too; such a file is then read through a link in a private folder.
    """
    stem = path.name[: -len(ext)] if path.name.lower().endswith(ext) else path.name
    if ext != ".nii.gz" or not (path.parent / f"{stem}.nii").exists():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="napari-mcsc-") as folder:
        link = Path(folder) / f"volume{ext}"
        try:
            link.symlink_to(path.resolve())
        except OSError:  # no symlinks here (Windows without the privilege): copy
            shutil.copyfile(path, link)
        yield link


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


# --------------------------------------------------------------------------- write


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
