"""Tests for napari_mcsc.io: round trips keep voxels and geometry, errors are clear."""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from cli_helpers import GEOMETRY, _image
from napari_mcsc.io import (
    SUPPORTED_EXTENSIONS,
    Geometry,
    Volume,
    VolumeReadError,
    geometry_of,
    is_supported_path,
    read_volume,
    split_extension,
    volume_name,
    write_volume,
)

SPACING = (0.7, 1.3, 4.5)  # x, y, z (SimpleITK order)
ORIGIN = (-12.3, 45.6, 7.25)
_C, _S = math.cos(math.radians(30)), math.sin(math.radians(30))
ROTATION_Z = (_C, -_S, 0.0, _S, _C, 0.0, 0.0, 0.0, 1.0)
# Axis permutation (x <-> y) combined with a z flip: a proper rotation, not diagonal.
PERMUTE_FLIP = (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
FILE_EXTENSIONS = (".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr")


def _volume_array(dtype=np.int16) -> np.ndarray:
    """6 x 9 x 11 (z, y, x) array where every voxel is distinct (catches axis swaps)."""
    rng = np.random.default_rng(0)
    base = np.arange(6 * 9 * 11).reshape(6, 9, 11)
    return (base * 7 + rng.integers(0, 5, base.shape)).astype(dtype)


def _assert_geometry_close(actual: Geometry, expected: Geometry, tol: float = 1e-5) -> None:
    # NIfTI stores spacing/origin as float32, so allow float32 rounding, nothing more.
    np.testing.assert_allclose(actual.spacing, expected.spacing, atol=tol, rtol=0)
    np.testing.assert_allclose(actual.origin, expected.origin, atol=tol, rtol=0)
    np.testing.assert_allclose(actual.direction, expected.direction, atol=tol, rtol=0)


# ------------------------------------------------------------------------ Geometry


def test_geometry_dict_round_trip_and_numpy_order():
    geom = Geometry(SPACING, ORIGIN, ROTATION_Z)
    as_dict = geom.to_dict()
    assert as_dict == {
        "spacing": list(SPACING),
        "origin": list(ORIGIN),
        "direction": list(ROTATION_Z),
    }
    assert all(type(v) is float for values in as_dict.values() for v in values)
    assert Geometry.from_dict(as_dict) == geom
    assert geom.spacing_zyx == (4.5, 1.3, 0.7)
    assert geom.origin_zyx == (7.25, 45.6, -12.3)
    assert geom.ndim == 3
    assert not geom.is_axis_aligned


def test_geometry_identity_and_from_zyx():
    ident = Geometry.identity(3)
    assert ident.spacing == (1.0, 1.0, 1.0)
    assert ident.origin == (0.0, 0.0, 0.0)
    assert ident.direction == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert ident.is_axis_aligned
    geom = Geometry.from_zyx((4.5, 1.3, 0.7), (7.0, 8.0, 9.0))
    assert geom.spacing == (0.7, 1.3, 4.5)
    assert geom.origin == (9.0, 8.0, 7.0)
    assert geom.direction == ident.direction


def test_geometry_apply_to_and_geometry_of():
    geom = Geometry(SPACING, ORIGIN, ROTATION_Z)
    image = geom.apply_to(sitk.GetImageFromArray(_volume_array()))
    assert image.GetSpacing() == pytest.approx(SPACING)
    assert image.GetOrigin() == pytest.approx(ORIGIN)
    assert image.GetDirection() == pytest.approx(ROTATION_Z)
    assert geometry_of(image) == geom
    assert geometry_of(Volume(_volume_array(), geom)) is geom
    with pytest.raises(ValueError, match="2-D image"):
        geom.apply_to(sitk.GetImageFromArray(np.zeros((4, 5))))
    with pytest.raises(TypeError, match="geometry_of"):
        geometry_of(np.zeros((2, 2)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spacing": (1, 1), "origin": (0, 0, 0), "direction": (1, 0, 0, 1)}, "origin has 3"),
        ({"spacing": (1, 1), "origin": (0, 0), "direction": (1, 0, 0)}, "needs 4"),
        ({"spacing": (1, 0), "origin": (0, 0), "direction": (1, 0, 0, 1)}, "positive"),
        ({"spacing": (1, "a"), "origin": (0, 0), "direction": (1, 0, 0, 1)}, "numbers"),
    ],
)
def test_geometry_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Geometry(**kwargs)


def test_geometry_from_dict_missing_key():
    with pytest.raises(ValueError, match="missing direction"):
        Geometry.from_dict({"spacing": [1, 1], "origin": [0, 0]})


# ------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("name", "stem", "ext"),
    [
        ("scan.nii.gz", "scan", ".nii.gz"),
        ("Scan.NII.GZ", "Scan", ".nii.gz"),
        ("scan.v2.nii", "scan.v2", ".nii"),
        ("a.mha", "a", ".mha"),
        ("a.mhd", "a", ".mhd"),
        ("a.nrrd", "a", ".nrrd"),
        ("a.nhdr", "a", ".nhdr"),
        ("a.tif", "a.tif", ""),
        (".nii.gz", ".nii.gz", ""),
    ],
)
def test_split_extension(name, stem, ext):
    assert split_extension(Path("/some/folder") / name) == (stem, ext)


