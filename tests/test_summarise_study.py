"""benchmarks/summarise_study.py: the per-scan workflow derived from interactive runs at several K."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark_scripts import load_script


def _module():
    return load_script("summarise_study")


def _run(tmp_path, k: int, scores: dict[str, float]) -> Path:
    path = tmp_path / f"k{k}.json"
    volumes = [{"case": name, "dice_mean": v, "consistent_dice_mean": v + 0.1} for name, v in scores.items()]
    path.write_text(json.dumps({"painted": k, "volumes": volumes}))
    return path


def test_a_scan_counts_the_first_k_that_reaches_the_target_and_bounds_what_was_not_run(tmp_path):
    files = [
        _run(tmp_path, 1, {"a": 0.9, "b": 0.5, "c": 0.5}),
        _run(tmp_path, 2, {"a": 0.95, "b": 0.86, "c": 0.6, "d": 0.9}),
        _run(tmp_path, 3, {"a": 0.95, "b": 0.9, "c": 0.76, "d": 0.9}),
    ]
    rows = {r["name"]: r for r in _module().per_scan_from_interactive(files, 0.85)}
    assert (rows["a"]["painted_slices"], rows["a"]["exact"]) == (1, True)
    assert (rows["b"]["painted_slices"], rows["b"]["exact"]) == (2, True)
    assert (rows["c"]["painted_slices"], rows["c"]["exact"]) == (4, False)  # none of K = 1-3 reached it
    assert (rows["d"]["painted_slices"], rows["d"]["exact"]) == (1, False)  # K = 1 not run for d
    masked = {r["name"]: r for r in _module().per_scan_from_interactive(files, 0.85, "consistent_dice_mean")}
    assert masked["b"]["painted_slices"] == 2 and masked["c"]["painted_slices"] == 3


def test_plotted_arms_say_which_masks_their_study_predicted(tmp_path):
    arm = {"label": "sup, carry-over on, uncertain", "scans": []}
    files = {}
    runs = {"new": {"consistent_mask": True}, "raw": {"consistent_mask": False}, "old": None}
    for name, settings in runs.items():
        files[name] = tmp_path / f"{name}.json"
        result = {"arms": [arm]} if settings is None else {"arms": [arm], "settings": settings}
        files[name].write_text(json.dumps(result))
    labels = {name: _module()._arms_named_with_masks(path)[0]["label"] for name, path in files.items()}
    assert labels["new"] == "sup, carry-over on, uncertain, 3D-consistent"
    assert labels["raw"] == labels["old"] == "sup, carry-over on, uncertain, raw masks"


def test_a_file_given_as_label_equals_path_adds_its_label(tmp_path):
    module = _module()
    path = tmp_path / "zoom=wide.json"  # an "=" in the file name too: only the first one splits
    path.write_text(
        json.dumps({"arms": [{"label": "sup", "scans": []}], "settings": {"consistent_mask": True}})
    )
    label, found = module._label_and_path(f"zoom 0.7-1.4={path}")
    assert (label, found) == ("zoom 0.7-1.4", path)
    assert module._arms_named_with_masks(found, label)[0]["label"] == "sup, 3D-consistent, zoom 0.7-1.4"
    assert module._label_and_path(str(tmp_path / "plain.json")) == ("", tmp_path / "plain.json")


def test_the_accepted_mask_column_needs_every_scan_to_have_recorded_it():
    scans = [
        {"painted_slices": 2, "dice_first_seen": None, "dice_reached": 0.9, "dice_mask": 0.95},
        {"painted_slices": 0, "dice_first_seen": 0.86, "dice_reached": 0.86, "dice_mask": 0.86},
    ]
    row = _module().arm_row({"label": "sup", "scans": scans}, 0.85)
    assert abs(row["mask"] - 0.905) < 1e-9
    older = [{k: v for k, v in s.items() if k != "dice_mask"} for s in scans]
    assert _module().arm_row({"label": "sup", "scans": older}, 0.85)["mask"] is None


def test_slices_reviewed_as_empty_are_counted_only_where_every_scan_recorded_them(tmp_path):
    scans = [
        {"painted_slices": 3, "empty_slices": 1, "dice_first_seen": None, "dice_reached": 0.9},
        {"painted_slices": 2, "empty_slices": 0, "dice_first_seen": 0.5, "dice_reached": 0.9},
    ]
    path = tmp_path / "walk.json"
    path.write_text(json.dumps({"target": 0.85, "arms": [{"label": "sup", "scans": scans}]}))
    assert "| 5 (1 empty) |" in _module().table([path])
    older = [{k: v for k, v in s.items() if k != "empty_slices"} for s in scans[:1]] + scans[1:]
    assert _module().arm_row({"label": "sup", "scans": older}, 0.85)["empty"] is None


def test_carried_rescorings_count_with_their_volumes_painted_slices_and_a_dotted_score(tmp_path):
    rescored = tmp_path / "carry.json"  # rescore_carry.py's layout: no top-level "painted"
    volumes = [
        {"case": "a", "painted": [3, 6], "carry_0": {"dice_mean": 0.8}, "carry_0.4": {"dice_mean": 0.86}},
        {"case": "b", "painted": [3, 6], "carry_0": {"dice_mean": 0.7}, "carry_0.4": {"dice_mean": 0.8}},
    ]
    rescored.write_text(json.dumps({"volumes": volumes}))
    k1 = _run(tmp_path, 1, {"a": 0.5, "b": 0.5})  # consistent_dice_mean 0.6 each
    keys = ["carry_0.4.dice_mean", "consistent_dice_mean"]
    rows = {r["name"]: r for r in _module().per_scan_from_interactive([k1, rescored], 0.85, keys)}
    assert (rows["a"]["painted_slices"], rows["a"]["exact"], rows["a"]["dice_reached"]) == (2, True, 0.86)
    assert (rows["b"]["painted_slices"], rows["b"]["exact"]) == (3, False)
    uncarried = _module().per_scan_from_interactive([k1, rescored], 0.85, ["carry_0.dice_mean", "dice_mean"])
    assert [r["exact"] for r in uncarried] == [False, False]


def test_the_per_scan_arm_follows_the_study_order_and_says_when_it_is_a_lower_bound():
    rows = [
        {"name": "a", "painted_slices": 2, "exact": True, "dice_reached": 0.9},
        {"name": "b", "painted_slices": 4, "exact": False, "dice_reached": 0.7},
        {"name": "c", "painted_slices": 1, "exact": True, "dice_reached": 0.9},
    ]
    arm = _module().per_scan_arm(rows, [{"name": "c"}, {"name": "a"}])  # a study that stopped at 2 scans
    assert [s["name"] for s in arm["scans"]] == ["c", "a"]
    assert not arm["label"].endswith("a lower bound")
    whole = _module().per_scan_arm(rows, [])
    assert [s["name"] for s in whole["scans"]] == ["a", "b", "c"] and whole["label"].endswith("a lower bound")


def test_the_study_against_the_per_scan_workflow_counts_an_unreached_scan_as_a_bound():
    study = {
        "scans": [
            {"name": "a", "painted_slices": 1, "dice_reached": 0.9},
            {"name": "b", "painted_slices": 0, "dice_reached": 0.88},
            {"name": "c", "painted_slices": 8, "dice_reached": 0.6},  # the study missed c too
            {"name": "z", "painted_slices": 5, "dice_reached": 0.9},  # the per-scan run stopped before z
        ]
    }
    off_arm = [
        {"name": "a", "painted_slices": 2, "dice_reached": 0.86},
        {"name": "b", "painted_slices": 1, "dice_reached": 0.9},
        {"name": "c", "painted_slices": 8, "dice_reached": 0.5},
    ]
    figures = _module().against_per_scan(study, off_arm, 0.85)
    assert (figures["scans"], figures["study"], figures["study_below_target"]) == (3, 9, 1)
    assert (figures["per_scan_as_run"], figures["per_scan_below_target"], figures["per_scan_to_target"]) == (
        11,
        1,
        12,
    )
    assert abs(figures["ratio_at_most"] - 9 / 12) < 1e-12 and abs(figures["ratio_as_run"] - 9 / 11) < 1e-12
    derived = [{"name": "a", "painted_slices": 3, "exact": False, "dice_reached": 0.8}]  # ">= 3" already
    assert _module().against_per_scan(study, derived, 0.85)["per_scan_to_target"] == 3


def test_hovering_scans_are_those_just_under_the_target_early_on():
    arm = {
        "scans": [
            {"name": "near", "dice_by_round": [0.84, 0.83, 0.7, 0.9], "painted_slices": 4},
            {"name": "late", "dice_by_round": [0.5, 0.6, 0.84], "painted_slices": 3},
            {"name": "reached", "dice_by_round": [0.86], "painted_slices": 1},
            {"name": "second", "dice_by_round": [0.7, 0.825, 0.8, 0.8, 0.9], "painted_slices": 5},
            {"name": "none", "painted_slices": 0},
        ]
    }
    module = _module()
    found = module.hovering_scans(arm, 0.85, margin=0.03)
    assert [s["name"] for s in found] == ["near", "second"]
    assert found[1]["early"] == [0.7, 0.825]
    line = module.hovering_line("run", found)
    assert line.startswith("run: 2 scans just under") and "1 then took >= 5: second (5)" in line
