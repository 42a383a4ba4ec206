"""Reading and writing medical volumes (NIfTI, MetaImage, NRRD, DICOM series).

Everything here goes through SimpleITK and keeps the image *geometry* (voxel spacing,
origin and direction cosines) next to the voxel array, so a segmentation written back
to disk lands exactly on top of the scan it was made from in any other viewer (3D
Slicer, ITK-SNAP, ...). The package imports neither Qt nor torch: the CLI, the training
code and the napari reader/writer all share it.

Axis-order convention: arrays are in numpy order ``(z, y, x)`` (what
``sitk.GetArrayFromImage`` returns), while :class:`Geometry` stores spacing, origin
and direction in SimpleITK's ``(x, y, z)`` order, exactly as SimpleITK reports them.
Use :attr:`Geometry.spacing_zyx` / :attr:`Geometry.origin_zyx` when you need them in
array order (e.g. for napari's ``scale`` / ``translate``).

One subject per module: :mod:`~napari_mcsc.io.formats` (the one list of supported
extensions, :class:`VolumeReadError`), :mod:`~napari_mcsc.io.geometry`,
:mod:`~napari_mcsc.io.volumes` (reading, writing, paths), :mod:`~napari_mcsc.io.nifti`
(byte checks of NIfTI files) and :mod:`~napari_mcsc.io.dicom` (DICOM series folders).
The public names are re-exported here.
"""

from __future__ import annotations

from napari_mcsc.atomic import atomic_write
from napari_mcsc.io.dicom import dicom_series_files, is_dicom_folder
from napari_mcsc.io.formats import SUPPORTED_EXTENSIONS, VolumeReadError
from napari_mcsc.io.geometry import Geometry, geometry_mismatch, geometry_of
from napari_mcsc.io.volumes import (
    Volume,
    expand_volume_paths,
    is_supported_path,
    read_volume,
    split_extension,
    volume_name,
    write_volume,
)

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Geometry",
    "Volume",
    "VolumeReadError",
    "atomic_write",
    "dicom_series_files",
    "expand_volume_paths",
    "geometry_mismatch",
    "geometry_of",
    "is_dicom_folder",
    "is_supported_path",
    "read_volume",
    "split_extension",
    "volume_name",
    "write_volume",
]
