"""Markdown tables of ``napari-mcsc benchmark study`` results (docs/benchmarks.md).

Run: python benchmarks/summarise_study.py benchmarks/results/study/val_lv_default.json [...]
     [--plot docs/images/study_painted_slices.png --title "..."]
     (a file may be given as "LABEL=FILE": its arms are plotted with LABEL added)
     [--per-scan-from benchmarks/results/accuracy/val20_k{2,3,4}_sup_default.json [--consistent]]
     [--per-scan-from RUN.json CARRY.json --key carry_0.4.dice_mean --key consistent_dice_mean]
     [--against-per-scan]
     [--hovering]

``--hovering`` lists, in each carried arm with round-by-round Dice, the scans that came
just under the target (within ``--margin``) after their first or second painted slice,
and what they then took: a scan that hovers there may take every slice up to the cap,
the Dice on its unpainted slices falling as they are painted (docs/benchmarks.md,
section 39).

``--per-scan-from`` derives the per-scan workflow (each scan from scratch with K evenly
spaced slices, K = 1, 2, ... until the target) from ``benchmark interactive`` runs at
several K over the same scans, which train exactly that way: a scan's count is the first
K that reaches the target. Where a smaller K was not run, or no K run reaches it, the
count is a lower bound (printed as ">= n"). Files of ``rescore_carry.py`` (the same volumes
rescored with their painted slices carried) count too: each volume's K is its painted
slices, and ``--key`` names the score (dotted for a nested one: ``carry_0.4.dice_mean``);
the first key a file holds is the one read.

``--against-per-scan`` sets the first file's first arm (the study) against the per-scan
workflow (a carry-over-off arm of the files, or ``--per-scan-from``) on the scans both ran
(issue 16's aim: at most half the per-scan workflow's slices at the same target): the
ratio to the per-scan count with every unreached scan counted one slice past what it took
(a bound: at most that ratio), and to the counts as they stand.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def arm_row(arm: dict, target: float) -> dict:
    """The figures of one arm: slices painted in all, per scan from the 5th on, Dice; ``mask``:
    the mean Dice of the masks a user accepts (painted slices and prediction, every slice;
    None for runs that did not record it on every scan); ``empty``: of the painted slices,
    those reviewed as empty (None for runs that did not record it)."""
    scans = arm["scans"]
    painted = [s["painted_slices"] for s in scans]
    first_seen = [s["dice_first_seen"] for s in scans if s["dice_first_seen"] is not None]
    reached = [s["dice_reached"] for s in scans if s["dice_reached"] is not None]
    rounds = [r for s in scans for r in s.get("round_seconds", [])]
    masks = [s["dice_mask"] for s in scans if s.get("dice_mask") is not None]
    empty = [s["empty_slices"] for s in scans if "empty_slices" in s]
    return {
        "arm": arm["label"],
        "scans": len(scans),
        "painted": sum(painted),
        "empty": sum(empty) if len(empty) == len(scans) else None,
        "from_5th": float(statistics.mean(painted[4:])) if len(painted) > 4 else None,
        "first_seen": statistics.mean(first_seen) if first_seen else None,
        "reached": statistics.mean(reached) if reached else None,
        "missed": sum(1 for r in reached if r < target),
        "mask": statistics.mean(masks) if len(masks) == len(scans) else None,
        "rounds": len(rounds),
        "round_seconds": statistics.median(rounds) if rounds else None,
    }


def per_scan_from_interactive(
    files: list[Path], target: float, key: str | list[str] = "dice_mean"
) -> list[dict]:
    """Per scan: the first K of the interactive runs ``files`` whose Dice ``key`` on the
    unpainted slices reaches ``target`` (``exact``), or the lower bound the runs allow.
    ``key``: one score, or several (each file is read with the first of them it holds)."""
    keys = [key] if isinstance(key, str) else list(key)
    by_k: dict[int, dict[str, float]] = {}
    for path in files:
        result = json.loads(path.read_text())
        found = _first_key(result["volumes"][0], keys, path)
        for volume in result["volumes"]:
            k = int(result["painted"]) if "painted" in result else len(volume["painted"])
            by_k.setdefault(k, {})[volume["case"]] = _score(volume, found)
    names = list(dict.fromkeys(n for k in sorted(by_k) for n in by_k[k]))
    rows = []
    for name in names:
        count, exact, reached = max(by_k) + 1, False, None
        for k in range(1, max(by_k) + 1):
            score = by_k[k].get(name) if k in by_k else None
            if score is None:
                count, exact = k, False
                break
            reached = score
            if score >= target:
                count, exact = k, True
                break
        rows.append({"name": name, "painted_slices": count, "exact": exact, "dice_reached": reached})
    return rows


def against_per_scan(study: dict, per_scan: list[dict], target: float) -> dict:
    """The study arm's painted slices against the per-scan workflow's (``per_scan``: its
    scans, from a carry-over-off arm or ``per_scan_from_interactive``) on the scans both
    have. A per-scan scan that did not reach ``target`` needed more than it took, so
    ``per_scan_to_target`` counts it one more (rows from ``per_scan_from_interactive`` are
    bounds already), a lower bound, and ``ratio_at_most`` is an upper bound of the study's
    share; ``ratio_as_run`` divides the counts as they stand."""
    by_name = {row["name"]: row for row in per_scan}
    common = [scan for scan in study["scans"] if scan["name"] in by_name]
    rows = [by_name[scan["name"]] for scan in common]
    study_total = sum(scan["painted_slices"] for scan in common)
    as_run = sum(row["painted_slices"] for row in rows)
    unreached = [row for row in rows if not _reached(row, target)]
    # rows derived from interactive runs already hold their bound (">= n")
    to_target = as_run + sum(1 for row in unreached if "exact" not in row)
    return {
        "scans": len(common),
        "study": study_total,
        "study_below_target": sum(1 for scan in common if not _reached(scan, target)),
        "per_scan_as_run": as_run,
        "per_scan_below_target": len(unreached),
        "per_scan_to_target": to_target,
        "ratio_at_most": study_total / to_target if to_target else None,
        "ratio_as_run": study_total / as_run if as_run else None,
    }


def hovering_scans(arm: dict, target: float, margin: float = 0.03, within: int = 2) -> list[dict]:
    """The scans of ``arm`` whose Dice on the unpainted slices was in [target - margin,
    target) after one of their first ``within`` rounds: name, those Dice, painted slices."""
    found = []
    for scan in arm["scans"]:
        early = (scan.get("dice_by_round") or [])[:within]
        if any(target - margin <= d < target for d in early):
            found.append({"name": scan["name"], "early": early, "painted_slices": scan["painted_slices"]})
    return found


def hovering_line(label: str, scans: list[dict], many: int = 5) -> str:
    """One line: how many scans hovered under the target, and those that then took at
    least ``many`` slices."""
    costly = [s for s in scans if s["painted_slices"] >= many]
    named = ", ".join(f"{s['name']} ({s['painted_slices']})" for s in costly) or "none"
    head = f"{label}: {len(scans)} scans just under the target early on"
    return f"{head}; {len(costly)} then took >= {many}: {named}"


def _reached(row: dict, target: float) -> bool:
    """Whether a scan reached the target: rows derived from interactive runs say so
    (``exact``); a study arm's scans by their Dice."""
    if "exact" in row:
        return bool(row["exact"])
    return row["dice_reached"] is not None and row["dice_reached"] >= target


