"""Hostile but realistic inputs (issue 9): nothing lost, nothing silently wrong.

Every test writes its own tiny files into ``tmp_path``. Training is never run for real
where the point is a check that must happen before it: ``run_training`` is replaced by
a stub that raises KeyboardInterrupt, so exit status 130 means "got past every check".
"""

from __future__ import annotations

import gzip
import os
import socket
import stat
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from napari_mcsc.checkpoint import CheckpointError, load_model, save_model
from napari_mcsc.cli import main
from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation
from napari_mcsc.data.slices import AnnotatedVolume, AnnotationError
from napari_mcsc.io import Geometry, VolumeReadError, read_volume, write_volume
from napari_mcsc.model import SegmentationModel

SHAPE = (6, 32, 32)
GEOMETRY = Geometry.from_zyx(spacing_zyx=(3.0, 0.8, 0.8), origin_zyx=(5.0, -2.0, 1.0))


# ------------------------------------------------------------------------ helpers
def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(100.0, 20.0, SHAPE).astype(np.float32)


def _labels() -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    labels[2, 8:20, 8:20] = 1
    labels[4, 10:14, 10:24] = 2
    return labels


def _tiny_config(**changes):
    from napari_mcsc.training import profile

    settings = dict(
        image_size=32,
        batch_size=2,
        labelled_batch_size=1,
        iterations=1,
        max_seconds=None,
        unet_channels=(4, 8, 16, 32, 64),
        swin_embed_dim=12,
        swin_heads=(1, 2, 2, 4),
        swin_window=2,
        projection_dim=8,
        device="cpu",
    )
    settings.update(changes)
    return profile("fast", **settings)


def _model(axis: int = 0) -> SegmentationModel:
    return SegmentationModel.create(
        _tiny_config().model_settings(), LabelMapping((0, 1, 2)), Normalisation(), axis
    )


@pytest.fixture()
def pair(tmp_path):
    """An image and its sparse labels on disk, same geometry."""
    return (
        write_volume(tmp_path / "scan.nii.gz", _image(), GEOMETRY),
        write_volume(tmp_path / "scan_labels.nii.gz", _labels(), GEOMETRY),
    )


@pytest.fixture()
def model_file(tmp_path):
    return str(save_model(_model(), tmp_path / "model.pt"))


@pytest.fixture()
def no_training(monkeypatch):
    """Replace training by Ctrl-C: exit 130 proves every check before it passed."""
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr("napari_mcsc.commands.train.run_training", interrupted)
    return calls


def _one_line_error(capsys, code, expected_code=2):
    err = capsys.readouterr().err.strip()
    assert code == expected_code, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _train(pair, out, *extra):
    return main(
        [
            "train",
            "--image",
            pair[0],
            "--labels",
            pair[1],
            "--out",
            str(out),
            "--iterations",
            "1",
            "--device",
            "cpu",
            "--quiet",
            *extra,
        ]
    )


# ------------------------------------------------------------------- 1. work lost
def test_train_out_under_a_file_is_refused_before_training(pair, tmp_path, capsys, no_training):
    code = _train(pair, Path(pair[0]) / "model.pt")
    err = _one_line_error(capsys, code)
    assert "is a file, not a folder" in err and not no_training


def test_train_out_a_folder_is_refused_before_training(pair, tmp_path, capsys, no_training):
    folder = tmp_path / "models"
    folder.mkdir()
    err = _one_line_error(capsys, _train(pair, folder))
    assert "is a folder" in err and "model.pt" in err and not no_training


def test_train_out_unwritable_at_the_end_saves_next_to_it(pair, tmp_path, capsys, monkeypatch):
    import napari_mcsc.checkpoint as checkpoint

    out = tmp_path / "model.pt"
    real_save = checkpoint.save_model

    def failing_save(model, path):
        if Path(path) == out:
            raise OSError(28, "No space left on device")
        return real_save(model, path)

    monkeypatch.setattr(checkpoint, "save_model", failing_save)
    code = _train(pair, out)
    err = capsys.readouterr().err
    rescued = tmp_path / "model-rescued.pt"
    assert code == 1 and rescued.is_file() and not out.exists()
    assert f"saved to {rescued}" in err and "No space left" in err
    assert load_model(rescued).trained_iterations == 1


