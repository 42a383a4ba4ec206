"""commands/study.py: ``napari-mcsc study`` end to end, and nothing lost when a process is
killed or sent SIGTERM/SIGHUP mid-round (or mid-``train``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from napari_mcsc.cli import main
from napari_mcsc.constants import ScanState
from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.io import read_volume, write_volume
from napari_mcsc.study import Study

pytestmark = pytest.mark.slow


@pytest.fixture()
def scans(tmp_path, phantoms):
    folder = tmp_path / "scans"
    for i, p in enumerate(phantoms):
        write_volume(folder / f"case{i}.nii.gz", p.image)
    labels = write_volume(tmp_path / "case0_painted.nii.gz", paint_slices(phantoms[0].labels, [2, 5]))
    return folder, labels


def test_a_study_from_creation_to_exported_masks(tmp_path, scans, phantoms, capsys):
    folder, labels = scans
    study_dir = str(tmp_path / "study")
    assert main(["study", "create", study_dir, "--scans", str(folder), "--first-round-iterations", "2",
                 "--round-iterations", "1"]) == 0  # fmt: skip
    assert "3 scans" in capsys.readouterr().out
    assert main(["study", "paint", study_dir, "--scan", "case0", "--labels", str(labels)]) == 0
    assert main(["study", "round", study_dir, "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("Round 1 on 1 scan(s): 2 iterations")  # said before it starts
    out = captured.out
    assert "round 1: 2 iterations" in out and "case0, case1" in out  # the painted scan and the next
    assert main(["study", "status", study_dir, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    states = {s["name"]: s["state"] for s in status["scans"]}
    assert states == {"case0": "corrected", "case1": "predicted", "case2": "new"}
    assert status["next_slices"] and all(
        (s["scan"], s["slice"]) not in {("case0", 2), ("case0", 5)} for s in status["next_slices"]
    )
    # a scan's first look after painting has nothing to compare with: no slice flagged yet
    assert [s["came_or_went"] for s in status["next_slices"]] == [False] * len(status["next_slices"])
    assert main(["study", "round", study_dir, "--device", "cpu", "--iterations", "3", "--predict"]) == 0
    assert "round 2: 3 iterations" in capsys.readouterr().out
    assert Study.open(study_dir).train_state.position == 5
    assert main(["study", "accept", study_dir, "--scan", "case0"]) == 0
    assert main(["study", "export", study_dir, "--out", str(tmp_path / "masks")]) == 0
    exported = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert exported == ["case0_mask.nii.gz", "case1_mask.nii.gz"]  # case2 was never predicted
    mask = read_volume(tmp_path / "masks" / "case0_mask.nii.gz").array
    np.testing.assert_array_equal(mask[[2, 5]], phantoms[0].labels[[2, 5]])


def test_study_mistakes_are_one_line(tmp_path, scans, capsys):
    folder, labels = scans
    assert main(["study", "status", str(tmp_path / "nowhere")]) == 2
    assert "holds no study" in capsys.readouterr().err
    study_dir = str(tmp_path / "study")
    assert main(["study", "create", study_dir, "--scans", str(folder)]) == 0
    assert main(["study", "round", study_dir]) == 2
    assert "nothing painted yet" in capsys.readouterr().err
    assert main(["study", "paint", study_dir, "--scan", "nope", "--labels", str(labels)]) == 2
    assert "no scan named 'nope'" in capsys.readouterr().err


def _start(args, tmp_path):
    env = {**os.environ, "NAPARI_MCSC_TORCH_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "napari_mcsc", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def _wait_for(process, text: str, timeout: float = 240.0) -> str:
    """Read the process's stderr until a line holds ``text``."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    process.kill()
    raise AssertionError(f"never saw {text!r}; stderr: {''.join(seen)}")


def _painted_study(tmp_path, scans, iterations: int) -> str:
    folder, labels = scans
    study_dir = str(tmp_path / "study")
    assert main(["study", "create", study_dir, "--scans", str(folder),
                 "--first-round-iterations", str(iterations)]) == 0  # fmt: skip
    assert main(["study", "paint", study_dir, "--scan", "case0", "--labels", str(labels)]) == 0
    return study_dir


