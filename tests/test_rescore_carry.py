"""benchmarks/rescore_carry.py: interactive runs that carried by default plot as rescored pairs."""

from __future__ import annotations

import pytest

from benchmark_scripts import load_script


def _module():
    return load_script("rescore_carry")


def test_a_run_that_carried_by_default_reads_as_the_pair_without_and_with_carrying():
    run = {
        "volumes": [
            {
                "case": "a",
                "painted": [2, 5],
                "consistent_dice_mean": 0.9,
                "uncarried_consistent_dice_mean": 0.8,
            }
        ]
    }
    pair = _module().as_rescored(run)["volumes"][0]
    assert pair["carry_0"]["dice_mean"] == 0.8 and pair["carry_0.4"]["dice_mean"] == 0.9
    rescored = {"volumes": [{"case": "a", "carry_0": {"dice_mean": 0.7}}]}
    assert _module().as_rescored(rescored) is rescored


def test_a_run_from_before_carrying_is_refused_with_what_to_do():
    older = {"volumes": [{"case": "a", "painted": [2, 5], "consistent_dice_mean": 0.9}]}
    with pytest.raises(SystemExit, match="rescore it first"):
        _module().as_rescored(older)
