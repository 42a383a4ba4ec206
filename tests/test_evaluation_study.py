"""evaluation/study.py: the simulated annotator of ``benchmark study``, on a tiny Decathlon-style folder."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.data.decathlon import read_case
from napari_mcsc.evaluation.study import Arm, empty_slices, run_study_benchmark
from napari_mcsc.evaluation.walk_state import WalkStateError, prepare_work_folder
from napari_mcsc.study import Study, StudyRound
from tiny import tiny_study_settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("_one_thread")]


def _bench(msd_folder, arms, **kw):
    values = dict(split="train", limit=3, target=1.01, max_slices=2, settings=tiny_study_settings())
    return run_study_benchmark(str(msd_folder), arms, log=lambda *_: None, **{**values, **kw})


@pytest.mark.parametrize("choice", ["uncertain", "gap"])
def test_carried_arm_paints_until_the_target_and_scores_later_scans_when_first_seen(msd_folder, choice):
    (arm,) = _bench(msd_folder, [Arm(choice=choice)])["arms"]
    assert arm["choice"] == choice
    first, second, third = arm["scans"]
    assert first["dice_first_seen"] is None  # no model before the first scan
    assert second["dice_first_seen"] is not None and 0 <= third["dice_first_seen"] <= 1
    assert "dice_first_seen_consistent" not in first and 0 <= second["dice_first_seen_consistent"] <= 1
    # An unreachable target: every scan gets max_slices slices, one round each.
    assert [row["painted_slices"] for row in arm["scans"]] == [2, 2, 2] and arm["total_painted_slices"] == 6
    assert all(row["rounds"] == 2 and len(set(row["slices"])) == 2 for row in arm["scans"])
    assert all(len(row["dice_by_round"]) == 2 for row in arm["scans"])
    assert [row["dice_by_round"][-1] for row in arm["scans"]] == [row["dice_reached"] for row in arm["scans"]]
    assert first["slices"][0] == 3  # no prediction yet: the middle of the volume
    assert all(0 <= row["dice_mask"] <= 1 for row in arm["scans"])
    for row in arm["scans"]:
        truth = read_case(str(msd_folder), row["name"]).labels
        assert row["empty_slices"] == len(empty_slices(truth, row["slices"]))
    assert arm["total_empty_slices"] == sum(row["empty_slices"] for row in arm["scans"])


def test_the_annotator_notes_the_slices_it_painted_because_a_structure_came_or_went(msd_folder, monkeypatch):
    from napari_mcsc.study import rounds

    def everywhere(prediction, before, axis):
        """A structure came or went on every slice since the scan's last taught look."""
        prediction.changed = list(range(prediction.labels.shape[axis]))

    monkeypatch.setattr(rounds, "put_changed_first", everywhere)
    (arm,) = _bench(msd_folder, [Arm(choice="uncertain")], limit=1, max_slices=3)["arms"]
    (row,) = arm["scans"]
    # the first slice comes before any prediction, the second after the scan's first taught
    # look (nothing to compare it with); the third is chosen among flagged slices
    assert len(row["slices"]) == 3 and row["came_or_went"] == row["slices"][2:]


def test_a_scan_the_carried_model_already_segments_needs_no_painting(msd_folder):
    (arm,) = _bench(msd_folder, [Arm(choice="even")], target=0.0)["arms"]
    assert [row["painted_slices"] for row in arm["scans"]] == [1, 0, 0]
    assert arm["scans"][1]["dice_reached"] == arm["scans"][1]["dice_first_seen"]
    # Nothing painted on a scan: the mask a user would accept is the prediction itself.
    assert [row["dice_mask"] for row in arm["scans"][1:]] == [
        row["dice_first_seen"] for row in arm["scans"][1:]
    ]


def test_without_carry_over_each_scan_restarts_with_more_evenly_spaced_slices(msd_folder):
    (arm,) = _bench(msd_folder, [Arm.parse("sup:off")], limit=1)["arms"]
    (row,) = arm["scans"]
    assert row["rounds"] == 2 and row["slices"] == [2, 3]  # K=1 then K=2 evenly spaced, from scratch
    assert row["dice_first_seen"] is None


def test_slices_without_the_scored_structures_are_counted_as_reviewed_empty():
    truth = np.zeros((5, 4, 4), dtype=np.uint8)
    truth[1:4, 1:3, 1:3] = 2
    assert empty_slices(truth, [4, 2, 0, 3]) == [4, 0]
    assert empty_slices(truth, []) == []


def test_arm_names_are_checked():
    assert Arm.parse("mcsc:on:even") == Arm(method="mcsc", choice="even")
    assert Arm.parse("sup:on:gap") == Arm(method="sup", choice="gap")
    assert Arm.parse("interp").interpolation
    with pytest.raises(ValueError, match="METHOD"):
        Arm.parse("unet")
    with pytest.raises(ValueError, match="evenly spaced"):
        Arm.parse("sup:off:uncertain")


