"""io/nifti.py: truncated NIfTI files are refused, NaN voxels kept, ``x.nii.gz`` read as itself."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import GEOMETRY, SHAPE, _image
from napari_mcsc.io import VolumeReadError, read_volume, write_volume


@pytest.mark.parametrize(
    ("ext", "keep"), [(".nii.gz", 200), (".nii.gz", 0.5), (".nii.gz", -12), (".nii", 0.5), (".nii", -1)]
)
def test_truncated_nifti_is_refused(tmp_path, ext, keep):
    data = Path(write_volume(tmp_path / f"whole{ext}", _image(), GEOMETRY)).read_bytes()
    n = (
        keep
        if isinstance(keep, int) and keep > 0
        else (int(len(data) * keep) if isinstance(keep, float) else len(data) + keep)
    )
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[:n])
    with pytest.raises(VolumeReadError, match=r"cut\.nii.*(truncated|cut short)"):
        read_volume(path)


def test_complete_nifti_still_reads(tmp_path):
    for ext in (".nii", ".nii.gz"):
        path = write_volume(tmp_path / f"ok{ext}", _image(), GEOMETRY)
        np.testing.assert_array_equal(read_volume(path).array, _image())
    # a gzip file with trailing padding still holds all its voxels
    path = tmp_path / "padded.nii.gz"
    path.write_bytes(Path(tmp_path / "ok.nii.gz").read_bytes())
    assert read_volume(path).shape == SHAPE


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_nifti_nan_voxels_stay_nan(tmp_path, ext):
    """ITK's NIfTI reader turns NaN and infinities into 0 (and 0 HU is water in a CT)."""
    image = _image()
    image[:, :4] = np.nan
    image[:, 5, :3] = [np.inf, -np.inf, np.inf]
    volume = read_volume(write_volume(tmp_path / f"nan{ext}", image, GEOMETRY))
    np.testing.assert_array_equal(volume.array, image)


def test_nii_gz_next_to_a_nii_of_the_same_name_reads_itself(tmp_path):
    """Asked for scan.nii.gz, ITK opens scan.nii when it exists: other voxels, no error."""
    write_volume(tmp_path / "scan.nii", np.zeros(SHAPE, np.float32), GEOMETRY)
    write_volume(tmp_path / "scan.nii.gz", _image(), GEOMETRY)
    np.testing.assert_array_equal(read_volume(tmp_path / "scan.nii.gz").array, _image())
    np.testing.assert_array_equal(read_volume(tmp_path / "scan.nii").array, 0)


def test_gzip_check_does_not_read_more_than_needed(tmp_path):
    """A .nii.gz with data after the voxels (extensions, padding) is complete."""
    path = Path(write_volume(tmp_path / "v.nii.gz", _image(), GEOMETRY))
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw + b"\0" * 64))
    assert read_volume(path).shape == SHAPE
