"""Pictures of the benchmark results: Dice against iterations, and the correction loop.

Reads the JSON files that ``napari-mcsc benchmark interactive --curve-at ...`` and
``napari-mcsc benchmark loop`` wrote, and saves matplotlib PNGs into docs/images.

    python benchmarks/plot_results.py --curves benchmarks/results/curve_k2_*.json \
        --loop benchmarks/results/loop_k2.json --out docs/images
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

COLOURS = {"mcsc": "tab:blue", "ct": "tab:green", "sup": "tab:orange"}


def plot_curves(files: list[Path], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    interp = []
    for path in files:
        result = json.loads(path.read_text())
        rows = [r for r in result["volumes"] if "curve" in r]
        if not rows:
            continue
        points = sorted({it for r in rows for it, _ in r["curve"]})
        by_point = [[dict(r["curve"]).get(p) for r in rows] for p in points]
        means = [np.mean([v for v in vals if v is not None]) for vals in by_point]
        spread = [np.std([v for v in vals if v is not None]) / max(1, np.sqrt(len(vals)))
                  for vals in by_point]
        label = f"{result['method']} K={result['painted']}"
        if result.get("unlabelled_volumes"):
            label += f" +{result['unlabelled_volumes']} unlabelled volumes"
        colour = COLOURS.get(result["method"])
        ax.errorbar(points, means, yerr=spread, marker="o", capsize=3, label=f"{label} ({len(rows)} vol.)",
                    color=colour, linestyle="-" if result["painted"] == 2 else "--")
        interp += [r["interp_dice_mean"] for r in rows if "interp_dice_mean" in r]
    if interp:
        ax.axhline(float(np.mean(interp)), color="grey", linestyle=":", label="contour interpolation")
    ax.set_xlabel("training iterations (within one run of the longest length)")
    ax.set_ylabel("mean Dice on the unpainted slices (CNN)")
    ax.set_title("ACDC val, interactive scenario")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    path = out / "dice_vs_iterations.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_loop(file: Path, out: Path) -> Path:
    result = json.loads(file.read_text())
    fig, ax = plt.subplots(figsize=(6, 4))
    styles = {"uncertain": ("next uncertain slice (the tool)", "tab:blue"),
              "largest_gap": ("middle of the largest unpainted gap", "tab:orange"),
              "interp": ("contour interpolation, evenly spaced", "grey")}
    for arm, (label, colour) in styles.items():
        values = result.get(f"{arm}_dice_by_round")
        if values:
            painted = [result["painted"] + i for i in range(len(values))]
            ax.plot(painted, values, marker="o", label=label, color=colour)
    ax.set_xlabel("painted slices (first training, then one correction per round)")
    ax.set_ylabel("mean Dice on the unpainted slices")
    ax.set_title(f"Correction loop, ACDC {result['split']} "
                 f"({result['n_volumes']} volumes, {result['method']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    path = out / "correction_loop.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--curves", nargs="*", type=Path, default=[])
    parser.add_argument("--loop", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.curves:
        print(plot_curves(args.curves, args.out))
    if args.loop:
        print(plot_loop(args.loop, args.out))


if __name__ == "__main__":
    main()
