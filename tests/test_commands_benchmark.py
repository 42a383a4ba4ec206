"""commands/benchmark.py: ``napari-mcsc benchmark study`` writes its results and their plot."""

from __future__ import annotations

import importlib.util
import json

import pytest

import napari_mcsc.evaluation.study  # noqa: F401  (imported before a test patches StudySettings)
from napari_mcsc.cli import main
from tiny import tiny_study_settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("_one_thread")]


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
    # Each scan's row as it came, and no work folder left once the run is complete.
    lines = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert [(line["arm"], line["name"]) for line in lines] == [
        (result["arms"][0]["label"], name) for name in result["order"]
    ]
    assert not out.with_suffix(".work").exists()


def test_benchmark_study_will_not_overwrite_an_unfinished_run(msd_folder, tmp_path, capsys):
    out = tmp_path / "study.json"
    out.with_suffix(".work").mkdir()
    out.with_suffix(".work").joinpath("run.json").write_text("{}")
    argv = ["benchmark", "study", "--data", str(msd_folder), "--split", "val", "--out", str(out)]
    assert main(argv) == 2
    assert "holds an unfinished run: add --resume" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 2  # a different run: the command line must be the same
    assert "holds a different run" in capsys.readouterr().err


def test_benchmark_interactive_refuses_a_case_that_is_not_in_the_split(msd_folder, tmp_path, capsys):
    argv = ["benchmark", "interactive", "--data", str(msd_folder), "--split", "val",
            "--cases", "patient000_frame01", "--out", str(tmp_path / "out.json")]  # fmt: skip
    assert main(argv) == 2
    assert "not in the val split: patient000_frame01" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()
