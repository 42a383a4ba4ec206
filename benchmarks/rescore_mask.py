"""Score the 3D-consistent mask's settings on models a benchmark saved, paired per volume.

``benchmark interactive --models DIR`` keeps each volume's model; this script predicts each
volume again with it (the CNN, as the benchmark scores it) and scores the 3D-consistent
mask without a growth limit and with each of ``--growth`` (``PIXELS`` or
``PIXELS/SHARE``: at least that many pixels a slice beyond the outermost painted slices,
or that share of the structure's width, by default ``postprocess.GROWTH_SHARE``), on the
volume's unpainted slices, with the slices the run painted. One model gives every row
of a volume, so the settings differ in nothing else.
It also counts where the wrong voxels of the mask without a limit lie: between the painted
slices, or beyond them.

    python benchmarks/rescore_mask.py --data ../shared/data/acdc \\
        --run train7_k2.json train6es_k2.json --models models/ --growth 4/0 4 6 \\
        --out benchmarks/results/accuracy/train13_k2_growth.json --png docs/images/growth.png

``--png``: per volume, the gain from each limit against the mask's Dice without one (above
zero: the limit helped that volume). ``--plot-only FILE.json`` redraws it from an
earlier ``--out`` without predicting again (several files: one panel each).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_mcsc.checkpoint import load_model
from napari_mcsc.data.decathlon import Case, read_case
from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.evaluation.interactive import dice_on_slices
from napari_mcsc.evaluation.study import present_classes
from napari_mcsc.inference import predict_volume
from napari_mcsc.model import SegmentationModel
from napari_mcsc.postprocess import GROWTH_SHARE, consistent_mask

Growth = tuple[int, float] | None


def _growth(text: str) -> Growth:
    if text.lower() == "none":
        return None
    pixels, _, share = text.partition("/")
    return int(pixels), float(share) if share else GROWTH_SHARE


def _label(growth: Growth) -> str:
    return "none" if growth is None else f"{growth[0]}/{growth[1]:g}"


def _mask(cnn: np.ndarray, sparse: np.ndarray, growth: Growth) -> np.ndarray:
    if growth is None:
        return consistent_mask(cnn, sparse, growth=None)
    return consistent_mask(cnn, sparse, growth=growth[0], growth_share=growth[1])


def wrong_voxels_by_place(pred: np.ndarray, truth: np.ndarray, painted: list[int], classes) -> dict:
    """How many voxels ``pred`` gets wrong between the painted slices and beyond them."""
    first, last = min(painted), max(painted)
    places = {"between": 0, "beyond": 0}
    for index in range(truth.shape[0]):
        if index in painted:
            continue
        wrong = sum(int(((pred[index] == c) ^ (truth[index] == c)).sum()) for c in classes)
        places["between" if first < index < last else "beyond"] += wrong
    return places


@dataclass
class SavedVolume:
    """A volume a run scored, with its saved model and what scoring it again needs."""

    case: Case
    model: SegmentationModel
    painted: list[int]
    sparse: np.ndarray  # the painted slices' labels, 0 elsewhere
    keep: list[int]  # the unpainted slices, which the Dice is taken on
    classes: list[int]

    def row(self) -> dict:
        return {"case": self.case.name, "painted": self.painted, "slices": int(self.case.labels.shape[0])}

    def mask(self, **options) -> np.ndarray:
        """The 3D-consistent mask the widget shows for this volume, with its painted slices
        (carried by default); ``options``: other ``predict_volume`` arguments."""
        return predict_volume(
            self.model, self.case.image, uncertainty=False, painted=self.sparse, consistent=True, **options
        ).labels

    def score(self, mask: np.ndarray) -> dict:
        """``mask``'s Dice per class on the unpainted slices, and their mean."""
        return dice_row(mask, self.case.labels, self.keep, self.classes)


def dice_row(mask: np.ndarray, truth: np.ndarray, keep: list[int], classes: list[int]) -> dict:
    """``mask``'s Dice per class on the slices ``keep``, and their mean: a scored row's entry."""
    per_class = dice_on_slices(mask, truth, keep, classes)
    mean = float(np.mean(list(per_class.values())))
    return {"dice_mean": mean, "dice": {str(c): v for c, v in per_class.items()}}


def print_row(scored: dict, prefix: str) -> None:
    """A volume's line: its name and the mean Dice of each setting named ``prefix...``."""
    means = " ".join(f"{k}={v['dice_mean']:.3f}" for k, v in scored.items() if k.startswith(prefix))
    print(scored["case"], means, flush=True)


def saved_volumes(data: Path, rows: list[dict], models: Path):
    """Each volume of a run's ``rows`` with its model from the run's ``--models`` folder."""
    for row in rows:
        case = read_case(data, row["case"])
        painted = list(row["painted"])
        yield SavedVolume(
            case,
            load_model(models / f"{row['case']}.pt"),
            painted,
            paint_slices(case.labels, painted),
            [s for s in range(case.labels.shape[0]) if s not in set(painted)],
            present_classes(case.labels),
        )


