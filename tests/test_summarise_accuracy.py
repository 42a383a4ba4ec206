"""benchmarks/summarise_accuracy.py: runs compared on the volumes they share, rescored masks too."""

from __future__ import annotations

import json

from benchmark_scripts import load_script
from napari_mcsc import propagation


def _module():
    return load_script("summarise_accuracy")


def test_the_default_carrying_weight_is_the_tools():
    assert _module().CARRY_WEIGHT == propagation.WEIGHT


def test_a_rescored_file_gives_its_carried_mask_and_the_volumes_ahead_are_counted_on_masks(tmp_path, capsys):
    run = tmp_path / "mcsc.json"
    volumes = [
        {"case": "a", "dice_mean": 0.70, "consistent_dice_mean": 0.80, "train_seconds": 10.0},
        {"case": "b", "dice_mean": 0.90, "consistent_dice_mean": 0.70, "train_seconds": 30.0},
        {"case": "c", "dice_mean": 0.50, "consistent_dice_mean": 0.60, "train_seconds": 20.0},  # not shared
    ]
    run.write_text(json.dumps({"volumes": volumes}))
    rescored = tmp_path / "carry.json"
    rows = [
        {"case": c, "carry_0": {"dice_mean": d0}, "carry_0.4": {"dice_mean": d4}}
        for c, d0, d4 in (("a", 0.60, 0.75), ("b", 0.65, 0.75))
    ]
    rescored.write_text(json.dumps({"runs": [], "carry_0": {}, "volumes": rows}))
    _module().main(["--runs", f"mcsc={run}", f"sup={rescored}", f"sup uncarried={rescored}:carry_0"])
    table = capsys.readouterr().out
    assert "2 volumes in every run: a, b" in table
    assert "ahead of the first run (3D-consistent)" in table
    assert "| mcsc | 0.800 | 0.750 | - | - | 0 / 2 | 20 |" in table
    assert "| sup | - | 0.750 | - | - | 1 / 2 | - |" in table  # ahead on b only
    assert "| sup uncarried | - | 0.625 | - | - | 0 / 2 | - |" in table
