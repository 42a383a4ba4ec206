"""Tests for the npe2 reader and writer (no viewer needed: they return/take plain data)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from napari_mcsc._reader import looks_like_labels, napari_get_reader, read_layers
from napari_mcsc._writer import geometry_from_layer_meta, write_labels
from napari_mcsc.io import Geometry, read_volume, write_volume

SPACING = (0.7, 1.3, 4.5)  # x, y, z
ORIGIN = (-12.5, 40.25, 7.0)
_C, _S = math.cos(math.radians(20)), math.sin(math.radians(20))
ROTATION_Z = (_C, -_S, 0.0, _S, _C, 0.0, 0.0, 0.0, 1.0)
GEOMETRY = Geometry(SPACING, ORIGIN, ROTATION_Z)


def _intensity_image() -> np.ndarray:
    return np.linspace(-1000, 1500, 6 * 9 * 11).reshape(6, 9, 11).astype(np.int16)


def _label_map() -> np.ndarray:
    labels = np.zeros((6, 9, 11), np.int16)
    labels[1:4, 2:6, 3:8] = 1
    labels[4, 5:, :4] = 2
    labels[0, 0, 0] = 7
    return labels


# ------------------------------------------------------------------------ get_reader


def test_get_reader_accepts_volumes_and_lists(tmp_path):
    a = write_volume(tmp_path / "a.nii.gz", _intensity_image(), GEOMETRY)
    b = write_volume(tmp_path / "b.nrrd", _intensity_image(), GEOMETRY)
    assert napari_get_reader(a) is read_layers
    assert napari_get_reader(tmp_path / "b.nrrd") is read_layers
    assert napari_get_reader([a, b]) is read_layers


def test_get_reader_declines_other_paths(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    good = write_volume(tmp_path / "a.mha", _intensity_image(), None)
    assert napari_get_reader(str(text)) is None
    assert napari_get_reader(str(tmp_path / "missing.nii.gz")) is None
    assert napari_get_reader(str(tmp_path)) is None  # folder without DICOM
    assert napari_get_reader([good, str(text)]) is None
    assert napari_get_reader([]) is None
    assert napari_get_reader(12345) is None  # type: ignore[arg-type]  # never raises


# ------------------------------------------------------------------------ read_layers


def test_image_layer_gets_scale_translate_and_metadata(tmp_path):
    path = write_volume(tmp_path / "ct_scan.nii.gz", _intensity_image(), GEOMETRY)
    layers = read_layers(path)
    assert len(layers) == 1
    data, kwargs, layer_type = layers[0]
    assert layer_type == "image"
    np.testing.assert_array_equal(data, _intensity_image())
    assert kwargs["name"] == "ct_scan"
    np.testing.assert_allclose(kwargs["scale"], (4.5, 1.3, 0.7), atol=1e-6)
    np.testing.assert_allclose(kwargs["translate"], (7.0, 40.25, -12.5), atol=1e-6)
    meta = kwargs["metadata"]["napari_mcsc"]
    assert meta["source"] == path
    stored = Geometry.from_dict(meta["geometry"])
    assert stored.isclose(GEOMETRY)
    np.testing.assert_allclose(stored.direction, ROTATION_Z, atol=1e-6)


def test_label_like_volume_opens_as_labels(tmp_path):
    path = write_volume(tmp_path / "mask.mha", _label_map().astype(np.int32), GEOMETRY)
    ((data, kwargs, layer_type),) = read_layers([path])
    assert layer_type == "labels"
    assert data.dtype == np.uint8
    np.testing.assert_array_equal(data, _label_map())
    np.testing.assert_allclose(kwargs["scale"], (4.5, 1.3, 0.7))
    np.testing.assert_allclose(kwargs["translate"], (7.0, 40.25, -12.5))
    assert kwargs["metadata"]["napari_mcsc"]["geometry"] == GEOMETRY.to_dict()


def test_reading_a_list_reads_each_path(tmp_path):
    img = write_volume(tmp_path / "img.nrrd", _intensity_image(), GEOMETRY)
    seg = write_volume(tmp_path / "seg.nrrd", _label_map(), GEOMETRY)
    layers = read_layers([img, seg])
    assert [(kw["name"], kind) for _, kw, kind in layers] == [("img", "image"), ("seg", "labels")]


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros((3, 4, 5), np.uint8), True),
        (np.arange(60, dtype=np.uint16).reshape(3, 4, 5), True),
        (np.arange(65, dtype=np.int32), False),  # 65 distinct values
        (np.array([-1, 0, 1, 2], np.int16), False),  # negative: an intensity image
        (np.zeros((3, 4, 5), np.float32), False),  # floats are never labels
        (np.zeros((0,), np.uint8), False),
    ],
)
def test_looks_like_labels(array, expected):
    assert looks_like_labels(array) is expected


def test_label_guess_uses_a_subsample_but_sees_many_values():
    # 2 million voxels with thousands of distinct values: must stay an image.
    big = (np.arange(2_000_000) % 5000).astype(np.int32)
    assert not looks_like_labels(big)


# ------------------------------------------------------------------------ writer


@pytest.mark.parametrize("ext", [".nii.gz", ".nii", ".mha", ".nrrd"])
def test_writer_round_trip_through_reader_keeps_geometry(tmp_path, ext):
    image_path = write_volume(tmp_path / "scan.nii.gz", _intensity_image(), GEOMETRY)
    ((_, image_kwargs, _),) = read_layers(image_path)
    # A labels layer predicted from the image carries the image's metadata.
    labels = _label_map().astype(np.uint8)
    meta = {
        "name": "scan_seg",
        "scale": image_kwargs["scale"],
        "translate": image_kwargs["translate"],
        "metadata": image_kwargs["metadata"],
    }
    out = tmp_path / "out" / f"scan_seg{ext}"
    assert write_labels(str(out), labels, meta) == [str(out)]

    ((data, kwargs, layer_type),) = read_layers(str(out))
    assert layer_type == "labels"
    np.testing.assert_array_equal(data, labels)
    back = Geometry.from_dict(kwargs["metadata"]["napari_mcsc"]["geometry"])
    assert back.isclose(GEOMETRY), (back, GEOMETRY)
    np.testing.assert_allclose(back.direction, ROTATION_Z, atol=1e-6)
    np.testing.assert_allclose(kwargs["scale"], image_kwargs["scale"], atol=1e-6)


def test_writer_with_only_scale_and_translate(tmp_path):
    labels = _label_map().astype(np.int32)
    meta = {"scale": [2.0, 0.5, 0.25], "translate": [10.0, -3.0, 1.5], "metadata": {}}
    (written,) = write_labels(str(tmp_path / "painted.nrrd"), labels, meta)
    volume = read_volume(written)
    np.testing.assert_array_equal(volume.array, labels)
    assert volume.array.dtype == np.int32
    assert volume.geometry.spacing == (0.25, 0.5, 2.0)
    assert volume.geometry.origin == (1.5, -3.0, 10.0)
    assert volume.geometry == Geometry.from_zyx((2.0, 0.5, 0.25), (10.0, -3.0, 1.5))


def test_writer_appends_default_extension_and_converts_bool(tmp_path):
    mask = _label_map() > 0
    (written,) = write_labels(str(tmp_path / "mask"), mask, {})
    assert written == str(tmp_path / "mask.nii.gz")
    volume = read_volume(written)
    assert volume.array.dtype == np.uint8
    np.testing.assert_array_equal(volume.array, mask.astype(np.uint8))
    assert volume.geometry == Geometry.identity(3)


def test_writer_falls_back_when_stored_geometry_does_not_fit(tmp_path):
    meta = {
        "scale": [1.0, 2.0, 3.0],
        "translate": [0.0, 0.0, 0.0],
        "metadata": {"napari_mcsc": {"geometry": Geometry.identity(2).to_dict()}},
    }
    with pytest.warns(UserWarning, match="2-D but the data is 3-D"):
        geom = geometry_from_layer_meta(meta, 3)
    assert geom.spacing == (3.0, 2.0, 1.0)


def test_writer_saves_full_resolution_of_multiscale(tmp_path):
    levels = [_label_map().astype(np.uint8), _label_map()[:, ::2, ::2].astype(np.uint8)]
    (written,) = write_labels(str(tmp_path / "ms.mha"), levels, {"scale": [1, 1, 1]})
    np.testing.assert_array_equal(read_volume(written).array, levels[0])


def test_metadata_names_stay_those_of_saved_sessions():
    # Layers and scripts of earlier versions carry these literal keys: they must not change.
    from napari_mcsc import _reader, constants

    assert (constants.METADATA_KEY, constants.GEOMETRY_KEY, constants.SOURCE_KEY) == (
        "napari_mcsc",
        "geometry",
        "source",
    )
    assert (constants.REVIEWED_KEY, constants.ROLE_KEY) == ("reviewed", "role")
    assert _reader.METADATA_KEY is constants.METADATA_KEY


def test_reader_and_writer_modules_import_without_qt_napari_or_torch():
    code = (
        "import sys, napari_mcsc._reader, napari_mcsc._writer, napari_mcsc.io, napari_mcsc.constants\n"
        "bad = [m for m in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'torch')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
