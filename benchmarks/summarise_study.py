"""Markdown tables of ``napari-mcsc benchmark study`` results (docs/benchmarks.md).

Run: python benchmarks/summarise_study.py benchmarks/results/study/val_lv_default.json [...]
     [--plot docs/images/study_painted_slices.png --title "..."]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def arm_row(arm: dict, target: float) -> dict:
    """The figures of one arm: slices painted in all, per scan from the 5th on, Dice."""
    scans = arm["scans"]
    painted = [s["painted_slices"] for s in scans]
    first_seen = [s["dice_first_seen"] for s in scans if s["dice_first_seen"] is not None]
    reached = [s["dice_reached"] for s in scans if s["dice_reached"] is not None]
    rounds = [r for s in scans for r in s.get("round_seconds", [])]
    return {
        "arm": arm["label"],
        "scans": len(scans),
        "painted": sum(painted),
        "from_5th": float(statistics.mean(painted[4:])) if len(painted) > 4 else None,
        "first_seen": statistics.mean(first_seen) if first_seen else None,
        "reached": statistics.mean(reached) if reached else None,
        "missed": sum(1 for r in reached if r < target),
        "rounds": len(rounds),
        "round_seconds": statistics.median(rounds) if rounds else None,
    }


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(files: list[Path]) -> str:
    lines = [
        "| study | arm | scans | painted slices | per scan from the 5th | Dice first seen | Dice reached "
        "| below target | rounds | s / round (median) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in files:
        result = json.loads(path.read_text())
        for arm in result["arms"]:
            row = arm_row(arm, result["target"])
            lines.append(
                f"| {path.stem} | {row['arm']} | {row['scans']} | {row['painted']} | "
                f"{_fmt(row['from_5th'], 2)} | {_fmt(row['first_seen'])} | {_fmt(row['reached'])} | "
                f"{row['missed']} | {row['rounds']} | {_fmt(row['round_seconds'], 0)} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--title", default="Painted slices to reach the target on each scan")
    args = parser.parse_args()
    print(table(args.files))
    if args.plot:
        from napari_mcsc.evaluation.study import plot_painted_slices

        arms = [arm for path in args.files for arm in json.loads(path.read_text())["arms"]]
        print(plot_painted_slices(arms, args.plot, args.title))


if __name__ == "__main__":
    main()