def against_line(label: str, figures: dict) -> str:
    return (
        f"study / {label} on {figures['scans']} scans: {figures['study']} painted slices "
        f"({figures['study_below_target']} below target) against {figures['per_scan_as_run']} "
        f"({figures['per_scan_below_target']} below target), at least {figures['per_scan_to_target']} "
        f"to the target: at most {_fmt(figures['ratio_at_most'], 2)} of it "
        f"({_fmt(figures['ratio_as_run'], 2)} of the counts as run)"
    )


def _score(volume: dict, key: str) -> float:
    """``volume[key]``, or one level down for a dotted key ("carry_0.4.dice_mean" is
    ``volume["carry_0.4"]["dice_mean"]``). KeyError when it is not there."""
    if key in volume:
        return volume[key]
    head, _, leaf = key.rpartition(".")
    return volume[head][leaf] if isinstance(volume.get(head), dict) else volume[key]


def _first_key(volume: dict, keys: list[str], path: Path) -> str:
    for key in keys:
        try:
            _score(volume, key)
        except KeyError:
            continue
        return key
    raise SystemExit(f"{path}: its volumes hold none of the scores {keys}; give --key with one they hold")


def per_scan_table(rows: list[dict]) -> str:
    lines = ["| scan | per-scan workflow: slices (Dice at that K) |", "|---|---|"]
    for row in rows:
        bound = "" if row["exact"] else ">= "
        lines.append(f"| {row['name']} | {bound}{row['painted_slices']} ({_fmt(row['dice_reached'])}) |")
    total = sum(r["painted_slices"] for r in rows)
    exact = all(r["exact"] for r in rows)
    lines.append(f"| **{len(rows)} scans** | **{'' if exact else '>= '}{total}** |")
    return "\n".join(lines)


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(files: list[Path]) -> str:
    lines = [
        "| study | arm | scans | painted slices | per scan from the 5th | Dice first seen | Dice reached "
        "| below target | accepted mask, all slices | rounds | s / round (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in files:
        result = json.loads(path.read_text())
        for arm in result["arms"]:
            row = arm_row(arm, result["target"])
            painted = row["painted"] if row["empty"] is None else f"{row['painted']} ({row['empty']} empty)"
            lines.append(
                f"| {path.stem} | {row['arm']} | {row['scans']} | {painted} | "
                f"{_fmt(row['from_5th'], 2)} | {_fmt(row['first_seen'])} | {_fmt(row['reached'])} | "
                f"{row['missed']} | {_fmt(row['mask'])} | {row['rounds']} | {_fmt(row['round_seconds'], 0)} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", metavar="[LABEL=]FILE")
    parser.add_argument("--per-scan-from", nargs="+", type=Path, default=[], metavar="INTERACTIVE.json")
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument(
        "--consistent", action="store_true", help="score the runs' 3D-consistent mask, not the CNN alone"
    )
    parser.add_argument(
        "--key",
        action="append",
        metavar="SCORE",
        help="the score to read (dotted for a nested one, e.g. carry_0.4.dice_mean); repeat it for "
        "files that hold different ones: each file is read with the first it holds",
    )
    parser.add_argument(
        "--against-per-scan",
        action="store_true",
        help="the first file's first arm (the study) against the per-scan workflow: the carry-over-off "
        "arms of the files and --per-scan-from",
    )
    parser.add_argument(
        "--hovering",
        action="store_true",
        help="in each carried arm, the scans just under the target after their first or second slice",
    )
    parser.add_argument(
        "--margin", type=float, default=0.03, help="how far under the target counts (--hovering)"
    )
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--title", default="Painted slices to reach the target on each scan")
    args = parser.parse_args()
    named = [_label_and_path(spec) for spec in args.files]
    if named:
        print(table([path for _, path in named]))
    per_scan = []
    if args.per_scan_from:
        key = args.key or ("consistent_dice_mean" if args.consistent else "dice_mean")
        per_scan = per_scan_from_interactive(args.per_scan_from, args.target, key)
        print(per_scan_table(per_scan))
    if args.against_per_scan and named:
        _print_against(named, per_scan, args.target)
    if args.hovering:
        for _, path in named:
            for arm in json.loads(path.read_text())["arms"]:
                if arm.get("carry_over") and any(s.get("dice_by_round") for s in arm["scans"]):
                    scans = hovering_scans(arm, args.target, args.margin)
                    print(hovering_line(f"{path.stem} / {arm['label']}", scans))
    if args.plot:
        from napari_mcsc.evaluation.study import plot_painted_slices

        arms = [arm for label, path in named for arm in _arms_named_with_masks(path, label)]
        if per_scan:
            arms.append(per_scan_arm(per_scan, arms[0]["scans"] if arms else []))
        print(plot_painted_slices(arms, args.plot, args.title))


def _print_against(named: list[tuple[str, Path]], per_scan: list[dict], target: float) -> None:
    study = json.loads(named[0][1].read_text())["arms"][0]
    others = [
        (arm["label"], arm["scans"])
        for _, path in named
        for arm in json.loads(path.read_text())["arms"]
        if arm.get("carry_over") is False
    ]
    if per_scan:
        others.append(("per-scan workflow (interactive runs)", per_scan))
    for label, scans in others:
        print(against_line(label, against_per_scan(study, scans, target)))


def per_scan_arm(rows: list[dict], study_scans: list[dict]) -> dict:
    """The per-scan workflow as an arm to plot: where there is a study to compare with, its
    scans in the study's order and only as far as the study went; else in their own order."""
    by_name = {row["name"]: row for row in rows}
    order = [s["name"] for s in study_scans if s["name"] in by_name] or list(by_name)
    bounded = not all(by_name[name]["exact"] for name in order)
    label = "per-scan workflow (from scratch, K evenly spaced)" + (", a lower bound" if bounded else "")
    return {"label": label, "scans": [by_name[name] for name in order]}


def _label_and_path(spec: str) -> tuple[str, Path]:
    """("LABEL", path) from "LABEL=FILE", ("", path) from "FILE"."""
    label, sep, path = spec.partition("=")
    return (label, Path(path)) if sep else ("", Path(spec))


def _arms_named_with_masks(path: Path, label: str = "") -> list[dict]:
    """The arms of a study run, each label saying which masks the study predicted (runs
    from before ``consistent_mask`` existed predicted raw masks), then ``label``."""
    result = json.loads(path.read_text())
    masks = "3D-consistent" if result.get("settings", {}).get("consistent_mask") else "raw masks"
    extra = f", {label}" if label else ""
    return [{**arm, "label": f"{arm['label']}, {masks}{extra}"} for arm in result["arms"]]


if __name__ == "__main__":
    main()
