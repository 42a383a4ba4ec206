"""study/workspace.py: the study panel's state without Qt."""

from __future__ import annotations

import pytest

from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.jobs import run_to_end
from napari_mcsc.study import Study, StudyError
from napari_mcsc.study.workspace import StudyWorkspace


@pytest.mark.usefixtures("_one_thread")
def test_the_mask_choice_is_saved_and_asks_for_the_scan_in_view_when_it_was_predicted(study, phantoms):
    workspace = StudyWorkspace()
    workspace.open(study)
    workspace.set_current("scan1")
    assert study.settings.consistent_mask  # the default
    assert workspace.set_consistent_mask(False) == []  # nothing predicted yet: nothing to redo
    assert Study.open(study.folder).settings.consistent_mask is False
    study.set_labels("scan0", paint_slices(phantoms[0].labels, [2, 5]))
    run_to_end(workspace.start_round().run())  # predicts scan1 (in view) and the next one
    assert workspace.set_consistent_mask(True) == ["scan1"]
    assert Study.open(study.folder).settings.consistent_mask is True
    run_to_end(workspace.prediction_run(["scan1"])())
    assert study.scan("scan1").predicted_round == 1


def test_the_round_length_is_saved_with_the_study_and_the_next_round_has_it(study):
    workspace = StudyWorkspace()
    workspace.open(study)
    workspace.set_round_iterations(120)
    reopened = Study.open(study.folder)
    assert reopened.settings.round_iterations == 120
    assert reopened.settings.train_config(first=False).iterations == 120  # every later round
    with pytest.raises(StudyError, match="at least 1 iteration"):
        workspace.set_round_iterations(0)
    assert Study.open(study.folder).settings.round_iterations == 120
