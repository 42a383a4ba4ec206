"""Benchmark harness on a tiny MSD-style folder made by the test (not the benchmarks)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.data.decathlon import load_split, read_case
from napari_mcsc.evaluation.interactive import dice_on_slices, run_interactive
from napari_mcsc.evaluation.protocol import first_patients, run_protocol
from tiny import TINY_SETTINGS

TINY = dict(TINY_SETTINGS, batch_size=4, labelled_batch_size=2)


def test_split_and_cases(msd_folder):
    assert load_split(msd_folder, "val") == ["patient002_frame01", "patient002_frame02"]
    case = read_case(msd_folder, "patient000_frame01")
    assert case.image.shape == case.labels.shape == (6, 48, 48)
    with pytest.raises(ValueError, match="split 'test'"):
        load_split(msd_folder, "test")


def test_first_patients_takes_all_frames_of_each():
    cases = ["p9_frame01", "p9_frame02", "p3_frame01", "p3_frame02", "p5_frame01"]
    assert first_patients(cases, 1) == ["p9_frame01", "p9_frame02"]
    assert first_patients(cases, 2) == cases[:4]


def test_dice_on_slices_uses_only_the_kept_slices():
    truth = np.zeros((4, 4, 4), int)
    truth[:, 1:3, 1:3] = 1
    pred = truth.copy()
    pred[0] = 0  # wrong only on slice 0
    assert dice_on_slices(pred, truth, [1, 2, 3], [1]) == {1: 1.0}
    assert dice_on_slices(pred, truth, [0, 1], [1])[1] == pytest.approx(2 / 3)


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


def test_interactive_run_scores_unpainted_slices(msd_folder):
    result = run_interactive(
        str(msd_folder),
        painted=2,
        iterations=3,
        limit=1,
        device="cpu",
        curve_at=[1, 3],
        log=lambda *_: None,
        **TINY,
    )
    row = result["volumes"][0]
    assert row["painted"] == [2, 3]  # round((i+1)*5/3) for 6 slices, halves up: 1.67->2, 3.33->3
    assert 0.0 <= result["dice_mean"] <= 1.0 and row["iterations"] == 3 and row["complete"]
    assert 0.0 <= row["ensemble_dice_mean"] <= 1.0
    assert [it for it, _ in row["curve"]] == [1, 3]


def test_interactive_run_can_keep_one_structure(msd_folder):
    result = run_interactive(
        str(msd_folder),
        painted=2,
        iterations=2,
        limit=1,
        device="cpu",
        method="sup",
        classes=[3],
        log=lambda *_: None,
        **TINY,
    )
    row = result["volumes"][0]
    assert set(row["dice"]) == {"3"} and result["classes"] == [3]
    assert "ensemble_dice_mean" not in row  # a supervised model has no trained Transformer


def test_inference_speed_measurement_runs():
    from napari_mcsc.evaluation.speed import measure_inference

    r = measure_inference(uncertainty=True, shape=(2, 64, 64), repeats=1)
    assert r["seconds"] > 0 and r["shape"] == [2, 64, 64]


def test_contour_interpolation_fills_between_painted_slices():
    from napari_mcsc.evaluation.baselines import contour_interpolation_available, interpolate_contours

    if not contour_interpolation_available():
        pytest.skip("itk-morphologicalcontourinterpolation is not installed (benchmark extra)")
    sparse = np.zeros((7, 20, 20), np.uint8)
    sparse[1, 5:15, 5:15] = 1
    sparse[5, 8:12, 8:12] = 1
    filled = interpolate_contours(sparse)
    areas = filled.sum(axis=(1, 2))
    assert areas[0] == 0 and areas[6] == 0  # no extrapolation
    assert areas[1] == 100 and areas[5] == 16
    assert 100 > areas[2] > areas[3] > areas[4] > 16


def test_loop_benchmark_adds_one_slice_per_round(msd_folder):
    from napari_mcsc.evaluation.loop import run_loop

    result = run_loop(
        str(msd_folder),
        painted=1,
        rounds=2,
        iterations=2,
        retrain_iterations=1,
        limit=1,
        device="cpu",
        log=lambda *_: None,
        **TINY,
    )
    row = result["volumes"][0]
    for arm in ("uncertain", "largest_gap"):
        counts = [len(r["painted"]) for r in row[arm]]
        assert counts == [1, 2, 3], arm
        assert all(0.0 <= r["dice_mean"] <= 1.0 for r in row[arm])
    assert len(result["uncertain_dice_by_round"]) == 3


def test_review_choices():
    from napari_mcsc.review import largest_gap_slice, next_uncertain_slice

    assert next_uncertain_slice([4, 2, 7], annotated=[4]) == 2
    assert next_uncertain_slice([4], annotated=[4]) is None
    assert largest_gap_slice(10, [3, 6]) == 1  # slices 0-2 is the first longest run
    assert largest_gap_slice(12, [2, 3]) == 8  # 4..11 is the longest run: its middle
    assert largest_gap_slice(3, [0, 1, 2]) is None


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
