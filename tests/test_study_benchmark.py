"""The simulated annotator of ``benchmark study``, and the protocol's partial results and
resumption, on a tiny Decathlon-style folder the fixture makes."""

from __future__ import annotations

import importlib.util
import json

import pytest

from napari_mcsc.cli import main
from napari_mcsc.evaluation.protocol import RunInterrupted, run_protocol
from napari_mcsc.evaluation.study import Arm, run_study_benchmark
from tiny import TINY_SETTINGS, tiny_study_settings

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("NAPARI_MCSC_TORCH_THREADS", "1")


def _bench(msd_folder, arms, **kw):
    values = dict(split="train", limit=3, target=1.01, max_slices=2, settings=tiny_study_settings())
    return run_study_benchmark(str(msd_folder), arms, log=lambda *_: None, **{**values, **kw})


def test_carried_arm_paints_until_the_target_and_scores_later_scans_when_first_seen(msd_folder):
    (arm,) = _bench(msd_folder, [Arm()])["arms"]
    first, second, third = arm["scans"]
    assert first["dice_first_seen"] is None  # no model before the first scan
    assert second["dice_first_seen"] is not None and 0 <= third["dice_first_seen"] <= 1
    # An unreachable target: every scan gets max_slices slices, one round each.
    assert [row["painted_slices"] for row in arm["scans"]] == [2, 2, 2] and arm["total_painted_slices"] == 6
    assert all(row["rounds"] == 2 and len(set(row["slices"])) == 2 for row in arm["scans"])
    assert first["slices"][0] == 3  # no prediction yet: the middle of the volume


def test_a_scan_the_carried_model_already_segments_needs_no_painting(msd_folder):
    (arm,) = _bench(msd_folder, [Arm(choice="even")], target=0.0)["arms"]
    assert [row["painted_slices"] for row in arm["scans"]] == [1, 0, 0]
    assert arm["scans"][1]["dice_reached"] == arm["scans"][1]["dice_first_seen"]


def test_without_carry_over_each_scan_restarts_with_more_evenly_spaced_slices(msd_folder):
    (arm,) = _bench(msd_folder, [Arm.parse("sup:off")], limit=1)["arms"]
    (row,) = arm["scans"]
    assert row["rounds"] == 2 and row["slices"] == [2, 3]  # K=1 then K=2 evenly spaced, from scratch
    assert row["dice_first_seen"] is None


def test_arm_names_are_checked():
    assert Arm.parse("mcsc:on:even") == Arm(method="mcsc", choice="even")
    assert Arm.parse("interp").interpolation
    with pytest.raises(ValueError, match="METHOD"):
        Arm.parse("unet")
    with pytest.raises(ValueError, match="evenly spaced"):
        Arm.parse("sup:off:uncertain")


def test_benchmark_study_command_writes_json_and_plot(msd_folder, tmp_path, monkeypatch):
    monkeypatch.setattr("napari_mcsc.study.StudySettings", lambda **kw: tiny_study_settings(**kw))
    out = tmp_path / "study.json"
    argv = ["benchmark", "study", "--data", str(msd_folder), "--split", "val", "--arms", "sup:on:even",
            "--max-slices", "1", "--device", "cpu", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["arms"][0]["method"] == "sup" and result["arms"][0]["choice"] == "even"
    assert [row["name"] for row in result["arms"][0]["scans"]] == result["order"]
    # The plot needs matplotlib (the benchmark extra); without it the command says so.
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    assert out.with_suffix(".png").is_file() == has_matplotlib


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
