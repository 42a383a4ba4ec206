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
