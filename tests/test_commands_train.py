"""commands/train.py: ``napari-mcsc train`` checks its inputs and its output before training.

Training is never run for real where the point is a check that must happen before it: the
``no_training`` fixture (conftest.py) replaces ``run_training`` by a stub that raises
KeyboardInterrupt, so exit status 130 means "got past every check".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_helpers import GEOMETRY, SHAPE, _labels, _model, _one_line_error, _train
from napari_mcsc.checkpoint import load_model, save_model
from napari_mcsc.io import Geometry, write_volume


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


def test_truncated_label_file_stops_training(pair, tmp_path, capsys, no_training):
    cut = Path(write_volume(tmp_path / "cut_labels.nii", _labels(), GEOMETRY))
    cut.write_bytes(cut.read_bytes()[:-100])  # the last slices' labels are gone
    code = _train((pair[0], str(cut)), tmp_path / "m.pt")
    err = _one_line_error(capsys, code)
    assert "cut_labels.nii" in err and "truncated" in err and not no_training


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


def test_blank_image_warns_in_one_line_on_the_command_line(tmp_path, capsys, no_training):
    image = write_volume(tmp_path / "flat.nii.gz", np.zeros(SHAPE, np.float32), GEOMETRY)
    labels = write_volume(tmp_path / "l.nii.gz", _labels(), GEOMETRY)
    assert _train((image, labels), tmp_path / "m.pt") == 130
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith("napari-mcsc train: warning: flat")
    assert "constant" in lines[0]


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


def test_init_along_another_axis_says_how_to_fix_it(pair, tmp_path, capsys, no_training):
    init = save_model(_model(axis=1), tmp_path / "axis1.pt")
    err = _one_line_error(capsys, _train(pair, tmp_path / "m.pt", "--init", str(init)))
    assert "along axis 1" in err and "--axis 1" in err and not no_training


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_max_seconds_must_be_finite(pair, tmp_path, capsys, no_training, value):
    code = _train(pair, tmp_path / "m.pt", "--max-seconds", value)
    assert "--max-seconds" in _one_line_error(capsys, code) and not no_training


def test_train_with_a_cap_prints_a_warning(tmp_path, capsys, phantoms):
    import numpy as np

    from napari_mcsc.cli import main
    from napari_mcsc.data.phantom import paint_slices
    from napari_mcsc.io import Geometry, write_volume

    p = phantoms[0]
    geometry = Geometry.from_zyx(spacing_zyx=(1.0, 1.0, 1.0))
    write_volume(tmp_path / "img.nii.gz", p.image.astype(np.float32), geometry)
    write_volume(tmp_path / "lab.nii.gz", paint_slices(p.labels, [2, 5]).astype(np.uint8), geometry)
    code = main(
        [
            "train",
            "--image",
            str(tmp_path / "img.nii.gz"),
            "--labels",
            str(tmp_path / "lab.nii.gz"),
            "--out",
            str(tmp_path / "m.pt"),
            "--device",
            "cpu",
            "--iterations",
            "1000",
            "--max-seconds",
            "0.5",
            "--quiet",
        ]
    )
    assert code == 0 and (tmp_path / "m.pt").exists()
    err = capsys.readouterr().err
    assert "warning: training is incomplete" in err and "of the 1000 iterations" in err


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_nonsense_time_cap_is_a_usage_error(tmp_path, value, capsys):
    from napari_mcsc.cli import main

    code = main(
        [
            "train",
            "--image",
            "x.nii.gz",
            "--labels",
            "y.nii.gz",
            "--out",
            str(tmp_path / "m.pt"),
            "--max-seconds",
            value,
        ]
    )
    assert code == 2 and "--max-seconds" in capsys.readouterr().err


def test_an_empty_folder_is_a_usage_error(tmp_path, capsys):
    from napari_mcsc.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(
        [
            "train",
            "--image",
            "x.nii.gz",
            "--labels",
            "y.nii.gz",
            "--out",
            str(tmp_path / "m.pt"),
            "--unlabelled",
            str(empty),
        ]
    )
    assert code == 2 and "no volume found" in capsys.readouterr().err
