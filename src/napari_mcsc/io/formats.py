"""The volume formats napari-mcsc reads and writes, and how anything else is refused.

:data:`SUPPORTED_EXTENSIONS` is the one list of volume file extensions: the reader's
:func:`~napari_mcsc.io.is_supported_path`, the file dialogs' filter, the Decathlon case
lookup and (checked by a test) the npe2 manifest's reader patterns all follow it.
"""

from __future__ import annotations

__all__ = ["FILENAME_PATTERNS", "SUPPORTED_EXTENSIONS", "VOLUME_FILE_FILTER", "VolumeReadError"]


#: File extensions read and written by :func:`read_volume` / :func:`write_volume`
#: (lower case; ``.nii.gz`` is listed before ``.nii`` so that suffix matching is greedy).
#: DICOM is supported as a *folder* holding one series, not as single files.
SUPPORTED_EXTENSIONS: tuple[str, ...] = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr")

# Formats whose header refers to a separate data file (.raw/.zraw, .raw.gz): they are
# written in place, because an atomic rename of the header alone would orphan the data.
_DETACHED_HEADER_EXTENSIONS = (".mhd", ".nhdr")

#: Glob patterns of the supported files (``*.nii.gz``, ...), e.g. for napari's reader.
FILENAME_PATTERNS: tuple[str, ...] = tuple(f"*{ext}" for ext in SUPPORTED_EXTENSIONS)

#: Qt file-dialog filter naming every supported file.
VOLUME_FILE_FILTER = f"Volumes ({' '.join(FILENAME_PATTERNS)})"

_FORMATS_HELP = (
    "supported formats are NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd), "
    "NRRD (.nrrd, .nhdr) and a folder holding one DICOM series"
)


class VolumeReadError(ValueError):
    """A path exists but could not be read as a supported volume."""


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
