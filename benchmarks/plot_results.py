"""Pictures of the benchmark results: Dice against iterations (interactive and protocol),
the correction loop, and MCSC against supervised training per volume.

Reads the JSON files that ``napari-mcsc benchmark interactive|acdc --curve-at ...`` and
``napari-mcsc benchmark loop`` wrote, and the JSON lines of ``benchmarks/gpu_suite.py``,
and saves matplotlib PNGs into docs/images.

    python benchmarks/plot_results.py --curves benchmarks/results/curve_k2_*.json \
        --protocol-curves benchmarks/results/acdc_k*_1200it.json \
        --loop benchmarks/results/loop_k2.json \
        --per-volume benchmarks/results/gpu_2026-11-26/interactive.jsonl --out docs/images
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

COLOURS = {
    "mcsc": "tab:blue",
    "ct": "tab:green",
    "sup": "tab:orange",
    "mcsc filtered": "tab:purple",
    "mcsc filtered + agreement": "tab:red",
    "mcsc filtered, EMA teachers": "tab:brown",
}


def _save(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG for the docs and free it."""
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")  # legends placed outside the axes stay whole
    plt.close(fig)
    return path


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
        spread = [
            np.std([v for v in vals if v is not None]) / max(1, np.sqrt(len(vals))) for vals in by_point
        ]
        label = f"{result['method']} K={result['painted']}"
        if result.get("unlabelled_volumes"):
            label += f" +{result['unlabelled_volumes']} unlabelled volumes"
        colour = COLOURS.get(result["method"])
        ax.errorbar(
            points,
            means,
            yerr=spread,
            marker="o",
            capsize=3,
            label=f"{label} ({len(rows)} vol.)",
            color=colour,
            linestyle="-" if result["painted"] == 2 else "--",
        )
        interp += [r["interp_dice_mean"] for r in rows if "interp_dice_mean" in r]
    if interp:
        ax.axhline(float(np.mean(interp)), color="grey", linestyle=":", label="contour interpolation")
    ax.set_xlabel("training iterations (within one run of the longest length)")
    ax.set_ylabel("mean Dice on the unpainted slices (CNN)")
    ax.set_title("ACDC val, interactive scenario")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, out / "dice_vs_iterations.png")


def _arm(result: dict) -> str:
    """The method, with "filtered" when its targets were not the paper's (issue 17),
    "+ agreement" when only pixels both networks agree on were kept and "EMA" when the
    teachers were moving averages."""
    config = result.get("config", {})
    if result["method"] == "sup":
        return "sup"  # no targets on unlabelled slices, whatever the profile's settings for them
    changed = config.get("teacher", "same_pass") != "same_pass" or config.get("pseudo_threshold", 0) > 0
    name = f"{result['method']} filtered" if changed else result["method"]
    name = f"{name} + agreement" if config.get("pseudo_agreement") else name
    return f"{name}, EMA teachers" if config.get("teacher") == "ema" else name


