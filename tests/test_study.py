"""Studies: the session file, rounds that accumulate, the cross-scan ranking."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_mcsc.constants import STUDY_FILE, ScanState
from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.jobs import run_to_end
from napari_mcsc.study import (
    Study,
    StudyError,
    StudyRound,
    next_scan,
    next_slice_of,
    predict_scans,
    suggestions,
)
from napari_mcsc.training import Trainer
from napari_mcsc.training.state import TrainState
from tiny import tiny_study_settings


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("NAPARI_MCSC_TORCH_THREADS", "1")


@pytest.fixture()
def study(tmp_path, phantoms):
    scans = [(f"scan{i}", p.image, None) for i, p in enumerate(phantoms)]
    return Study.create_from_arrays(tmp_path / "study", scans, tiny_study_settings())


def _run(round_):
    return run_to_end(round_.run())


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


def test_a_round_needs_something_painted(study):
    with pytest.raises(StudyError, match="nothing painted"):
        _run(StudyRound(study))


def test_rounds_accumulate_one_model_and_one_schedule(study, phantoms):
    study.set_labels("scan0", paint_slices(phantoms[0].labels, [2, 5]))
    first = _run(StudyRound(study, predict=["scan0", "scan1"]))
    assert first.index == 1 and first.iterations == 3
    assert study.train_state.position == 3
    study.set_labels("scan1", paint_slices(phantoms[1].labels, [4]))
    second = _run(StudyRound(study, predict=["scan1"]))
    assert second.index == 2 and second.iterations == 2
    reopened = Study.open(study.folder)
    assert reopened.model.trained_iterations == 5
    assert reopened.train_state.position == 5
    assert [r["scans"] for r in reopened.rounds] == [["scan0"], ["scan0", "scan1"]]
    assert reopened.rounds[1]["painted_slices"] == 3
    assert reopened.scan("scan1").predicted_round == 2 and reopened.scan("scan2").state == ScanState.NEW
    assert reopened.model.history[-1]["carried_from"] == 3


def _events(trainer):
    return [
        (e.learning_rates["cnn"], e.learning_rates["swin"], e.losses.get("ct_weight")) for e in trainer.run()
    ]


def test_a_carried_round_continues_the_schedule_of_an_uninterrupted_run(tiny_config, tiny_slice_set):
    """Learning rates, the cross-teaching ramp and the optimiser's step count of two
    rounds (3 + 3 iterations) match one run of 6 on the same schedule."""
    config = tiny_config.replace(
        method="ct", schedule_horizon=6, lr_floor=0.2, supervised_warmup=0.3, consistency_rampup=0.5
    )
    whole = Trainer(config.replace(iterations=6), tiny_slice_set)
    expected = _events(whole)
    first = Trainer(config.replace(iterations=3), tiny_slice_set)
    got = _events(first)
    state = TrainState.capture(first)
    assert state.position == 3
    second = Trainer(config.replace(iterations=3), tiny_slice_set, init=first.model, carry=state)
    got += _events(second)
    assert np.allclose(np.array(got), np.array(expected), rtol=1e-9)
    steps = [int(s["step"]) for s in second.live.optimizers["cnn"].state_dict()["state"].values()]
    assert set(steps) == {6}
    # Without the carried state the second round would start again at the peak rate.
    restart = Trainer(config.replace(iterations=3), tiny_slice_set, init=first.model)
    assert _events(restart)[0][0] > 1.5 * got[3][0]


def test_the_learning_rate_stops_at_its_floor(tiny_config, tiny_slice_set):
    config = tiny_config.replace(method="sup", schedule_horizon=2, lr_floor=0.25, iterations=4)
    rates = [e.learning_rates["cnn"] for e in Trainer(config, tiny_slice_set).run()]
    assert rates[-1] == pytest.approx(0.25 * config.cnn_lr) and rates[0] == pytest.approx(config.cnn_lr)


def test_a_state_with_other_classes_restarts_that_optimiser(tiny_config, tiny_slice_set, phantoms):
    from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set

    first = Trainer(tiny_config.replace(method="sup", iterations=2), tiny_slice_set)
    list(first.run())
    state = TrainState.capture(first)
    one_class = np.where(phantoms[0].labels == 1, 1, 0)
    data = build_slice_set(
        [AnnotatedVolume(phantoms[0].image, paint_slices(one_class * 7, [3]))], image_size=64
    )  # a new label value: the classifier grows, its optimiser state no longer fits
    second = Trainer(tiny_config.replace(method="sup", iterations=1), data, init=first.model, carry=state)
    list(second.run())
    assert second.model.history[-1]["fresh_optimizers"] == ["cnn"]


def test_suggestions_rank_slices_across_scans_and_skip_annotated_ones(study):
    study.scan("scan0").slice_scores = [0.1, 0.9, 0.3]
    study.scan("scan1").slice_scores = [0.8, 0.2]
    study.scan("scan0").painted = [1]
    ranked = [(s.scan, s.slice) for s in suggestions(study, limit=None)]
    assert ranked == [("scan1", 0), ("scan0", 2), ("scan1", 1), ("scan0", 0)]
    assert next_slice_of(study, "scan0") == 2 and next_slice_of(study, "scan2") is None
    study.scan("scan1").state = ScanState.ACCEPTED
    assert [s.scan for s in suggestions(study)] == ["scan0", "scan0"]
    assert next_scan(study, "scan0") == "scan2" and next_scan(study, "scan2") == "scan0"


def test_predicted_scans_are_ranked_and_accepted_masks_keep_painted_voxels(study, phantoms, tmp_path):
    from napari_mcsc.io import read_volume

    labels = paint_slices(phantoms[0].labels, [2, 5])
    study.set_labels("scan0", labels, reviewed=[0])
    _run(StudyRound(study))
    list(predict_scans(study, ["scan0", "scan1"]))
    assert study.scan("scan1").state == ScanState.PREDICTED
    assert len(study.scan("scan1").slice_scores) == phantoms[1].image.shape[0]
    ranked = suggestions(study, limit=None)
    assert {(s.scan, s.slice) for s in ranked}.isdisjoint({("scan0", 0), ("scan0", 2), ("scan0", 5)})
    path = study.accept("scan0")
    mask = read_volume(path).array
    np.testing.assert_array_equal(mask[[2, 5]], labels[[2, 5]])
    assert not mask[0].any()
    assert study.scan("scan0").state == ScanState.ACCEPTED
    assert all(s.scan != "scan0" for s in suggestions(study, limit=None))


def test_a_decathlon_folder_stands_for_its_images(msd_folder, tmp_path):
    study = Study.create(tmp_path / "s", [msd_folder])
    assert study.names[:2] == ["patient000_frame01", "patient000_frame02"] and len(study.names) == 6