def test_volume_name(tmp_path):
    assert volume_name(tmp_path / "case_01.nii.gz") == "case_01"
    assert volume_name(tmp_path / "case_01.nhdr") == "case_01"
    folder = tmp_path / "series_A"
    folder.mkdir()
    assert volume_name(folder) == "series_A"


# ------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("direction", [ROTATION_Z, PERMUTE_FLIP], ids=["rot30z", "permflip"])
@pytest.mark.parametrize("ext", FILE_EXTENSIONS)
def test_round_trip_keeps_array_and_geometry(tmp_path, ext, direction):
    array = _volume_array()
    geom = Geometry(SPACING, ORIGIN, direction)
    path = tmp_path / f"case{ext}"
    written = write_volume(path, array, geom)
    assert written == str(path)
    assert path.is_file()

    volume = read_volume(path)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, array)
    _assert_geometry_close(volume.geometry, geom)
    assert volume.name == "case"
    assert volume.path == str(path)
    # No temporary files are left behind next to the output.
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]
    assert leftovers == []


@pytest.mark.parametrize("ext", [".mha", ".nrrd"])
def test_exact_geometry_for_double_precision_formats(tmp_path, ext):
    geom = Geometry(SPACING, ORIGIN, ROTATION_Z)
    path = write_volume(tmp_path / f"x{ext}", _volume_array(np.float32), geom)
    back = read_volume(path).geometry
    assert back.spacing == SPACING
    assert back.origin == ORIGIN
    np.testing.assert_allclose(back.direction, ROTATION_Z, atol=1e-12)


def test_write_without_geometry_uses_identity(tmp_path):
    path = write_volume(tmp_path / "plain.nrrd", _volume_array(), None)
    assert read_volume(path).geometry == Geometry.identity(3)


def test_write_creates_parent_folders_and_overwrites(tmp_path):
    path = tmp_path / "a" / "b" / "seg.nii.gz"
    write_volume(path, np.zeros((3, 4, 5), np.uint8), None)
    write_volume(path, np.full((3, 4, 5), 2, np.uint8), None)
    back = read_volume(path)
    assert back.array.shape == (3, 4, 5)
    assert np.all(back.array == 2)
    assert sorted(p.name for p in path.parent.iterdir()) == ["seg.nii.gz"]


def test_2d_image_round_trip(tmp_path):
    array = np.arange(9 * 11, dtype=np.float32).reshape(9, 11)
    geom = Geometry((0.5, 0.25), (3.0, -4.0), (0.0, 1.0, 1.0, 0.0))
    volume = read_volume(write_volume(tmp_path / "slice.mha", array, geom))
    assert volume.array.ndim == 2
    np.testing.assert_array_equal(volume.array, array)
    _assert_geometry_close(volume.geometry, geom)


# ------------------------------------------------------------------------ dtypes


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        (np.array([0, 1, 3]), bool, np.uint8),
        (np.array([0, 1, 200]), np.int64, np.uint8),
        (np.array([0, 1, 300]), np.int64, np.int16),
        (np.array([-5, 1, 3]), np.int64, np.int16),
        (np.array([0, 1, 70000]), np.int64, np.int32),
        (np.array([0, 1, 3]), np.uint64, np.uint8),
        (np.array([0, 1, 3]), np.uint8, np.uint8),
        (np.array([0, 1, 3]), np.uint16, np.uint16),
        (np.array([0, 1, 3]), np.int32, np.int32),
        (np.array([0, 1.5, 3]), np.float16, np.float32),
    ],
)
@pytest.mark.parametrize("ext", [".nii.gz", ".mha", ".nrrd"])
def test_label_dtypes_are_kept_or_narrowed(tmp_path, ext, values, dtype, expected):
    array = np.zeros((4, 5, 6), dtype=dtype)
    array[1, 2, :3] = values.astype(dtype)
    back = read_volume(write_volume(tmp_path / f"labels{ext}", array, None)).array
    assert back.dtype == expected
    np.testing.assert_array_equal(back, array.astype(expected))


