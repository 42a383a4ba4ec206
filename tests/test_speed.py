"""evaluation/speed.py: the inference speed measurement."""

from __future__ import annotations


def test_inference_speed_measurement_runs():
    from napari_mcsc.evaluation.speed import measure_inference

    r = measure_inference(uncertainty=True, shape=(2, 64, 64), repeats=1)
    assert r["seconds"] > 0 and r["shape"] == [2, 64, 64]
