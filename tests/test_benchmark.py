"""Benchmark harness on a tiny MSD-style folder made by the test (not the benchmarks)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_mcsc.benchmark.dataset import load_split, read_case
from napari_mcsc.benchmark.interactive import dice_on_slices, run_interactive
from napari_mcsc.benchmark.protocol import first_patients, run_protocol
from napari_mcsc.io import write_volume

TINY = dict(image_size=64, unet_channels=(8, 16, 32, 64, 128), swin_embed_dim=24,
            swin_heads=(1, 2, 4, 8), swin_window=4, projection_dim=32, block_sizes=(16, 8),
            max_sets=(4, 2), max_pixels_per_set=256, batch_size=4, labelled_batch_size=2)


@pytest.fixture()
def msd_folder(tmp_path, phantoms):
    from napari_mcsc.data.phantom import make_phantom

    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    names = []
    for patient in range(3):
        for frame in (1, 2):
            name = f"patient{patient:03d}_frame{frame:02d}"
            p = make_phantom((6, 48, 48), seed=patient * 10 + frame, variant=frame)
            write_volume(tmp_path / "imagesTr" / f"{name}.nii.gz", p.image)
            write_volume(tmp_path / "labelsTr" / f"{name}.nii.gz", p.labels)
            names.append(name)
    (tmp_path / "splits.json").write_text(json.dumps({"train": names[:4], "val": names[4:]}))
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"0": "bg", "1": "RV", "2": "MYO", "3": "LV"}}))
    return tmp_path


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
    result = run_protocol(str(msd_folder), labelled_patients=1, method="mcsc", iterations=2,
                          device="cpu", log=lambda *_: None, **TINY)
    assert result["labelled_volumes"] == 2 and result["unlabelled_volumes"] == 2
    assert set(result["results"]) == {"cnn", "ensemble"}
    mean = result["results"]["cnn"]["mean"]
    assert 0.0 <= mean["dice"] <= 1.0 and "hd95" in mean and "asd" in mean
    assert result["evaluated_volumes"] == 2


def test_interactive_run_scores_unpainted_slices(msd_folder):
    result = run_interactive(str(msd_folder), painted=2, max_seconds=2.0, limit=1, device="cpu",
                             log=lambda *_: None, **TINY)
    row = result["volumes"][0]
    assert row["painted"] == [2, 3]  # round((i+1)*5/3) for 6 slices, halves up: 1.67->2, 3.33->3
    assert 0.0 <= result["dice_mean"] <= 1.0 and row["iterations"] >= 1


def test_inference_speed_measurement_runs():
    from napari_mcsc.benchmark.speed import measure_inference

    r = measure_inference(uncertainty=True, shape=(2, 64, 64), repeats=1)
    assert r["seconds"] > 0 and r["shape"] == [2, 64, 64]


def test_contour_interpolation_fills_between_painted_slices():
    from napari_mcsc.benchmark.baselines import contour_interpolation_available, interpolate_contours

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