def plot_protocol_curves(files: list[Path], out: Path, name: str = "protocol_dice_vs_iterations.png") -> Path:
    """One panel per number of labelled patients: Dice on the scored split against
    iterations, one line per method (dashed: the ensemble of the two-network methods)."""
    results = [json.loads(path.read_text()) for path in files]
    results = [r for r in results if r.get("curve")]
    ks = sorted({r["labelled_patients"] for r in results})
    fig, axes = plt.subplots(1, len(ks), figsize=(6.5 * len(ks), 5.5), squeeze=False)
    for ax, k in zip(axes[0], ks, strict=True):
        for r in sorted((r for r in results if r["labelled_patients"] == k), key=_arm):
            points = [p[0] for p in r["curve"]]
            ax.plot(
                points,
                [p[1] for p in r["curve"]],
                marker="o",
                color=COLOURS.get(_arm(r)),
                label=f"{_arm(r)}, CNN ({r['unlabelled_volumes']} unlabelled vol.)",
            )
            if all(len(p) > 2 for p in r["curve"]):
                ax.plot(
                    points,
                    [p[2] for p in r["curve"]],
                    marker=".",
                    linestyle="--",
                    color=COLOURS.get(_arm(r)),
                    label=f"{_arm(r)}, CNN + Transformer ensemble",
                )
        ax.set_title(f"ACDC protocol, first {k} training patients labelled", fontsize=9)
        ax.set_xlabel("training iterations (within one run of the longest length)")
        ax.set_ylabel(f"mean Dice, {r['evaluated_volumes']} {r['split']} volumes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)  # off the curves
    return _save(fig, out / name)


def plot_loop(file: Path, out: Path) -> Path:
    result = json.loads(file.read_text())
    fig, ax = plt.subplots(figsize=(6, 4))
    styles = {
        "uncertain": ("next uncertain slice (the tool)", "tab:blue"),
        "largest_gap": ("middle of the largest unpainted gap", "tab:orange"),
        "interp": ("contour interpolation, evenly spaced", "grey"),
    }
    for arm, (label, colour) in styles.items():
        values = result.get(f"{arm}_dice_by_round")
        if values:
            painted = [result["painted"] + i for i in range(len(values))]
            ax.plot(painted, values, marker="o", label=label, color=colour)
    ax.set_xlabel("painted slices (first training, then one correction per round)")
    ax.set_ylabel("mean Dice on the unpainted slices")
    ax.set_title(
        f"Correction loop, ACDC {result['split']} ({result['n_volumes']} volumes, {result['method']})"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, out / "correction_loop.png")


def plot_per_volume(file: Path, out: Path) -> Path:
    """Left: each val volume's Dice, MCSC against supervised (mean of the seeds), per K.
    Right: the MCSC variants on the train-split tuning volumes, beside supervised."""
    rows = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for painted, colour in ((2, "tab:blue"), (3, "tab:red")):
        pairs = {}
        for r in rows:
            if r["block"].startswith(f"val_k{painted}_") and r["variant"] == "default":
                pairs.setdefault(r["case"], {}).setdefault(r["method"], []).append(r["dice_mean"])
        both = [(np.mean(v["sup"]), np.mean(v["mcsc"])) for v in pairs.values() if "sup" in v and "mcsc" in v]
        if not both:
            continue
        sup, mcsc = np.array(both).T
        left.scatter(
            sup,
            mcsc,
            color=colour,
            s=18,
            label=f"K={painted}: sup {sup.mean():.3f}, MCSC {mcsc.mean():.3f} ({len(both)} vol.)",
        )
    left.plot([0.5, 1], [0.5, 1], color="grey", linewidth=0.8)
    left.set_xlim(0.5, 0.95)
    left.set_ylim(0.5, 0.95)
    left.set_xlabel("supervised CNN, Dice")
    left.set_ylabel("MCSC (CNN), Dice")
    left.set_title("ACDC val, one volume each (above the line: MCSC ahead)", fontsize=9)
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="upper left")
    tune: dict[str, list[float]] = {}
    for r in rows:
        if r["block"] == "tune":
            tune.setdefault(r["variant"], []).append(r["dice_mean"])
    if tune:
        names = sorted(tune, key=lambda v: np.mean(tune[v]))
        means = [np.mean(tune[v]) for v in names]
        errors = [np.std(tune[v]) / np.sqrt(len(tune[v])) for v in names]
        colours = [COLOURS["sup"] if v == "sup" else COLOURS["mcsc"] for v in names]
        right.barh(names, means, xerr=errors, color=colours, capsize=3)
        right.set_xlim(min(means) - 0.03, max(means) + 0.02)
        right.set_xlabel("mean Dice, 10 train-split volumes, K=2")
        right.set_title("MCSC settings tried on the tuning volumes (orange: supervised)", fontsize=9)
        right.grid(alpha=0.3, axis="x")
    return _save(fig, out / "val20_sup_vs_mcsc.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--curves", nargs="*", type=Path, default=[])
    parser.add_argument("--protocol-curves", nargs="*", type=Path, default=[])
    parser.add_argument("--protocol-name", default="protocol_dice_vs_iterations.png", help="its PNG's name")
    parser.add_argument("--loop", type=Path)
    parser.add_argument("--per-volume", type=Path, help="JSON lines of benchmarks/gpu_suite.py")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.curves:
        print(plot_curves(args.curves, args.out))
    if args.protocol_curves:
        print(plot_protocol_curves(args.protocol_curves, args.out, args.protocol_name))
    if args.loop:
        print(plot_loop(args.loop, args.out))
    if args.per_volume:
        print(plot_per_volume(args.per_volume, args.out))


if __name__ == "__main__":
    main()
