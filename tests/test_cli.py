"""The command line: demo, train, predict, evaluate, and errors for people."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from cli_helpers import _one_line_error
from napari_mcsc.cli import main
from napari_mcsc.io import Geometry, read_volume, write_volume


@pytest.fixture()
def files(tmp_path, phantoms):
    """Two phantom volumes on disk, the first with 2 painted slices."""
    from napari_mcsc.data.phantom import paint_slices

    geometry = Geometry.from_zyx(spacing_zyx=(5.0, 1.2, 1.2), origin_zyx=(10.0, -3.0, 7.0))
    paths = {}
    for i, p in enumerate(phantoms[:2]):
        paths[f"image{i}"] = write_volume(tmp_path / f"case{i}.nii.gz", p.image, geometry)
        paths[f"truth{i}"] = write_volume(tmp_path / f"case{i}_truth.nii.gz", p.labels, geometry)
    painted = paint_slices(phantoms[0].labels, [2, 5])
    paths["labels0"] = write_volume(tmp_path / "case0_labels.nii.gz", painted, geometry)
    return paths


def test_train_predict_evaluate(files, tmp_path, capsys):
    model = tmp_path / "model.pt"
    assert (
        main(
            [
                "train",
                "--image",
                files["image0"],
                "--labels",
                files["labels0"],
                "--unlabelled",
                files["image1"],
                "--out",
                str(model),
                "--iterations",
                "2",
                "--device",
                "cpu",
                "--quiet",
                "--seed",
                "1",
                "--method",
                "mcsc",
            ]
        )
        == 0
    )
    assert model.is_file()
    from napari_mcsc.checkpoint import load_model

    trained = load_model(model)
    assert trained.history[-1]["method"] == "mcsc"
    assert trained.has_trained_transformer  # so --ensemble and --uncertainty use both networks
    out = tmp_path / "pred"
    assert (
        main(
            [
                "predict",
                "--model",
                str(model),
                "--image",
                files["image0"],
                "--image",
                files["image1"],
                "--out",
                str(out),
                "--uncertainty",
                "--ensemble",
            ]
        )
        == 0
    )
    pred = read_volume(out / "case0_prediction.nii.gz")
    image = read_volume(files["image0"])
    assert pred.array.shape == image.array.shape
    assert pred.geometry.isclose(image.geometry)
    unc = read_volume(out / "case1_uncertainty.nii.gz")
    assert unc.array.shape == image.array.shape and unc.array.max() <= 1.0 + 1e-6
    capsys.readouterr()
    assert main(["evaluate", "--pred", str(out / "case0_prediction.nii.gz"), "--truth", files["truth0"]]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["per_class"]) == {"1", "2", "3"} or report["mean"]["n_empty_predictions"] >= 0
    assert 0.0 <= report["mean"]["dice"] <= 1.0 and "hd95" in report["mean"]


def test_train_warm_start_from_a_model(files, tmp_path):
    first = tmp_path / "a.pt"
    common = [
        "--image",
        files["image0"],
        "--labels",
        files["labels0"],
        "--iterations",
        "1",
        "--quiet",
        "--device",
        "cpu",
    ]
    assert main(["train", *common, "--out", str(first)]) == 0
    second = tmp_path / "b.pt"
    assert main(["train", *common, "--out", str(second), "--init", str(first)]) == 0
    from napari_mcsc.checkpoint import load_model

    assert load_model(second).trained_iterations == 2


def test_train_without_method_uses_the_profiles(files, tmp_path, capsys):
    from napari_mcsc.checkpoint import load_model
    from napari_mcsc.cli import build_parser
    from napari_mcsc.commands.train import config_from_args

    out = tmp_path / "model.pt"
    assert (
        main(
            [
                "train",
                "--image",
                files["image0"],
                "--labels",
                files["labels0"],
                "--out",
                str(out),
                "--iterations",
                "1",
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    model = load_model(out)
    assert [run["method"] for run in model.history] == ["sup"] and not model.has_trained_transformer
    assert "training sup (fast profile)" in capsys.readouterr().err
    parse = build_parser().parse_args
    common = ["train", "--image", "x", "--labels", "y", "--out", "m.pt"]
    assert config_from_args(parse([*common, "--profile", "paper"])).method == "mcsc"
    assert config_from_args(parse([*common, "--profile", "paper", "--method", "sup"])).method == "sup"
    assert config_from_args(parse([*common, "--method", "ct"])).method == "ct"


def test_benchmark_method_defaults_to_the_profiles(capsys):
    from napari_mcsc.cli import build_parser
    from napari_mcsc.commands.common import profile_method

    parse = build_parser().parse_args
    for kind in ("acdc", "interactive", "loop"):
        assert parse(["benchmark", kind, "--data", "d", "--out", "o.json"]).method is None
    assert profile_method(None, "fast") == "sup" and profile_method(None, "paper") == "mcsc"
    loop = ["benchmark", "loop", "--data", "d", "--out", "o.json"]
    assert parse(loop).choosers == ["uncertain", "largest_gap", "gap"]
    assert parse([*loop, "--choosers", "gap", "--cases", "a", "b"]).choosers == ["gap"]
    with pytest.raises(SystemExit):
        parse([*loop, "--choosers", "best"])
    assert profile_method("mcsc", "fast") == "mcsc"
    with pytest.raises(SystemExit):
        parse(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: the profile's method (fast: sup, paper: mcsc)" in text


def test_evaluate_perfect_prediction(files, capsys):
    assert main(["evaluate", "--pred", files["truth0"], "--truth", files["truth0"]]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mean"]["dice"] == 1.0 and report["mean"]["hd95"] == 0.0


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (
            lambda f, t: [
                "train",
                "--image",
                str(t / "missing.nii.gz"),
                "--labels",
                f["labels0"],
                "--out",
                str(t / "m.pt"),
            ],
            "image not found",
        ),
        (
            lambda f, t: [
                "train",
                "--image",
                f["image0"],
                "--labels",
                f["truth0"],
                "--image",
                f["image1"],
                "--out",
                str(t / "m.pt"),
            ],
            "one label file per image",
        ),
        (
            lambda f, t: [
                "train",
                "--image",
                f["image0"],
                "--labels",
                str(t / "empty.nii.gz"),
                "--out",
                str(t / "m.pt"),
                "--iterations",
                "1",
            ],
            "no painted slice",
        ),
        (
            lambda f, t: [
                "train",
                "--image",
                f["image0"],
                "--labels",
                str(t / "small.nii.gz"),
                "--out",
                str(t / "m.pt"),
                "--iterations",
                "1",
            ],
            "differs from image shape",
        ),
        (
            lambda f, t: [
                "train",
                "--image",
                f["image0"],
                "--labels",
                f["labels0"],
                "--out",
                str(t / "m.pt"),
                "--device",
                "tpu",
            ],
            "unknown device",
        ),
        (
            lambda f, t: ["predict", "--model", f["image0"], "--image", f["image0"], "--out", str(t / "o")],
            "not a napari-mcsc model",
        ),
        (
            lambda f, t: ["evaluate", "--pred", f["truth0"], "--truth", str(t / "small.nii.gz")],
            "differs from ground-truth shape",
        ),
        (
            lambda f, t: [
                "train",
                "--image",
                str(t / "notes.txt"),
                "--labels",
                f["labels0"],
                "--out",
                str(t / "m.pt"),
            ],
            "notes.txt",
        ),
        (
            lambda f, t: [
                "train",
                "--image",
                f["image0"],
                "--labels",
                f["labels0"],
                "--out",
                str(t / "m.pt"),
                "--iterations",
                "1",
                "--swin-weights",
                str(t / "notes.txt"),
                "--method",
                "mcsc",
            ],
            "notes.txt",
        ),
        (
            lambda f, t: [
                "train",
                "--image",
                f["image0"],
                "--labels",
                f["labels0"],
                "--out",
                str(t / "m.pt"),
                "--iterations",
                "1",
                "--swin-weights",
                str(t / "notes.txt"),
                "--method",
                "sup",
            ],
            "--swin-weights: Swin weights are for the Swin-UNet",
        ),
    ],
)
def test_user_mistakes_exit_2_with_one_line(files, tmp_path, capsys, make_args, message):
    image = read_volume(files["image0"])
    write_volume(tmp_path / "empty.nii.gz", np.zeros(image.array.shape, np.uint8), image.geometry)
    write_volume(tmp_path / "small.nii.gz", np.zeros((2, 3, 4), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    code = main(make_args(files, tmp_path))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_real_process_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_mcsc",
            "predict",
            "--model",
            str(tmp_path / "x.pt"),
            "--image",
            str(tmp_path / "y.nii.gz"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("napari-mcsc predict: error:")
    assert "Traceback" not in proc.stderr


def test_capped_demo_writes_every_output_then_exits_1_saying_why(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--max-seconds", "3", "--device", "cpu"]) == 1
    names = {p.name for p in out.iterdir()}
    for i in range(3):
        assert {f"prediction_{i}.nii.gz", f"uncertainty_{i}.nii.gz"} <= names
    assert {"model.pt", "summary.json"} <= names
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["dice_mean"] <= 1.0 and summary["iterations"] >= 1
    assert summary["complete"] is False and summary["ended_by"] == "time cap"
    assert summary["method"] == "sup" == summary["config"]["method"]  # the fast profile's
    assert summary["planned_iterations"] > summary["iterations"]
    captured = capsys.readouterr()
    assert "Dice" in captured.out and "demo failed: training is incomplete" in captured.err


def test_train_takes_the_options_for_the_targets_of_unlabelled_slices():
    from napari_mcsc.cli import build_parser
    from napari_mcsc.commands.errors import UsageError
    from napari_mcsc.commands.train import config_from_args

    parse = build_parser().parse_args
    common = ["train", "--image", "x", "--labels", "y", "--out", "m.pt", "--method", "mcsc"]
    fast = config_from_args(parse(common))  # the fast profile's filtered targets
    assert (fast.teacher, fast.pseudo_threshold, fast.pseudo_agreement, fast.strong_view) == (
        "no_grad",
        0.95,
        False,
        True,
    )
    paper = config_from_args(parse([*common, "--profile", "paper"]))
    assert (paper.teacher, paper.pseudo_threshold, paper.pseudo_agreement, paper.strong_view) == (
        "same_pass",
        0.0,
        False,
        False,
    )
    args = [*common, "--teacher", "ema", "--pseudo-threshold", "0.9", "--agreement", "--strong-view"]
    filtered = config_from_args(parse(args))
    assert (filtered.teacher, filtered.pseudo_threshold, filtered.pseudo_agreement, filtered.strong_view) == (
        "ema",
        0.9,
        True,
        True,
    )
    with pytest.raises(UsageError, match="no_grad"):
        config_from_args(parse([*common, "--teacher", "same_pass", "--strong-view"]))


def test_ctrl_c_during_start_up(monkeypatch, capsys):
    import napari_mcsc.cli as cli

    def slow_imports():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", slow_imports)
    assert _one_line_error(capsys, main(["train"]), 130).endswith("interrupted")