def test_the_scan_painted_last_is_the_current_one(tmp_path, scans, capsys):
    study_dir = _painted_study(tmp_path, scans, iterations=2)
    assert main(["study", "paint", study_dir, "--scan", "case1", "--labels", str(scans[1])]) == 0
    capsys.readouterr()
    assert main(["study", "status", study_dir, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["current"] == "case1"


def test_a_round_killed_mid_training_loses_nothing_painted(tmp_path, scans, phantoms):
    study_dir = _painted_study(tmp_path, scans, iterations=10_000)
    before = (tmp_path / "study" / "study.json").read_text()
    process = _start(["study", "round", study_dir, "--device", "cpu"], tmp_path)
    _wait_for(process, "training on")
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    study = Study.open(study_dir)  # a complete session file, as before the round
    assert (tmp_path / "study" / "study.json").read_text() == before
    assert study.scan("case0").painted == [2, 5] and study.scan("case0").state == ScanState.CORRECTED
    np.testing.assert_array_equal(study.labels("case0"), paint_slices(phantoms[0].labels, [2, 5]))
    assert study.model is None and not study.rounds


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_round_ended_by_sigterm_or_sighup_keeps_the_model_so_far(tmp_path, scans, sig):
    study_dir = _painted_study(tmp_path, scans, iterations=10_000)
    process = _start(["study", "round", study_dir, "--device", "cpu", "--predict"], tmp_path)
    _wait_for(process, "training on")
    time.sleep(2.0)
    process.send_signal(sig)
    assert process.wait(timeout=120) == 0, process.stderr.read()
    study = Study.open(study_dir)
    assert len(study.rounds) == 1 and not study.rounds[0]["complete"]
    assert 0 < study.model.trained_iterations < 10_000
    assert study.train_state.position == study.model.trained_iterations


def test_train_ended_by_sigterm_writes_the_model_trained_so_far(tmp_path, scans):
    folder, labels = scans
    out = tmp_path / "model.pt"
    process = _start(
        ["train", "--image", str(folder / "case0.nii.gz"), "--labels", str(labels), "--iterations",
         "10000", "--method", "sup", "--device", "cpu", "--out", str(out)],
        tmp_path,
    )  # fmt: skip
    _wait_for(process, "training sup")  # sup: the first iteration comes soonest
    time.sleep(2.0)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0, process.stderr.read()
    from napari_mcsc.checkpoint import load_model

    assert 0 < load_model(out).trained_iterations < 10_000


def test_create_keeps_the_targets_on_unlabelled_slices(tmp_path, scans):
    folder, _ = scans
    study_dir = str(tmp_path / "study")
    assert main(["study", "create", study_dir, "--scans", str(folder), "--method", "mcsc",
                 "--teacher", "no_grad", "--pseudo-threshold", "0.95", "--strong-view"]) == 0  # fmt: skip
    training = Study.open(study_dir).settings.training
    assert training == {"teacher": "no_grad", "pseudo_threshold": 0.95, "strong_view": True}
    other = ["study", "create", str(tmp_path / "other"), "--scans", str(folder), "--teacher", "same_pass",
             "--strong-view"]  # fmt: skip
    assert main(other) == 2  # a strong view needs a teacher: a usage error, nothing made
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize(("flag", "expected"), [("--consistent", True), ("--no-consistent", False)])
def test_create_keeps_the_choice_of_a_3d_consistent_mask(tmp_path, scans, flag, expected):
    folder, _ = scans
    study_dir = str(tmp_path / "study")
    assert main(["study", "create", study_dir, "--scans", str(folder), flag]) == 0
    assert Study.open(study_dir).settings.consistent_mask is expected


@pytest.mark.parametrize(
    ("flag", "setting", "expected"),
    [
        ([], "learn_from_accepted", False),
        (["--learn-from-accepted"], "learn_from_accepted", True),
        ([], "scan_statistics", True),
        (["--no-scan-statistics"], "scan_statistics", False),
    ],
)
def test_create_keeps_the_choices_of_how_rounds_learn_and_predict(tmp_path, scans, flag, setting, expected):
    folder, _ = scans
    study_dir = str(tmp_path / "study")
    assert main(["study", "create", study_dir, "--scans", str(folder), *flag]) == 0
    assert getattr(Study.open(study_dir).settings, setting) is expected