@pytest.mark.parametrize("under_file", [True, False])
def test_predict_out_that_is_or_is_under_a_file(pair, model_file, tmp_path, capsys, under_file):
    out = Path(pair[0]) / "preds" if under_file else Path(pair[0])
    code = main(["predict", "--model", model_file, "--image", pair[0], "--out", str(out)])
    err = _one_line_error(capsys, code)
    assert "is a file" in err


@pytest.mark.parametrize("second", ["b/scan.nii.gz", "scan.mha", "SCAN.nrrd"])
def test_predict_never_overwrites_an_output_of_the_same_run(model_file, tmp_path, capsys, second):
    first = write_volume(tmp_path / "a" / "scan.nii.gz", _image(1), GEOMETRY)
    other = write_volume(tmp_path / second, _image(2), GEOMETRY)
    out = tmp_path / "out"
    code = main(["predict", "--model", model_file, "--image", first, "--image", other, "--out", str(out)])
    err = _one_line_error(capsys, code)
    assert "_prediction.nii.gz and the first would be lost" in err.lower()
    assert not out.exists() or not any(out.iterdir())


def test_predict_same_file_twice_says_so(model_file, pair, tmp_path, capsys):
    code = main(
        [
            "predict",
            "--model",
            model_file,
            "--image",
            pair[0],
            "--image",
            pair[0],
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert "are the same file" in _one_line_error(capsys, code)


# -------------------------------------------------------------- 3. truncated files
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


def test_truncated_label_file_stops_training(pair, tmp_path, capsys, no_training):
    cut = Path(write_volume(tmp_path / "cut_labels.nii", _labels(), GEOMETRY))
    cut.write_bytes(cut.read_bytes()[:-100])  # the last slices' labels are gone
    code = _train((pair[0], str(cut)), tmp_path / "m.pt")
    err = _one_line_error(capsys, code)
    assert "cut_labels.nii" in err and "truncated" in err and not no_training


def test_truncated_metaimage_message_is_not_a_stale_errno(tmp_path):
    path = Path(write_volume(tmp_path / "v.mha", _image(), GEOMETRY))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(VolumeReadError) as info:
        read_volume(path)
    assert "No such file or directory" not in str(info.value) and "v.mha" in str(info.value)


# ------------------------------------------------------------------- 4. DICOM gaps
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


# ------------------------------------------------------------------ 5. geometry
@pytest.mark.parametrize(
    "labels_geometry",
    [
        Geometry.from_zyx(spacing_zyx=(3.0, 1.0, 1.0), origin_zyx=(5.0, -2.0, 1.0)),
        Geometry.from_zyx(spacing_zyx=(3.0, 0.8, 0.8), origin_zyx=(5.0, -2.0, 11.0)),
        Geometry((0.8, 0.8, 3.0), (1.0, -2.0, 5.0), (0, 1, 0, 1, 0, 0, 0, 0, 1)),
    ],
)
def test_train_refuses_labels_on_another_grid(pair, tmp_path, capsys, no_training, labels_geometry):
    labels = write_volume(tmp_path / "moved.nii.gz", _labels(), labels_geometry)
    err = _one_line_error(capsys, _train((pair[0], labels), tmp_path / "m.pt"))
    assert "does not lie on the grid" in err and "--ignore-geometry" in err and not no_training
    assert _train((pair[0], labels), tmp_path / "m.pt", "--ignore-geometry") == 130


def test_train_accepts_float_noise_in_the_geometry(pair, tmp_path, no_training):
    noisy = Geometry.from_zyx(spacing_zyx=(3.0000001, 0.80000001, 0.8), origin_zyx=(5.0000002, -2.0, 1.0))
    labels = write_volume(tmp_path / "noisy.nii.gz", _labels(), noisy)
    assert _train((pair[0], labels), tmp_path / "m.pt") == 130


@pytest.fixture()
def truth(tmp_path):
    return write_volume(tmp_path / "truth.nii.gz", _labels(), GEOMETRY)


def test_evaluate_refuses_a_fractional_prediction(tmp_path, truth, capsys):
    pred = write_volume(tmp_path / "prob.nii.gz", _labels() * 0.4, GEOMETRY)
    err = _one_line_error(capsys, main(["evaluate", "--pred", pred, "--truth", truth]))
    assert "prob.nii.gz" in err and "integer" in err


def test_evaluate_refuses_an_intensity_image(tmp_path, truth, capsys):
    pred = write_volume(tmp_path / "scan.nii.gz", _image().astype(np.int16), GEOMETRY)
    err = _one_line_error(capsys, main(["evaluate", "--pred", pred, "--truth", truth]))
    assert "intensity image" in err


def test_evaluate_accepts_whole_numbers_stored_as_float(tmp_path, truth, capsys):
    pred = write_volume(tmp_path / "float.nii.gz", _labels().astype(np.float32), GEOMETRY)
    assert main(["evaluate", "--pred", pred, "--truth", truth]) == 0
    assert '"dice": 1.0' in capsys.readouterr().out


def test_evaluate_compares_geometry(tmp_path, truth, capsys):
    shifted = Geometry.from_zyx(spacing_zyx=(3.0, 0.8, 0.8), origin_zyx=(50.0, -2.0, 1.0))
    pred = write_volume(tmp_path / "pred.nii.gz", _labels(), shifted)
    err = _one_line_error(capsys, main(["evaluate", "--pred", pred, "--truth", truth]))
    assert "origin" in err
    assert main(["evaluate", "--pred", pred, "--truth", truth, "--ignore-geometry"]) == 0


# --------------------------------------------------------------- 6. blank images
@pytest.mark.parametrize(
    ("image", "words"),
    [
        (np.full(SHAPE, np.nan, np.float32), "NaN"),
        (np.full(SHAPE, 7, np.int16), "constant"),
    ],
)
def test_blank_images_warn(image, words):
    with pytest.warns(UserWarning, match=words):
        AnnotatedVolume(image, _labels(), name="blank")


def test_blank_image_warns_in_one_line_on_the_command_line(tmp_path, capsys, no_training):
    image = write_volume(tmp_path / "flat.nii.gz", np.zeros(SHAPE, np.float32), GEOMETRY)
    labels = write_volume(tmp_path / "l.nii.gz", _labels(), GEOMETRY)
    assert _train((image, labels), tmp_path / "m.pt") == 130
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith("napari-mcsc train: warning: flat")
    assert "constant" in lines[0]


def test_ordinary_image_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AnnotatedVolume(_image(), _labels())


# ------------------------------------------- 7. one line, exit 2, never a traceback
@pytest.mark.parametrize(
    ("labels", "words"),
    [
        (_labels().astype(np.int16) * -1, "must not be negative"),
        (_labels() * 0.5, "integer values"),
    ],
)
def test_bad_label_values_name_the_file(tmp_path, pair, capsys, no_training, labels, words):
    path = write_volume(tmp_path / "bad_labels.nii.gz", labels, GEOMETRY)
    err = _one_line_error(capsys, _train((pair[0], path), tmp_path / "m.pt"))
    assert "bad_labels.nii.gz" in err and words in err


@pytest.mark.parametrize("array", [np.zeros((32, 32), np.float32), np.zeros((2, 3, 8, 8), np.float32)])
def test_predict_refuses_a_2d_or_4d_image(tmp_path, model_file, capsys, array):
    path = write_volume(tmp_path / "odd.nii.gz", array)
    code = main(["predict", "--model", model_file, "--image", path, "--out", str(tmp_path / "o")])
    err = _one_line_error(capsys, code)
    assert f"{array.ndim}-D image" in err and "3-D" in err


def test_a_4d_scan_stored_as_vectors_is_described_as_such(tmp_path):
    path = tmp_path / "series.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 5, 64), np.float32)), str(path))
    with pytest.raises(VolumeReadError, match=r"64 values per voxel.*4-D scan.*frame"):
        read_volume(path)


def test_init_along_another_axis_says_how_to_fix_it(pair, tmp_path, capsys, no_training):
    init = save_model(_model(axis=1), tmp_path / "axis1.pt")
    err = _one_line_error(capsys, _train(pair, tmp_path / "m.pt", "--init", str(init)))
    assert "along axis 1" in err and "--axis 1" in err and not no_training


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("format_version", "1"),
        ("format_version", None),
        ("axis", "0"),
        ("axis", 7),
        ("trained_iterations", "many"),
        ("trained_iterations", -3),
        ("history", "runs"),
        ("history", [1, 2]),
        ("label_values", 3),
        ("label_values", [0, "x"]),
        ("model", [1]),
        ("trained_networks", "cnn"),
        ("trained_networks", ["cnn", "gan"]),
        ("normalisation", "mri"),
        ("state_dict", None),
    ],
)
def test_checkpoint_fields_of_the_wrong_type(tmp_path, capsys, pair, field, value):
    path = save_model(_model(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload[field] = value
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"m\.pt"):
        load_model(path)
    code = main(["predict", "--model", str(path), "--image", pair[0], "--out", str(tmp_path / "o")])
    _one_line_error(capsys, code)


def test_ctrl_c_during_start_up(monkeypatch, capsys):
    import napari_mcsc.cli as cli

    def slow_imports():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", slow_imports)
    assert _one_line_error(capsys, main(["train"]), 130).endswith("interrupted")


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_max_seconds_must_be_finite(pair, tmp_path, capsys, no_training, value):
    code = _train(pair, tmp_path / "m.pt", "--max-seconds", value)
    assert "--max-seconds" in _one_line_error(capsys, code) and not no_training


# ---------------------------------------------------------------- 8. small ones
@pytest.mark.parametrize("value", [2**31 + 5, 2**32 + 1, 2**40])
def test_large_label_values_do_not_wrap(value):
    labels = np.array([[0, value], [value, 0]], dtype=np.int64)
    mapping = LabelMapping.from_label_volumes([labels])
    assert mapping.values == (0, value)
    back = mapping.to_values(mapping.to_classes(labels))
    assert back.min() >= 0
    np.testing.assert_array_equal(back, labels)


def test_label_values_beyond_int64_are_refused():
    with pytest.raises(AnnotationError, match="too large"):
        LabelMapping.from_label_volumes([np.array([0, 2**63 + 1], dtype=np.uint64)])


def test_saved_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        model = save_model(_model(), tmp_path / "m.pt")
        volume = write_volume(tmp_path / "v.nii.gz", _labels())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(model).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(volume).st_mode) == 0o644


