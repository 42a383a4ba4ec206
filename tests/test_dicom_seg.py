"""DICOM SEG export: a tiny oblique CT series made here, segmented, written as SEG and
read back with highdicom and, independently, with plain pydicom."""

from __future__ import annotations

import numpy as np
import pytest

from dicom_series import write_ct_series
from napari_mcsc.io import Geometry, read_volume, write_volume

hd = pytest.importorskip("highdicom")
pydicom = pytest.importorskip("pydicom")

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
# An oblique direction (columns: the x, y and z axes; a proper rotation).
_C, _S = np.cos(0.4), np.sin(0.4)
OBLIQUE = np.array([[_C, -_S, 0], [_S, _C, 0], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, _C, -_S], [0, _S, _C]])
GEOMETRY = Geometry((0.7, 0.8, 2.5), (-10.0, 20.0, -30.0), tuple(OBLIQUE.ravel()))


@pytest.fixture()
def series(tmp_path):
    """A 6-slice oblique CT series on disk, the volume read from it and a 2-class label map
    (values 1 and 3; slices 0 and 5 empty)."""
    rng = np.random.default_rng(0)
    scan = rng.integers(-200, 200, size=(6, 12, 10)).astype(np.int16)
    folder = tmp_path / "CT"
    uids = write_ct_series(folder, scan, GEOMETRY)
    volume = read_volume(folder)
    labels = np.zeros(scan.shape, np.uint8)
    labels[1, 2:6, 3:7] = 1
    labels[2:4, 7:10, 1:4] = 3
    labels[4, 0:3, 0:2] = 1
    return folder, uids, volume, labels


def test_the_series_reads_with_its_oblique_geometry(series):
    _, _, volume, _ = series
    assert volume.geometry.isclose(GEOMETRY, atol=1e-4)


def test_seg_reads_back_with_highdicom(series, tmp_path):
    from napari_mcsc.dicom_seg import PALETTE, write_dicom_seg

    folder, uids, volume, labels = series
    out = write_dicom_seg(tmp_path / "out" / "seg.dcm", labels, folder, volume.geometry, names={3: "lesion"})
    seg = hd.seg.segread(out)
    assert seg.SOPClassUID == SEGMENTATION_STORAGE
    assert seg.SegmentationType == "BINARY"
    assert [s.SegmentNumber for s in seg.SegmentSequence] == [1, 2]
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["label 1", "lesion"]
    for item in seg.SegmentSequence:
        assert item.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "85756007"
        assert item.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == "SCT"
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        assert item.SegmentAlgorithmName == "napari-mcsc"
    rgb = hd.color.CIELabColor.from_dicom_value(seg.SegmentSequence[0].RecommendedDisplayCIELabValue).to_rgb()
    assert np.abs(np.subtract(rgb, PALETTE[0])).max() <= 2
    # One frame per non-empty (slice, segment): slices 1, 4 of segment 1, slices 2, 3 of segment 2.
    assert seg.number_of_frames == 4
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uids["series"]
    assert seg.StudyInstanceUID == uids["study"] and seg.FrameOfReferenceUID == uids["frame"]
    sources = [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(folder.iterdir())]
    by_position = sorted(
        sources, key=lambda ds: float(np.dot(ds.ImagePositionPatient, OBLIQUE[:, 2]))
    )  # slice k of the volume
    pixels = seg.get_pixels_by_source_instance(
        [ds.SOPInstanceUID for ds in by_position],
        combine_segments=True,
        relabel=False,
        assert_missing_frames_are_empty=True,
    )
    expected = np.select([labels == 1, labels == 3], [1, 2], 0)  # values -> segment numbers
    np.testing.assert_array_equal(pixels, expected)


def test_seg_reads_back_with_plain_pydicom(series, tmp_path):
    """Frame by frame: the referenced slice, the segment and the mask."""
    from napari_mcsc.dicom_seg import write_dicom_seg

    folder, uids, volume, labels = series
    out = write_dicom_seg(tmp_path / "seg.dcm", labels, folder, volume.geometry)
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG" and int(ds.NumberOfFrames) == 4
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == uids["series"]
    assert len(ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence) == 6
    slice_of = {
        src.SOPInstanceUID: round(
            float(np.dot(np.subtract(src.ImagePositionPatient, GEOMETRY.origin), OBLIQUE[:, 2]) / 2.5)
        )
        for src in (pydicom.dcmread(f, stop_before_pixels=True) for f in folder.iterdir())
    }
    frames = ds.pixel_array.reshape(-1, *labels.shape[1:])
    value_of = {1: 1, 2: 3}
    seen = set()
    for frame, item in zip(frames, ds.PerFrameFunctionalGroupsSequence, strict=True):
        number = item.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        source = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        k = slice_of[source]
        np.testing.assert_array_equal(frame.astype(bool), labels[k] == value_of[number])
        seen.add((k, number))
    assert seen == {(1, 1), (4, 1), (2, 2), (3, 2)}


def test_every_class_gets_a_segment_even_when_empty(series, tmp_path):
    from napari_mcsc.dicom_seg import write_dicom_seg

    folder, _, volume, labels = series
    out = write_dicom_seg(tmp_path / "seg.dcm", labels, folder, volume.geometry, values=(0, 1, 2, 3))
    seg = hd.seg.segread(out)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["label 1", "label 2", "label 3"]


