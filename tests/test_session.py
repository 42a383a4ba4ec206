"""study/session.py: the study's folder and session file, which reopen where they stopped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_mcsc.constants import STUDY_FILE, ScanState
from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.study import Study, StudyError
from tiny import tiny_study_settings

pytestmark = pytest.mark.usefixtures("_one_thread")


def test_the_session_file_reopens_where_it_stopped(study, phantoms):
    labels = paint_slices(phantoms[0].labels, [2, 5])
    study.set_labels("scan0", labels, reviewed=[7])
    study.current = "scan0"
    study.save()
    again = Study.open(study.folder)
    assert again.names == ["scan0", "scan1", "scan2"]
    record = again.scan("scan0")
    assert record.painted == [2, 5] and record.reviewed == [7] and record.state == ScanState.CORRECTED
    np.testing.assert_array_equal(again.labels("scan0"), labels)
    assert again.labels("scan1") is None and again.scan("scan1").state == ScanState.NEW
    np.testing.assert_array_equal(again.read_image("scan2").array, phantoms[2].image)
    assert json.loads((study.folder / STUDY_FILE).read_text())["format"] == "napari-mcsc-study"


def test_a_study_over_files_keeps_their_paths(tmp_path, phantoms):
    from napari_mcsc.io import write_volume

    folder = tmp_path / "scans"
    for i, p in enumerate(phantoms[:2]):
        write_volume(folder / f"case{i}.nii.gz", p.image)
    study = Study.create(tmp_path / "s", [folder], tiny_study_settings())
    assert study.names == ["case0", "case1"]
    assert study.source_path("case1") == (folder / "case1.nii.gz").resolve()
    with pytest.raises(StudyError, match="already holds a study"):
        Study.create(tmp_path / "s", [folder])


def test_opening_something_else_says_what_is_wrong(tmp_path):
    with pytest.raises(StudyError, match="holds no study"):
        Study.open(tmp_path)
    (tmp_path / STUDY_FILE).write_text("{not json")
    with pytest.raises(StudyError, match="cannot be read"):
        Study.open(tmp_path)


def test_a_decathlon_folder_stands_for_its_images(msd_folder, tmp_path):
    study = Study.create(tmp_path / "s", [msd_folder])
    assert study.names[:2] == ["patient000_frame01", "patient000_frame02"] and len(study.names) == 6
