"""commands/predict.py: ``napari-mcsc predict`` never loses an output and refuses odd images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_helpers import GEOMETRY, _image, _model, _one_line_error
from napari_mcsc.checkpoint import save_model
from napari_mcsc.cli import main
from napari_mcsc.io import write_volume


@pytest.fixture()
def model_file(tmp_path):
    return str(save_model(_model(), tmp_path / "model.pt"))


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


@pytest.mark.parametrize("array", [np.zeros((32, 32), np.float32), np.zeros((2, 3, 8, 8), np.float32)])
def test_predict_refuses_a_2d_or_4d_image(tmp_path, model_file, capsys, array):
    path = write_volume(tmp_path / "odd.nii.gz", array)
    code = main(["predict", "--model", model_file, "--image", path, "--out", str(tmp_path / "o")])
    err = _one_line_error(capsys, code)
    assert f"{array.ndim}-D image" in err and "3-D" in err
