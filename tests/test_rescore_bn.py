"""benchmarks/rescore_bn.py: the saved statistics are each volume's reference; first looks are averaged."""

from __future__ import annotations

import pytest

from benchmark_scripts import load_script


def _row(case, saved, scan, firsts_saved, firsts_scan):
    return {
        "case": case,
        "bn_saved": {"dice_mean": saved, "dice": {"1": saved}},
        "bn_scan": {"dice_mean": scan, "dice": {"1": scan}},
        "first_saved": {"dice_mean": sum(firsts_saved) / len(firsts_saved), "each": firsts_saved},
        "first_scan": {"dice_mean": sum(firsts_scan) / len(firsts_scan), "each": firsts_scan},
    }


def test_the_summary_counts_volumes_ahead_and_behind_of_the_saved_statistics_and_averages_first_looks():
    rows = [_row("a", 0.90, 0.92, [0.2, 0.4], [0.6, 0.6]), _row("b", 0.80, 0.75, [0.5, 0.7], [0.5, 0.5])]
    summary = load_script("rescore_bn").summarise(rows)
    assert summary["bn_saved"]["ahead"] == 0 and summary["bn_saved"]["behind"] == 0
    scan = summary["bn_scan"]
    assert (scan["ahead"], scan["behind"]) == (1, 1)
    assert scan["worst"] == pytest.approx(-0.05)
    assert scan["dice_mean"] == pytest.approx(0.835) and scan["per_class"]["1"] == pytest.approx(0.835)
    assert summary["first_saved"]["dice_mean"] == pytest.approx(0.45)
    assert summary["first_scan"]["dice_mean"] == pytest.approx(0.55)


def _study_row(case, saved, scan):
    return {
        "case": case,
        "first_saved": {"dice_mean": saved, "dice": {"3": saved}},
        "first_scan": {"dice_mean": scan, "dice": {"3": scan}},
    }


def test_a_study_models_first_looks_are_paired_per_volume_against_the_saved_statistics():
    script = load_script("rescore_bn")
    rows = [_study_row("a", 0.5, 0.7), _study_row("b", 0.9, 0.85), _study_row("c", 0.8, 0.8)]
    summary = script.summarise_study(rows)
    scan = summary["first_scan"]
    assert (scan["ahead"], scan["behind"]) == (1, 1)
    assert scan["worst"] == pytest.approx(-0.05) and scan["dice_mean"] == pytest.approx(0.7833, abs=1e-4)
    assert summary["first_saved"]["dice_mean"] == pytest.approx(0.7333, abs=1e-4)
    saved, adapted = script._pairs(rows, "first_saved", "first_scan")  # one point a volume
    assert list(saved) == [0.5, 0.9, 0.8] and list(adapted) == [0.7, 0.85, 0.8]
    each = [_row("d", 0.9, 0.9, [0.2, 0.4], [0.6, 0.5])]  # one point a first look
    assert list(script._pairs(each, "first_saved", "first_scan")[1]) == [0.6, 0.5]
