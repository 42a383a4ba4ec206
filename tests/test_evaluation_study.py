"""evaluation/study.py: the simulated annotator of ``benchmark study``, on a tiny Decathlon-style folder."""

from __future__ import annotations

import pytest

from napari_mcsc.evaluation.study import Arm, run_study_benchmark
from tiny import tiny_study_settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("_one_thread")]


def _bench(msd_folder, arms, **kw):
    values = dict(split="train", limit=3, target=1.01, max_slices=2, settings=tiny_study_settings())
    return run_study_benchmark(str(msd_folder), arms, log=lambda *_: None, **{**values, **kw})


def test_carried_arm_paints_until_the_target_and_scores_later_scans_when_first_seen(msd_folder):
    (arm,) = _bench(msd_folder, [Arm()])["arms"]
    first, second, third = arm["scans"]
    assert first["dice_first_seen"] is None  # no model before the first scan
    assert second["dice_first_seen"] is not None and 0 <= third["dice_first_seen"] <= 1
    assert "dice_first_seen_consistent" not in first and 0 <= second["dice_first_seen_consistent"] <= 1
    # An unreachable target: every scan gets max_slices slices, one round each.
    assert [row["painted_slices"] for row in arm["scans"]] == [2, 2, 2] and arm["total_painted_slices"] == 6
    assert all(row["rounds"] == 2 and len(set(row["slices"])) == 2 for row in arm["scans"])
    assert first["slices"][0] == 3  # no prediction yet: the middle of the volume
    assert all(0 <= row["dice_mask"] <= 1 for row in arm["scans"])


def test_a_scan_the_carried_model_already_segments_needs_no_painting(msd_folder):
    (arm,) = _bench(msd_folder, [Arm(choice="even")], target=0.0)["arms"]
    assert [row["painted_slices"] for row in arm["scans"]] == [1, 0, 0]
    assert arm["scans"][1]["dice_reached"] == arm["scans"][1]["dice_first_seen"]
    # Nothing painted on a scan: the mask a user would accept is the prediction itself.
    assert [row["dice_mask"] for row in arm["scans"][1:]] == [
        row["dice_first_seen"] for row in arm["scans"][1:]
    ]


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
