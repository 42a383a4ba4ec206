"""NIfTI byte checks around ITK's reader: refuse a truncated file (ITK would fill the
missing voxels with 0), put back the NaN/inf voxels ITK zeroes, and read ``x.nii.gz``
itself when ``x.nii`` lies next to it."""

from __future__ import annotations

import contextlib
import gzip
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_mcsc.io.formats import VolumeReadError

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