def test_data_reaches_the_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    save_model(_model(), tmp_path / "m.pt")
    assert events[:2] == ["fsync", "replace"] and events.count("fsync") == 2  # file, folder
    events.clear()
    write_volume(tmp_path / "v.nii.gz", _labels())
    assert events[:2] == ["fsync", "replace"]


def test_left_over_temporary_files_are_cleaned_up(tmp_path):
    stale = tmp_path / ".m.pt.0123456789ab.tmp"
    fresh = tmp_path / ".m.pt.ba9876543210.tmp"
    other = tmp_path / ".n.pt.0123456789ab.tmp"
    stale_volume = tmp_path / ".v.0123456789ab.tmp.nii.gz"
    for path in (stale, fresh, other, stale_volume):
        path.write_bytes(b"half a model")
    hour_ago = time.time() - 3600
    for path in (stale, other, stale_volume):
        os.utime(path, (hour_ago, hour_ago))
    save_model(_model(), tmp_path / "m.pt")
    write_volume(tmp_path / "v.nii.gz", _labels())
    assert not stale.exists() and not stale_volume.exists()
    assert fresh.exists()  # maybe another process saving right now
    assert other.exists()  # the left-over of another file: its own next save cleans it


@pytest.fixture()
def no_network(monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return calls


def test_timm_weights_not_cached_are_reported_without_network(
    pair, tmp_path, capsys, monkeypatch, no_network, no_training
):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    code = _train(pair, tmp_path / "m.pt", "--swin-weights", "timm", "--method", "mcsc")
    err = _one_line_error(capsys, code)
    assert "not in the local Hugging Face cache" in err
    assert no_network == [] and not no_training


def test_timm_weights_found_in_the_cache_without_network(tmp_path, monkeypatch, no_network):
    import huggingface_hub.constants as constants

    from napari_mcsc.networks.imagenet_weights import _timm_weights_repo, timm_weights_in_cache

    cache = tmp_path / "hub"
    repo = cache / f"models--{_timm_weights_repo().replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    weights = repo / "snapshots" / commit / "model.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"weights")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert Path(timm_weights_in_cache()) == weights
    assert no_network == []


def test_gzip_check_does_not_read_more_than_needed(tmp_path):
    """A .nii.gz with data after the voxels (extensions, padding) is complete."""
    path = Path(write_volume(tmp_path / "v.nii.gz", _image(), GEOMETRY))
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw + b"\0" * 64))
    assert read_volume(path).shape == SHAPE