class _Killed(Exception):
    """Stands for a kill: the process stops where it is."""


def _cut_third_round(monkeypatch, *, after_it_ends: bool) -> list[int]:
    """Make the third round stop the run (once), before it trains or after it has saved;
    the returned list counts the rounds started."""
    real_run, started = StudyRound.run, []

    def run(self):
        started.append(1)
        cut = len(started) == 3 and not getattr(run, "done", False)
        if cut:
            run.done = True
            if not after_it_ends:
                raise _Killed
        result = yield from real_run(self)
        if cut:
            raise _Killed
        return result

    monkeypatch.setattr(StudyRound, "run", run)
    return started


def _walked(result) -> list[tuple]:
    return [(row["name"], row["slices"], row["rounds"]) for row in result["arms"][0]["scans"]]


@pytest.mark.parametrize("after_it_ends", [False, True], ids=["cut-mid-round", "cut-after-round"])
def test_a_cut_run_resumes_where_it_was_and_trains_no_round_twice(
    msd_folder, tmp_path, monkeypatch, after_it_ends
):
    arms = [Arm(choice="even")]  # evenly spaced slices: the same choices whatever the model
    whole = _bench(msd_folder, arms, work=tmp_path / "whole")
    started = _cut_third_round(monkeypatch, after_it_ends=after_it_ends)
    with pytest.raises(_Killed):  # scan 1 had its 2 rounds; scan 2's first is cut
        _bench(msd_folder, arms, work=tmp_path / "cut")
    with pytest.raises(WalkStateError, match="--resume"):
        _bench(msd_folder, arms, work=tmp_path / "cut")
    started.clear()
    resumed = _bench(msd_folder, arms, work=tmp_path / "cut", resume=True)
    assert resumed["arms"][0]["resumed_after_scans"] == 1
    assert _walked(resumed) == _walked(whole)  # 3 scans x 2 slices, 2 rounds each
    # Rounds started on resuming: scan 2's cut round again (if it had not ended), its second, scan 3's two.
    assert len(started) == (3 if after_it_ends else 4)
    assert len(Study.open(tmp_path / "cut" / "arm0" / "study").rounds) == 6


def test_a_finished_walk_resumes_without_training(msd_folder, tmp_path, monkeypatch):
    whole = _bench(msd_folder, [Arm(choice="even")], work=tmp_path / "run", limit=1)
    monkeypatch.setattr(StudyRound, "run", lambda self: pytest.fail("a finished scan was trained again"))
    again = _bench(msd_folder, [Arm(choice="even")], work=tmp_path / "run", limit=1, resume=True)
    assert again["arms"][0]["scans"] == whole["arms"][0]["scans"]


def test_a_work_folder_resumes_only_the_run_that_made_it(tmp_path):
    run = {"order": ["a", "b"], "target": 0.85}
    assert prepare_work_folder(tmp_path / "w", run, resume=True) is False  # nothing to resume: a fresh start
    assert prepare_work_folder(tmp_path / "w", run, resume=True) is True
    with pytest.raises(WalkStateError, match="differs in order, target"):
        prepare_work_folder(tmp_path / "w", {"order": ["b", "a"], "target": 0.9}, resume=True)


def test_the_annotator_accepts_each_scan_it_leaves_and_later_rounds_may_learn_from_it(msd_folder, tmp_path):
    import dataclasses

    settings = dataclasses.replace(tiny_study_settings(), learn_from_accepted=True)
    _bench(msd_folder, [Arm(choice="even")], settings=settings, work=tmp_path / "w", max_slices=1)
    study = Study.open(tmp_path / "w" / "arm0" / "study")
    assert all(scan.state.value == "accepted" for scan in study.scans)
    assert [r["accepted_masks"] for r in study.rounds] == [[], [study.names[0]], study.names[:2]]


def test_a_run_recorded_before_a_study_setting_existed_resumes_with_its_default(msd_folder, tmp_path):
    import dataclasses
    import json

    _bench(msd_folder, [Arm(choice="even")], work=tmp_path / "w", limit=1)
    run_file = tmp_path / "w" / "run.json"
    recorded = json.loads(run_file.read_text())
    del recorded["settings"]["learn_from_accepted"]  # as an older version wrote it
    run_file.write_text(json.dumps(recorded))
    again = _bench(msd_folder, [Arm(choice="even")], work=tmp_path / "w", limit=1, resume=True)
    assert again["arms"][0]["resumed_after_scans"] == 1
    changed = dataclasses.replace(tiny_study_settings(), learn_from_accepted=True)
    with pytest.raises(WalkStateError, match="differs in settings"):
        _bench(msd_folder, [Arm(choice="even")], work=tmp_path / "w", limit=1, resume=True, settings=changed)