def test_a_prediction_that_found_nothing_still_writes_its_segments(series, tmp_path):
    from napari_mcsc.dicom_seg import write_dicom_seg

    folder, _, volume, labels = series
    empty = np.zeros_like(labels)
    out = write_dicom_seg(tmp_path / "seg.dcm", empty, folder, volume.geometry, values=(0, 1, 2))
    seg = hd.seg.segread(out)
    assert len(seg.SegmentSequence) == 2 and not seg.pixel_array.any()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda labels, geometry: (labels[:5], geometry), "6 files but the labels have 5 slices"),
        (lambda labels, geometry: (labels[:, :11], geometry), "12 x 10 pixels"),
        (
            lambda labels, geometry: (
                labels,
                Geometry(geometry.spacing, (0.0, 0.0, 0.0), geometry.direction),
            ),
            "does not lie on a slice",
        ),
        (lambda labels, geometry: (labels, Geometry.identity(3)), "oriented differently"),
        (lambda labels, geometry: (np.zeros_like(labels), geometry), "all background"),
        (lambda labels, geometry: (labels.astype(np.float32), geometry), "label values"),
    ],
    ids=["depth", "rows", "origin", "direction", "empty", "float"],
)
def test_labels_that_do_not_fit_the_series_are_refused(series, tmp_path, change, message):
    from napari_mcsc.dicom_seg import DicomSegError, write_dicom_seg

    folder, _, volume, labels = series
    labels, geometry = change(labels, volume.geometry)
    with pytest.raises(DicomSegError, match=message):
        write_dicom_seg(tmp_path / "seg.dcm", labels, folder, geometry)
    assert not (tmp_path / "seg.dcm").exists()


def test_a_value_outside_the_classes_is_refused(series, tmp_path):
    from napari_mcsc.dicom_seg import DicomSegError, write_dicom_seg

    folder, _, volume, labels = series
    with pytest.raises(DicomSegError, match=r"label values \[3\]"):
        write_dicom_seg(tmp_path / "seg.dcm", labels, folder, volume.geometry, values=(0, 1))


def test_a_nifti_source_is_refused(series, tmp_path):
    from napari_mcsc.dicom_seg import DicomSegError, write_dicom_seg

    _, _, volume, labels = series
    nifti = write_volume(tmp_path / "scan.nii.gz", volume.array, volume.geometry)
    with pytest.raises(DicomSegError, match="not a DICOM series folder"):
        write_dicom_seg(tmp_path / "seg.dcm", labels, nifti, volume.geometry)


# ------------------------------------------------------------------- napari writer


def test_writer_saves_a_layer_over_a_dicom_scan_as_seg(series, tmp_path):
    from napari_mcsc._reader import read_layers
    from napari_mcsc._writer import write_labels

    folder, uids, _, labels = series
    (_, kwargs, kind) = read_layers(str(folder))[0]
    assert kind == "image"
    written = write_labels(str(tmp_path / "saved.dcm"), labels, kwargs)
    seg = hd.seg.segread(written[0])
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uids["series"]
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"


def test_writer_refuses_seg_for_a_layer_not_from_dicom(series, tmp_path):
    from napari_mcsc._writer import write_dicom_seg_labels

    _, _, _, labels = series
    meta = {"metadata": {"napari_mcsc": {"source": str(tmp_path / "scan.nii.gz")}}}
    with pytest.raises(ValueError, match=r"DICOM folder.*save it as \.nii\.gz"):
        write_dicom_seg_labels(str(tmp_path / "saved.dcm"), labels, meta)
    with pytest.raises(ValueError, match="came from no file"):
        write_dicom_seg_labels(str(tmp_path / "saved.dcm"), labels, {})


def test_manifest_offers_the_seg_writer():
    from pathlib import Path

    import yaml

    import napari_mcsc

    spec = yaml.safe_load((Path(napari_mcsc.__file__).parent / "napari.yaml").read_text())
    writers = {w["command"]: w for w in spec["contributions"]["writers"]}
    assert writers["napari-mcsc.write_dicom_seg"]["filename_extensions"] == [".dcm"]


# ---------------------------------------------------------------------- predict CLI


@pytest.fixture()
def model_file(tmp_path, tiny_config):
    """An untrained tiny model with classes 0, 1, 2 saved to disk (predict needs only a model)."""
    from napari_mcsc.checkpoint import save_model
    from napari_mcsc.data.labels import LabelMapping
    from napari_mcsc.data.normalise import Normalisation
    from napari_mcsc.model import SegmentationModel

    model = SegmentationModel.create(tiny_config.model_settings(), LabelMapping((0, 1, 2)), Normalisation())
    return save_model(model, tmp_path / "model.pt")


def test_predict_writes_a_seg_per_dicom_series(series, tmp_path, model_file):
    from napari_mcsc.cli import main

    folder, uids, volume, _ = series
    out = tmp_path / "pred"
    args = ["predict", "--model", str(model_file), "--image", str(folder), "--out", str(out)]
    assert main([*args, "--dicom-seg", "--device", "cpu"]) == 0
    seg = hd.seg.segread(out / "CT_prediction.dcm")
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["label 1", "label 2"]
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uids["series"]
    nifti = read_volume(out / "CT_prediction.nii.gz")
    assert nifti.geometry.isclose(volume.geometry, atol=1e-4)


def test_predict_refuses_dicom_seg_for_a_nifti_input(series, tmp_path, capsys, model_file):
    from napari_mcsc.cli import main

    _, _, volume, _ = series
    nifti = write_volume(tmp_path / "scan.nii.gz", volume.array, volume.geometry)
    args = ["predict", "--model", str(model_file), "--image", nifti, "--out", str(tmp_path / "p")]
    assert main([*args, "--dicom-seg"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--dicom-seg needs DICOM series folders" in err
    assert not (tmp_path / "p").exists()
