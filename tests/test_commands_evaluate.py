"""commands/evaluate.py: ``napari-mcsc evaluate`` refuses what is not a label map on the truth's grid."""

from __future__ import annotations

import numpy as np
import pytest

from cli_helpers import GEOMETRY, _image, _labels, _one_line_error
from napari_mcsc.cli import main
from napari_mcsc.io import Geometry, write_volume


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