def test_write_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"unknown file extension.*\.nii\.gz"):
        write_volume(tmp_path / "out.tif", np.zeros((2, 3, 4)), None)
    with pytest.raises(ValueError, match="geometry is 2-D"):
        write_volume(tmp_path / "out.nii.gz", np.zeros((2, 3, 4)), Geometry.identity(2))
    with pytest.raises(ValueError, match="1-D array"):
        write_volume(tmp_path / "out.nii.gz", np.zeros(5), None)
    with pytest.raises(ValueError, match="dtype complex"):
        write_volume(tmp_path / "out.nii.gz", np.zeros((2, 3, 4), complex), None)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ DICOM


def write_dicom_series(folder: Path, array: np.ndarray, geometry: Geometry, series_uid: str):
    """Write an int16 (z, y, x) array as one DICOM file per slice (for the tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    image = geometry.apply_to(sitk.GetImageFromArray(array.astype(np.int16)))
    d = geometry.direction
    orientation = "\\".join(str(v) for v in (d[0], d[3], d[6], d[1], d[4], d[7]))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        slice_k = image[:, :, k]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        tags = {
            "0008|0060": "CT",
            "0008|0016": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
            "0008|0018": f"{series_uid}.{k + 1}",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.99",
            "0020|000e": series_uid,
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(str(v) for v in position),
            "0020|0037": orientation,
            "0018|0050": str(geometry.spacing[2]),
            "0028|0030": f"{geometry.spacing[1]}\\{geometry.spacing[0]}",
        }
        for key, value in tags.items():
            slice_k.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice_{k:03d}.dcm"))
        writer.Execute(slice_k)


@pytest.mark.parametrize("direction", [(1, 0, 0, 0, 1, 0, 0, 0, 1), ROTATION_Z], ids=["eye", "rot"])
def test_dicom_series_folder(tmp_path, direction):
    array = _volume_array()
    geom = Geometry(SPACING, ORIGIN, direction)
    folder = tmp_path / "CT_series"
    write_dicom_series(folder, array, geom, "1.2.826.0.1.3680043.2.1125.1")
    assert is_supported_path(folder)

    volume = read_volume(folder)
    assert volume.name == "CT_series"
    assert volume.array.shape == (6, 9, 11)
    np.testing.assert_array_equal(volume.array, array)
    np.testing.assert_allclose(volume.geometry.spacing, SPACING, atol=1e-3)
    np.testing.assert_allclose(volume.geometry.origin, ORIGIN, atol=1e-3)
    np.testing.assert_allclose(volume.geometry.direction, direction, atol=1e-3)


def test_dicom_folder_with_two_series_reads_largest_and_warns(tmp_path):
    folder = tmp_path / "mixed"
    geom = Geometry(SPACING, ORIGIN, (1, 0, 0, 0, 1, 0, 0, 0, 1))
    write_dicom_series(folder / "a", _volume_array(), geom, "1.2.826.0.1.3680043.2.1125.7")
    small = _volume_array()[:3]
    write_dicom_series(folder / "b", small, geom, "1.2.826.0.1.3680043.2.1125.8")
    for sub in ("a", "b"):  # put both series side by side in one folder
        for f in (folder / sub).iterdir():
            f.rename(folder / f"{sub}_{f.name}")
    with pytest.warns(UserWarning, match=r"2 DICOM series.*1\.2\.826\.0\.1\.3680043\.2\.1125\.7"):
        volume = read_volume(folder)
    assert volume.array.shape == (6, 9, 11)


# ------------------------------------------------------------------------ errors


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such file or folder: .*nothing\.nii\.gz"):
        read_volume(tmp_path / "nothing.nii.gz")


def test_unsupported_extension(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert not is_supported_path(path)
    with pytest.raises(VolumeReadError, match=r"notes\.txt.*unsupported.*NIfTI"):
        read_volume(path)


def test_damaged_file(tmp_path):
    path = tmp_path / "broken.nii.gz"
    path.write_bytes(b"this is not a nifti file at all" * 20)
    assert is_supported_path(path)  # cheap check goes by the extension
    with pytest.raises(VolumeReadError, match=r"broken\.nii\.gz"):
        read_volume(path)


def test_folder_without_dicom(tmp_path):
    folder = tmp_path / "empty_case"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images here")
    assert not is_supported_path(folder)
    with pytest.raises(VolumeReadError, match="no DICOM series"):
        read_volume(folder)


def test_vector_image_is_refused(tmp_path):
    rgb = sitk.GetImageFromArray(np.zeros((4, 5, 6, 3), np.uint8), isVector=True)
    path = tmp_path / "rgb.mha"
    sitk.WriteImage(rgb, str(path))
    with pytest.raises(VolumeReadError, match="multi-component"):
        read_volume(path)


def test_is_supported_path_variants(tmp_path):
    for ext in SUPPORTED_EXTENSIONS:
        path = tmp_path / f"f{ext}"
        path.write_bytes(b"")
        assert is_supported_path(path), ext
        assert is_supported_path(str(path)), ext
    upper = tmp_path / "CASE.NII.GZ"
    upper.write_bytes(b"")
    assert is_supported_path(upper)
    assert not is_supported_path(tmp_path / "missing.nii.gz")
    dicom_named = tmp_path / "dcm"
    dicom_named.mkdir()
    (dicom_named / "IM0001.DCM").write_bytes(b"")
    assert is_supported_path(dicom_named)
    sniffed = tmp_path / "no_suffix"
    sniffed.mkdir()
    (sniffed / "IM0001").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)
    assert is_supported_path(sniffed)


def test_the_extension_list_feeds_the_file_filter_and_the_help():
    from napari_mcsc.io.formats import _FORMATS_HELP, FILENAME_PATTERNS, VOLUME_FILE_FILTER

    assert set(SUPPORTED_EXTENSIONS) == set(FILE_EXTENSIONS)
    assert SUPPORTED_EXTENSIONS.index(".nii.gz") < SUPPORTED_EXTENSIONS.index(".nii")  # greedy match
    assert tuple(f"*{ext}" for ext in SUPPORTED_EXTENSIONS) == FILENAME_PATTERNS
    name, _, patterns = VOLUME_FILE_FILTER.partition(" (")
    assert name == "Volumes" and patterns.endswith(")")
    assert patterns[:-1].split() == list(FILENAME_PATTERNS)
    for ext in SUPPORTED_EXTENSIONS:
        assert re.search(re.escape(ext) + r"[,)]", _FORMATS_HELP), ext


def test_read_does_not_warn_for_single_series(tmp_path):
    folder = tmp_path / "one"
    write_dicom_series(folder, _volume_array(), Geometry.identity(3), "1.2.3.4.5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_volume(os.fspath(folder))


def test_truncated_metaimage_message_is_not_a_stale_errno(tmp_path):
    path = Path(write_volume(tmp_path / "v.mha", _image(), GEOMETRY))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(VolumeReadError) as info:
        read_volume(path)
    assert "No such file or directory" not in str(info.value) and "v.mha" in str(info.value)


def test_a_4d_scan_stored_as_vectors_is_described_as_such(tmp_path):
    path = tmp_path / "series.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 5, 64), np.float32)), str(path))
    with pytest.raises(VolumeReadError, match=r"64 values per voxel.*4-D scan.*frame"):
        read_volume(path)


def test_folders_globs_and_files_expand_to_volumes(tmp_path):
    import numpy as np

    from napari_mcsc.io import Geometry, expand_volume_paths, write_volume

    folder = tmp_path / "study"
    folder.mkdir()
    geometry = Geometry.from_zyx(spacing_zyx=(1.0, 1.0, 1.0))
    for name in ("b.nii.gz", "a.mha", "c.nrrd"):
        write_volume(folder / name, np.zeros((2, 4, 4), np.float32), geometry)
    (folder / "notes.txt").write_text("not a volume")
    assert [p.name for p in expand_volume_paths([folder])] == ["a.mha", "b.nii.gz", "c.nrrd"]
    assert [p.name for p in expand_volume_paths([str(folder / "*.nii.gz")])] == ["b.nii.gz"]
    both = expand_volume_paths([folder / "a.mha", folder])
    assert len(both) == 3  # a file named twice is read once
