"""io/dicom.py: a DICOM series with a damaged or missing slice is refused, naming the slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from napari_mcsc.io import VolumeReadError, read_volume


def _write_dicom_series(folder: Path, n: int = 12, spacing: float = 3.0) -> np.ndarray:
    folder.mkdir(parents=True)
    array = np.random.default_rng(0).integers(0, 1000, (n, 16, 16)).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.7, spacing))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series = "1.2.826.0.1.3680043.2.1125.9.1"
    for i in range(n):
        s = image[:, :, i]
        for tag, value in {
            "0020|000e": series,
            "0020|000d": "1.2.826.0.1.3680043.2.1125.9.2",
            "0008|0060": "MR",
            "0020|0032": "\\".join(map(str, image.TransformIndexToPhysicalPoint((0, 0, i)))),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0020|0013": str(i + 1),
            "0008|0018": f"{series}.{i + 1}",
        }.items():
            s.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{i:03d}.dcm"))
        writer.Execute(s)
    return array


def test_intact_dicom_series_reads(tmp_path):
    array = _write_dicom_series(tmp_path / "series")
    volume = read_volume(tmp_path / "series")
    assert volume.shape == array.shape
    assert volume.geometry.spacing[2] == pytest.approx(3.0)


def test_dicom_series_with_a_damaged_slice_is_refused(tmp_path):
    folder = tmp_path / "series"
    _write_dicom_series(folder)
    damaged = folder / "slice005.dcm"
    damaged.write_bytes(damaged.read_bytes()[:300])
    with pytest.raises(VolumeReadError, match=r"1 slice missing.*slice005\.dcm"):
        read_volume(folder)


def test_dicom_series_with_a_slice_gone_is_refused(tmp_path):
    folder = tmp_path / "series"
    _write_dicom_series(folder)
    (folder / "slice007.dcm").unlink()
    with pytest.raises(VolumeReadError, match=r"slice006\.dcm and slice008\.dcm are 6 mm apart"):
        read_volume(folder)


def test_dicom_series_with_a_damaged_end_slice_names_it(tmp_path):
    folder = tmp_path / "series"
    _write_dicom_series(folder)
    (folder / "slice011.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02" * 40)
    with pytest.warns(UserWarning, match=r"slice011\.dcm"):
        assert read_volume(folder).shape[0] == 11
