"""study/rounds.py: rounds that accumulate one model and one schedule, and their predictions."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.constants import ScanState
from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.jobs import run_to_end
from napari_mcsc.study import Study, StudyError, StudyRound, predict_scans, suggestions
from tiny import drain

pytestmark = pytest.mark.usefixtures("_one_thread")


def _run(round_):
    return run_to_end(round_.run())


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


def test_a_slice_where_a_structure_came_or_went_since_the_last_prediction_is_suggested_first(
    study, phantoms, monkeypatch
):
    from napari_mcsc.study import rounds

    study.set_labels("scan0", paint_slices(phantoms[0].labels, [2, 5]))
    _run(StudyRound(study))
    first = run_to_end(predict_scans(study, ["scan0"]))[0]
    # the next prediction loses a whole structure on the slice ranked last
    last = first.ranking[-1]
    value = int(np.bincount(first.labels[last].ravel(), minlength=2)[1:].argmax()) + 1
    predict_volume = rounds.predict_volume
    monkeypatch.setattr(rounds, "predict_volume", _dropping_on(predict_volume, last, value))
    second = run_to_end(predict_scans(study, ["scan0"]))[0]
    assert second.ranking[0] == last
    assert sorted(second.ranking) == list(range(len(second.ranking)))
    assert study.prediction("scan0").ranking[0] == last
    # the study's own suggestions (the study panel, the command line) agree
    assert study.scan("scan0").changed == [last]
    assert suggestions(study, 1, scans=["scan0"])[0].slice == last
    assert suggestions(study, 1, scans=["scan0"])[0].changed  # the panel says why
    assert not any(s.changed for s in suggestions(study, None, scans=["scan0"])[1:])
    # the scores stay the slices' own: only the order changes
    np.testing.assert_allclose(second.slice_scores, first.slice_scores, rtol=1e-6)
    # a scan predicted before any of it was painted: its first look came from a model
    # that had not been taught it, so a change since then is no news
    unpainted = run_to_end(predict_scans(study, ["scan1"]))[0]
    assert study.prediction("scan1").annotated == []
    came = unpainted.ranking[-1]
    monkeypatch.setattr(rounds, "predict_volume", _structure_comes_on(predict_volume, came))
    again = run_to_end(predict_scans(study, ["scan1"]))[0]
    assert np.any(again.labels[came] != unpainted.labels[came])
    assert again.ranking == unpainted.ranking
    assert study.scan("scan1").changed == []


def _dropping_on(predict_volume, index: int, value: int):
    """``predict_volume`` whose labels lose structure ``value`` on slice ``index``."""

    def dropping(*args, **kwargs):
        made = predict_volume(*args, **kwargs)
        made.labels[index][made.labels[index] == value] = 0
        return made

    return dropping


def _structure_comes_on(predict_volume, index: int):
    """``predict_volume`` whose labels gain a square of label 1 on slice ``index``."""

    def adding(*args, **kwargs):
        made = predict_volume(*args, **kwargs)
        made.labels[index][4:12, 4:12] = 1
        return made

    return adding


def test_a_study_can_make_its_predictions_3d_consistent(study, phantoms, monkeypatch):
    from napari_mcsc.postprocess import consistent_mask
    from napari_mcsc.study import rounds

    asked = []

    def spy(*args, **kwargs):
        asked.append((kwargs["consistent"], list(kwargs["reviewed"])))
        return predict_volume(*args, **kwargs)

    predict_volume = rounds.predict_volume
    monkeypatch.setattr(rounds, "predict_volume", spy)
    painted = paint_slices(phantoms[0].labels, [2, 5])
    study.set_labels("scan0", painted, reviewed=[0])
    study.settings.consistent_mask = False
    _run(StudyRound(study))
    raw = run_to_end(predict_scans(study, ["scan0", "scan1"]))
    study.settings.consistent_mask = True
    events, masked = drain(predict_scans(study, ["scan0", "scan1"]))
    statuses = [e.text for e in events]
    # a scan's reviewed slices go with it: the mask keeps the one reviewed as empty empty
    assert asked == [(False, [0]), (False, []), (True, [0]), (True, [])]
    assert not masked[0].labels[0].any()
    # the status names the carrying where it happens: the painted scan only
    assert ["carrying" in s for s in statuses] == [True, False]
    # a painted scan's mask also carries its painted slices (propagation): the mask a
    # single scan gets from predict_volume; an unpainted scan's is the raw one made consistent
    image = study.read_image("scan0").array
    single = predict_volume(
        study.model, image, uncertainty=False, painted=painted, consistent=True, reviewed=[0]
    )
    np.testing.assert_array_equal(masked[0].labels, single.labels)
    assert not np.array_equal(masked[0].labels, raw[0].labels)
    np.testing.assert_array_equal(masked[1].labels, consistent_mask(raw[1].labels))
    np.testing.assert_array_equal(study.prediction("scan1").labels, masked[1].labels)


def test_a_study_can_see_a_scan_nobody_painted_with_the_cnns_statistics_taken_from_it(study, phantoms):
    from napari_mcsc.inference import predict_volume

    study.set_labels("scan0", paint_slices(phantoms[0].labels, [2, 5]))
    _run(StudyRound(study))
    image = study.read_image("scan1").array
    study.settings.scan_statistics = False
    plain = run_to_end(predict_scans(study, ["scan0", "scan1"]))
    study.settings.scan_statistics = True
    adapted = run_to_end(predict_scans(study, ["scan0", "scan1"]))
    single = predict_volume(study.model, image, consistent=True, scan_statistics=True)
    np.testing.assert_allclose(adapted[1].uncertainty, single.uncertainty, rtol=1e-5, atol=1e-6)
    assert not np.allclose(adapted[1].uncertainty, plain[1].uncertainty, atol=1e-4)
    # a painted scan was taught to the model: its rounds' statistics hold for it
    np.testing.assert_array_equal(adapted[0].uncertainty, plain[0].uncertainty)
    # a setting saved with the study, read back with it
    study.save()
    assert Study.open(study.folder).settings.scan_statistics


def test_a_round_says_how_long_it_will_take_once_these_settings_were_timed_here(
    study, phantoms, tmp_path, monkeypatch
):
    from napari_mcsc.training.speed_memory import remember_speed

    monkeypatch.setenv("NAPARI_MCSC_CACHE", str(tmp_path / "cache"))
    study.settings.device = "cpu"
    study.set_labels("scan0", paint_slices(phantoms[0].labels, [2, 5]))
    round_ = StudyRound(study)
    assert round_.describe().startswith("Round 1 on 1 scan(s): 3 iterations (time not yet measured")
    later = StudyRound(study, iterations=40)
    remember_speed(later.config(), "cpu", 1.5)
    assert (
        later.describe() == "Round 1 on 1 scan(s): 40 iterations, about 60 s here (1.50 s/iteration measured)"
    )
    _run(round_)
    assert StudyRound(study).config().iterations == 2  # a later round: the study's round length
    assert StudyRound(study).describe().startswith("Round 2 on 1 scan(s): 2 iterations")


def test_a_round_of_another_length_trains_that_many_iterations_first_round_or_later(study, phantoms):
    study.set_labels("scan0", paint_slices(phantoms[0].labels, [2, 5]))
    assert _run(StudyRound(study, iterations=4)).iterations == 4  # the first round (default 3)
    assert _run(StudyRound(study, iterations=1)).iterations == 1  # a later one (default 2)
    assert study.train_state.position == 5


def test_a_round_focuses_on_the_scan_being_corrected(study, phantoms):
    study.set_labels("scan0", paint_slices(phantoms[0].labels, [2, 5]))
    study.set_labels("scan1", paint_slices(phantoms[1].labels, [4]))
    study.current = "scan1"
    round_ = StudyRound(study)
    _run(round_)
    assert round_.trainer.focus == [2]  # the painted slices in study order: scan0's 2, then scan1's
    study.current = "scan2"  # nothing painted there: no focus
    round_ = StudyRound(study)
    _run(round_)
    assert round_.trainer.focus == []


def test_accepted_masks_teach_later_rounds_only_when_the_settings_say_so(study, phantoms):
    truth = phantoms[0].labels
    painted = paint_slices(truth, [2, 5])
    study.set_labels("scan0", painted, reviewed=[0])
    _run(StudyRound(study, predict=["scan0"]))
    study.accept("scan0")
    accepted = study.accepted_mask("scan0")
    np.testing.assert_array_equal(accepted, study.mask("scan0"))
    study.set_labels("scan1", paint_slices(phantoms[1].labels, [4]))

    off = StudyRound(study)
    _run(off)
    assert off.trainer.data.num_labelled == 4  # scan0's 2, 5 and reviewed 0, scan1's 4
    assert study.rounds[-1]["accepted_masks"] == []

    study.settings.learn_from_accepted = True
    labels, reviewed = study.training_labels("scan0")
    np.testing.assert_array_equal(labels[[2, 5]], painted[[2, 5]])  # painted voxels win
    assert not labels[0].any() and 0 in reviewed  # a reviewed slice stays background
    empty = [i for i in range(truth.shape[0]) if not labels[i].any()]
    assert reviewed == empty  # every empty slice of the accepted mask is background to learn
    on = StudyRound(study)
    _run(on)
    assert on.trainer.data.num_labelled == truth.shape[0] + 1  # every slice of scan0, scan1's 4
    assert study.rounds[-1]["accepted_masks"] == ["scan0"]
    assert study.rounds[-1]["painted_slices"] == 4  # what the user painted, not the mask
    study.set_labels("scan1", None)
    assert study.training_scans() == ["scan0"]  # an accepted scan is something to train on


def test_a_round_learns_from_an_accepted_mask_as_it_was_accepted(study, phantoms):
    study.settings.learn_from_accepted = True
    study.set_labels("scan0", paint_slices(phantoms[0].labels, [2, 5]))
    _run(StudyRound(study, predict=["scan0"]))
    study.accept("scan0")
    accepted = study.accepted_mask("scan0")
    _run(StudyRound(study, predict=["scan0"]))  # a new prediction of the accepted scan
    np.testing.assert_array_equal(Study.open(study.folder).accepted_mask("scan0"), accepted)
    np.testing.assert_array_equal(study.training_labels("scan0")[0], accepted)