def paired_summary(scored: list[dict], key: str, base: np.ndarray) -> dict:
    """Setting ``key``'s mean Dice over the volumes (and per class), and against ``base``
    (each volume's Dice with the reference setting): volumes ahead and behind, the worst."""
    dice = np.array([r[key]["dice_mean"] for r in scored])
    gain = dice - base
    return {
        "dice_mean": float(dice.mean()),
        "per_class": {
            c: float(np.mean([r[key]["dice"][c] for r in scored if c in r[key]["dice"]]))
            for c in sorted({c for r in scored for c in r[key]["dice"]})
        },
        "ahead": int((gain > 1e-9).sum()),
        "behind": int((gain < -1e-9).sum()),
        "worst": float(gain.min()),
    }


def add_saved_run_arguments(parser) -> None:
    """``--data``, ``--run`` and ``--models``: the runs to score again and their saved models."""
    parser.add_argument("--data", type=Path)
    parser.add_argument("--run", type=Path, nargs="+", help="benchmark interactive JSON files")
    parser.add_argument("--models", type=Path, help="the --models folder of those runs")


def rescore(data: Path, rows: list[dict], models: Path, growths: list[Growth]) -> list[dict]:
    out = []
    for volume in saved_volumes(data, rows, models):
        truth, painted, classes, sparse = volume.case.labels, volume.painted, volume.classes, volume.sparse
        cnn = predict_volume(volume.model, volume.case.image, uncertainty=False, painted=sparse).labels
        scored = volume.row()
        for growth in growths:
            scored[f"growth_{_label(growth)}"] = volume.score(_mask(cnn, sparse, growth))
        free = _mask(cnn, sparse, None)
        scored["wrong_voxels_no_limit"] = wrong_voxels_by_place(free, truth, painted, classes)
        print_row(scored, "growth_")
        out.append(scored)
    return out


def plot_paired(
    results: list[tuple[str, dict]],
    path: Path,
    *,
    reference: str = "growth_none",
    xlabel: str = "Dice, 3D-consistent mask without the limit",
    ylabel: str = "gain from the growth limit",
    legend=None,
) -> None:
    """One panel per result file: each volume's gain from each setting (y) against its
    Dice with the ``reference`` setting (x); above zero, the setting helped that volume.
    The settings are the keys that share ``reference``'s prefix; ``legend(key)`` names one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prefix = reference.split("_")[0] + "_"
    legend = legend or _growth_legend
    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.8), squeeze=False)
    for ax, (title, result) in zip(axes[0], results, strict=True):
        rows = result["volumes"]
        x = np.array([r[reference]["dice_mean"] for r in rows])
        keys = [k for k in rows[0] if k.startswith(prefix) and k != reference]
        for offset, key in enumerate(keys):
            gain = np.array([r[key]["dice_mean"] for r in rows]) - x
            jitter = (offset - (len(keys) - 1) / 2) * 0.002
            ax.scatter(x + jitter, gain, s=16, label=f"{legend(key)}: {gain.mean():+.3f}")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title} ({len(rows)} volumes, one model each)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right", title="mean gain", title_fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"plot written to {path}")


def _growth_legend(key: str) -> str:
    pixels, share = key.split("_")[1].split("/")
    return f"{pixels} px or {share} of the width"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_saved_run_arguments(parser)
    parser.add_argument("--growth", type=_growth, nargs="+", default=["4"], metavar="PIXELS[/SHARE]")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--plot-only", type=Path, nargs="+", metavar="FILE.json")
    args = parser.parse_args(argv)
    if args.plot_only:
        plot_paired([(p.stem, json.loads(p.read_text())) for p in args.plot_only], args.png)
        return
    if not (args.data and args.run and args.models):
        parser.error("--data, --run and --models are needed (or --plot-only)")
    rows = [row for path in args.run for row in json.loads(path.read_text())["volumes"]]
    args.growth = [None] + [g for g in args.growth if g is not None]  # the pairs' reference
    scored = rescore(args.data, rows, args.models, args.growth)
    summary = {
        f"growth_{_label(g)}": float(np.mean([r[f"growth_{_label(g)}"]["dice_mean"] for r in scored]))
        for g in args.growth
    }
    wrong = {p: sum(r["wrong_voxels_no_limit"][p] for r in scored) for p in ("between", "beyond")}
    summary["wrong_voxels_no_limit"] = wrong
    finish(args, scored, summary, plot_paired)


def finish(args, scored: list[dict], summary: dict, plot) -> None:
    """Print the summary, write the result (``--out``) and draw it (``--png``)."""
    print(json.dumps({"n_volumes": len(scored), **summary}))
    runs = [str(p) for p in args.run or []]
    result = {"runs": runs, "n_volumes": len(scored), **summary, "volumes": scored}
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    if args.png:
        plot([(args.out.stem if args.out else "paired", result)], args.png)


if __name__ == "__main__":
    main()
