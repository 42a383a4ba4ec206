"""benchmarks/study_round_time.py: a round timed on a copy of a study, with the arm's changes."""

from __future__ import annotations

import numpy as np

from benchmark_scripts import load_script
from tiny import TINY_SETTINGS


def test_a_round_is_timed_on_a_copy_with_the_arms_changes_and_the_painted_scan_predicted(
    study, phantoms, tmp_path, monkeypatch
):
    from napari_mcsc.jobs import run_to_end
    from napari_mcsc.study import Study, StudyRound

    painted = np.zeros_like(phantoms[1].labels)
    painted[4] = phantoms[1].labels[4]
    study.set_labels("scan1", painted)
    run_to_end(StudyRound(study).run())  # the study's model, as a saved study has one
    study.current = "scan2"  # the next scan, nothing painted on it yet
    study.save()

    script = load_script("study_round_time")
    # the study reopened from its folder has the plain settings: the arm shrinks its
    # networks again, as any TrainConfig change reaches the round
    changes = {**TINY_SETTINGS, "device": "cpu", "batch_size": 3, "labelled_batch_size": 3}
    configs = []
    config = StudyRound.config
    monkeypatch.setattr(StudyRound, "config", lambda self: configs.append(config(self)) or configs[-1])
    row = script.time_round(study.folder, "small", changes, tmp_path / "work", iterations=2)

    assert configs and all(c.batch_size == 3 and c.image_size == TINY_SETTINGS["image_size"] for c in configs)
    assert row["iterations"] == 2 and row["painted_slices"] == 1
    assert row["scan"] == "scan1"  # the painted scan, whose painting the prediction carries
    assert row["train_seconds"] > 0 and row["predict_seconds_first"] > 0 and row["predict_seconds_later"] > 0
    assert not (tmp_path / "work" / "small").exists()
    assert len(Study.open(study.folder).rounds) == 1  # the saved study is left as it was
