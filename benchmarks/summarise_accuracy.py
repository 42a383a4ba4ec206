"""Accuracy per painted slice: interactive runs compared on the volumes they share.

Each FILE is the JSON of ``napari-mcsc benchmark interactive`` (partial results too); each
is named by LABEL. Prints a markdown table of mean Dice (CNN, then the 3D-consistent,
flipped and both predictions of the same model) over the volumes every run finished,
with the number of volumes where a run beats the first one, and writes a PNG of the
per-volume Dice.

    python benchmarks/summarise_accuracy.py --runs "whole slice=a.json" "crop 0.25=b.json" \
        --png docs/images/accuracy_val_k2.png

A run made with ``--set average_weights=D`` also scored its models as they were at their
last step: ``"last step=run.json:last_step" "averaged=run.json"`` compares the two;
``"ED and ES=ed.json,es.json"`` joins two runs of one setting. A file of
``rescore_carry.py`` gives the carried mask of the models it rescored (``FILE`` at the
tool's weight, ``FILE:carry_0.3`` at another, ``FILE:carry_0`` not carried) and no CNN
figure; the volumes ahead are then counted on the 3D-consistent mask.

With ``--by-painted``, the runs are the same volumes painted with different numbers of
slices (LABEL names the method, repeated once per run): a table and a plot of mean Dice
against painted slices, with contour interpolation from the same slices.

    python benchmarks/summarise_accuracy.py --by-painted sup=k1.json sup=k2.json \
        mcsc=k2_mcsc.json --png docs/images/accuracy_vs_painted.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# the weight the tool carries painted slices with: rescore_carry.py's files are read at it by default
from napari_mcsc.propagation import WEIGHT as CARRY_WEIGHT

KEYS = ("dice_mean", "consistent_dice_mean", "flips_dice_mean", "flips_consistent_dice_mean")
NAMES = ("CNN", "3D-consistent", "flips", "flips + 3D-consistent")


def _load(spec: str) -> tuple[str, dict[str, dict]]:
    """LABEL=FILE[,FILE...]: the volumes of one or more runs of one setting (e.g. two halves
    of a split). FILE:last_step: the models of a run that averaged its weights as they were
    at its last step (the same run's pair)."""
    label, _, paths = spec.partition("=")
    rows = []
    for piece in paths.split(","):
        path, _, part = piece.partition(":")
        data = json.loads(Path(path).read_text())
        volumes = data["volumes"]
        if "carry_0" in data:  # rescore_carry.py's: one weight's mask per volume
            key = part or f"carry_{CARRY_WEIGHT:g}"
            volumes = [{"case": r["case"], "consistent_dice_mean": r[key]["dice_mean"]} for r in volumes]
        elif part:
            volumes = [
                {**row[part], "case": row["case"], "train_seconds": row["train_seconds"]} for row in volumes
            ]
        rows += volumes
    return label, {row["case"]: row for row in rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--runs", nargs="+", metavar="LABEL=FILE")
    group.add_argument("--by-painted", nargs="+", metavar="LABEL=FILE")
    parser.add_argument("--png", type=Path)
    args = parser.parse_args(argv)
    if args.by_painted:
        _by_painted(args.by_painted, args.png)
        return
    runs = [_load(spec) for spec in args.runs]
    shared = [case for case in runs[0][1] if all(case in rows for _, rows in runs)]
    print(f"{len(shared)} volumes in every run: {', '.join(shared)}\n")
    every = all(rows[c].get("dice_mean") is not None for _, rows in runs for c in shared)
    ahead_key, ahead_name = ("dice_mean", "CNN") if every else ("consistent_dice_mean", "3D-consistent")
    print("| run | " + " | ".join(NAMES) + f" | volumes ahead of the first run ({ahead_name}) | s / run |")
    print("|---|" + "---|" * (len(NAMES) + 2))
    base = np.array([runs[0][1][c][ahead_key] for c in shared])
    for label, rows in runs:
        cells = []
        for key in KEYS:
            values = [rows[c].get(key) for c in shared]
            cells.append("-" if None in values else f"{np.mean(values):.3f}")
        ahead = int(np.sum(np.array([rows[c][ahead_key] for c in shared]) > base))
        seconds = [rows[c].get("train_seconds") for c in shared]
        took = "-" if None in seconds else f"{np.mean(seconds):.0f}"
        print(f"| {label} | " + " | ".join(cells) + f" | {ahead} / {len(shared)} | {took} |")
    if args.png:
        _plot(runs, shared, args.png)


def _by_painted(specs: list[str], png: Path | None) -> None:
    """Mean Dice against painted slices per method, on the volumes every run finished."""
    runs = []
    for spec in specs:
        label, rows = _load(spec)
        painted = json.loads(Path(spec.partition("=")[2]).read_text())["painted"]
        runs.append((label, painted, rows))
    shared = [case for case in runs[0][2] if all(case in rows for *_, rows in runs)]
    print(f"{len(shared)} volumes in every run: {', '.join(shared)}\n")
    print("| method | painted slices | CNN | 3D-consistent | contour interpolation |")
    print("|---|---|---|---|---|")
    curves: dict[str, list[tuple[int, float, float | None]]] = {}
    interp: dict[int, float] = {}
    for label, painted, rows in sorted(runs, key=lambda r: (r[0], r[1])):
        cnn = float(np.mean([rows[c]["dice_mean"] for c in shared]))
        post = [rows[c].get("consistent_dice_mean") for c in shared]
        post_mean = None if None in post else float(np.mean(post))
        interp[painted] = float(np.mean([rows[c]["interp_dice_mean"] for c in shared]))
        curves.setdefault(label, []).append((painted, cnn, post_mean))
        cells = [f"{cnn:.3f}", "-" if post_mean is None else f"{post_mean:.3f}", f"{interp[painted]:.3f}"]
        print(f"| {label} | {painted} | " + " | ".join(cells) + " |")
    if png:
        _plot_by_painted(curves, interp, len(shared), png)


def _plot_by_painted(curves, interp, volumes: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, points in curves.items():
        k, cnn, post = zip(*points, strict=True)
        line = ax.plot(k, cnn, marker="o", label=f"{label}, CNN")[0]
        if None not in post:
            ax.plot(k, post, marker="s", ls="--", color=line.get_color(), label=f"{label}, 3D-consistent")
    ks = sorted(interp)
    ax.plot(ks, [interp[k] for k in ks], marker="^", color="grey", label="contour interpolation")
    ax.set_xticks(ks)
    ax.set_xlabel("painted slices per volume")
    ax.set_ylabel("mean Dice, unpainted slices")
    ax.set_title(f"Dice against painted slices ({volumes} volume{'' if volumes == 1 else 's'})", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nplot written to {path}")


def _plot(runs, shared, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(shared) + 2), 3.6))
    width = 0.8 / len(runs)
    for index, (label, rows) in enumerate(runs):
        x = np.arange(len(shared)) + index * width
        cnn = [rows[c].get("dice_mean") for c in shared]
        if None not in cnn:
            ax.bar(x, cnn, width, label=f"{label} (CNN)")
        post = [rows[c].get("consistent_dice_mean") for c in shared]
        if None not in post:
            mark = {} if None not in cnn else {"label": f"{label} (3D-consistent only)", "color": f"C{index}"}
            ax.scatter(x, post, marker="_", s=80, zorder=3, **({"color": "black"} | mark))
    ax.set_xticks(np.arange(len(shared)) + 0.4 - width / 2)
    ax.set_xticklabels(
        [c.replace("patient", "p").replace("_frame", "f") for c in shared], rotation=60, fontsize=7
    )
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("mean Dice, unpainted slices")
    ax.set_title("Per volume: bars = CNN, black ticks = 3D-consistent mask of the same model", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nplot written to {path}")


if __name__ == "__main__":
    main()
