"""evaluation/protocol.py: the benchmark protocol on a tiny Decathlon-style folder the fixture makes."""

from __future__ import annotations

import json

import pytest

from napari_mcsc.evaluation.protocol import RunInterrupted, first_patients, run_protocol
from tiny import TINY_SETTINGS

TINY = dict(TINY_SETTINGS, batch_size=4, labelled_batch_size=2)


def test_first_patients_takes_all_frames_of_each():
    cases = ["p9_frame01", "p9_frame02", "p3_frame01", "p3_frame02", "p5_frame01"]
    assert first_patients(cases, 1) == ["p9_frame01", "p9_frame02"]
    assert first_patients(cases, 2) == cases[:4]


def test_protocol_run_reports_cnn_and_ensemble(msd_folder):
    result = run_protocol(
        str(msd_folder),
        labelled_patients=1,
        method="mcsc",
        iterations=2,
        device="cpu",
        curve_at=[1],
        log=lambda *_: None,
        **TINY,
    )
    assert result["labelled_volumes"] == 2 and result["unlabelled_volumes"] == 2
    (point,) = result["curve"]
    assert point[0] == 1 and len(point) == 3 and all(0.0 <= v <= 1.0 for v in point[1:])
    assert set(result["results"]) == {"cnn", "ensemble"}
    mean = result["results"]["cnn"]["mean"]
    assert 0.0 <= mean["dice"] <= 1.0 and "hd95" in mean and "asd" in mean
    assert result["evaluated_volumes"] == 2


def test_protocol_best_selection_uses_only_unscored_volumes(msd_folder):
    result = run_protocol(
        str(msd_folder),
        labelled_patients=1,
        method="sup",
        iterations=4,
        device="cpu",
        limit=1,
        select="best",
        validate_every=2,
        log=lambda *_: None,
        **TINY,
    )
    selection = result["selection"]
    assert selection["rule"] == "best validation" and [i for i, _ in selection["scores"]] == [2, 4]
    assert selection["best_iteration"] in (2, 4) and result["evaluated_volumes"] == 1
    with pytest.raises(ValueError, match="not scored"):
        run_protocol(
            str(msd_folder),
            labelled_patients=1,
            method="sup",
            iterations=2,
            device="cpu",
            select="best",
            log=lambda *_: None,
            **TINY,
        )


@pytest.mark.slow
@pytest.mark.usefixtures("_one_thread")
def test_protocol_writes_partial_results_and_resumes_from_its_checkpoint(msd_folder, tmp_path):
    progress, checkpoint = tmp_path / "run.jsonl", tmp_path / "run.checkpoint.pt"
    common = dict(
        labelled_patients=1,
        method="ct",
        iterations=4,
        device="cpu",
        curve_at=[2, 4],
        log=lambda *_: None,
        progress_file=progress,
        monitor_every=2,
        checkpoint_every=2,
        checkpoint_file=checkpoint,
        **TINY_SETTINGS,
        batch_size=4,
        labelled_batch_size=2,
        teacher="no_grad",
        pseudo_threshold=0.5,
        supervised_warmup=0.0,
    )

    class StopAfterTwo:
        """Around the protocol's training job: a Stop at iteration 2."""

        def __init__(self, job):
            self.job = job

        def __enter__(self):
            run = self.job.run

            def stopping():
                events = run()
                try:
                    while True:
                        event = next(events)
                        if getattr(event, "iteration", 0) == 2:
                            self.job.request_stop()
                        yield event
                except StopIteration as done:
                    return done.value

            self.job.run = stopping

        def __exit__(self, *exc):
            return False

    with pytest.raises(RunInterrupted, match="--resume"):
        run_protocol(str(msd_folder), on_job=StopAfterTwo, **common)
    lines = [json.loads(line) for line in progress.read_text().splitlines()]
    monitor = [r for r in lines if "pseudo_labels" in r]
    assert monitor[0]["iteration"] == 2
    assert {"kept_swin", "dice_swin", "dice_all_swin", "kept_cnn"} <= set(monitor[0]["pseudo_labels"])
    assert checkpoint.is_file()
    result = run_protocol(str(msd_folder), resume=True, **common)
    assert result["iterations"] == 4
    assert [point[0] for point in result["curve"]] == [2, 4]  # the first point read back
    assert result["config"]["teacher"] == "no_grad"


def test_a_labelled_patients_empty_slices_are_trained_on_as_background(msd_folder):
    from napari_mcsc.io import read_volume, write_volume

    path = msd_folder / "labelsTr" / "patient000_frame01.nii.gz"
    labels = read_volume(path).array
    labels[0] = 0  # a slice beyond the heart: annotated, and empty
    write_volume(path, labels)
    said = []
    run_protocol(
        str(msd_folder),
        labelled_patients=1,
        method="sup",
        iterations=1,
        device="cpu",
        limit=1,
        log=said.append,
        **TINY,
    )
    assert "2 labelled volumes (12 slices)" in said[0]
