"""Score batch-norm statistics taken from the scan itself, on models a benchmark saved, paired per volume.

A network trained on two or three painted slices keeps, for inference, the batch-norm
statistics of its training batches: painted slices under strong augmentation (zoom,
gamma, contrast, noise), never the scan's other slices as they are. This script
predicts each volume again with its saved model, first as saved, then with the CNN's
batch-norm statistics taken from the scan's own slices (``scan_statistics``). It
scores the 3D-consistent, carried mask (``predict_volume(consistent=True)``) on the
unpainted slices. One model gives every row
of a volume, so the rows differ in the statistics alone. ``--transfer N``: each model
also predicts the next N volumes of the list with nothing painted on them, scored on all
their slices (a study's first look at a scan, from a model of one other scan);
``--first-looks SPLIT``: every volume of that split instead. ``--study DIR``: a study's
model instead (trained on the painted slices of many scans, as ``napari-mcsc predict``
often gets one), looking first at every volume of ``--first-looks`` it was not trained on.

    python benchmarks/rescore_bn.py --data ../shared/data/acdc \\
        --run tr13a.json tr13b.json --models models/ --transfer 3 \\
        --out benchmarks/results/accuracy/train13_k3_bn.json --png docs/images/bn.png
    python benchmarks/rescore_bn.py --data ../shared/data/acdc --study STUDY/ --first-looks train \\
        --out benchmarks/results/study/study_model_bn_train.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
from rescore_mask import add_saved_run_arguments, dice_row, finish, paired_summary, print_row, saved_volumes

from napari_mcsc.data.decathlon import Case, load_split, read_case
from napari_mcsc.evaluation.interactive import mean_dice
from napari_mcsc.evaluation.study import present_classes
from napari_mcsc.inference import predict_volume


class Other(NamedTuple):
    """A volume looked at first by a model of another (nothing painted on it)."""

    case: Case
    classes: list[int]


def rescore(
    data: Path, rows: list[dict], models: Path, flips: bool, transfer: int, split: str | None = None
) -> list[dict]:
    out = []
    volumes = list(saved_volumes(data, rows, models))
    fixed = None
    if split:
        fixed = [
            Other(c, present_classes(c.labels)) for c in (read_case(data, n) for n in load_split(data, split))
        ]
    for index, volume in enumerate(volumes):
        scored = volume.row()
        others = fixed or [volumes[(index + k) % len(volumes)] for k in range(1, transfer + 1)]
        for name, adapt in (("saved", False), ("scan", True)):
            for flip in (False, True) if flips else (False,):
                mask = volume.mask(flips=flip, scan_statistics=adapt)
                scored[f"bn_{name}{'_flips' if flip else ''}"] = volume.score(mask)
            # another patient's scan, nothing painted on it: a study's first look
            firsts = []
            for other in others:
                mask = predict_volume(
                    volume.model, other.case.image, uncertainty=False, consistent=True, scan_statistics=adapt
                ).labels
                every = list(range(other.case.labels.shape[0]))
                firsts.append(mean_dice(mask, other.case.labels, every, other.classes))
            if firsts:
                scored[f"first_{name}"] = {"dice_mean": float(np.mean(firsts)), "each": firsts}
        print_row(scored, "bn_")
        if others:
            print_row(scored, "first_")
        out.append(scored)
    return out


def rescore_study(data: Path, folder: Path, split: str) -> list[dict]:
    """The study's model looks first at each volume of ``split`` it was not trained on,
    with its saved batch-norm statistics and with the scan's own; Dice on all slices, for
    the classes the model segments."""
    from napari_mcsc.study.session import Study

    study = Study.open(folder)
    model = study.model
    segmented = {int(v) for v in model.mapping.values} - {0}
    trained = set(study.training_scans())
    out = []
    for name in (n for n in load_split(data, split) if n not in trained):
        case = read_case(data, name)
        classes = [c for c in present_classes(case.labels) if c in segmented]
        truth = np.where(np.isin(case.labels, classes), case.labels, 0)
        every = list(range(truth.shape[0]))
        scored = {"case": name, "slices": len(every)}
        for key, adapt in (("first_saved", False), ("first_scan", True)):
            mask = predict_volume(
                model,
                case.image,
                uncertainty=False,
                consistent=study.settings.consistent_mask,
                scan_statistics=adapt,
            ).labels
            scored[key] = dice_row(mask, truth, every, classes)
        print_row(scored, "first_")
        out.append(scored)
    return out


def summarise_study(scored: list[dict]) -> dict:
    """Mean Dice of each setting, and the scan's statistics against the saved ones."""
    base = np.array([r["first_saved"]["dice_mean"] for r in scored])
    return {key: paired_summary(scored, key, base) for key in ("first_saved", "first_scan")}


def summarise(scored: list[dict]) -> dict:
    """Mean Dice per setting (and per class), and against the saved statistics: volumes
    ahead and behind, the worst."""
    base = np.array([r["bn_saved"]["dice_mean"] for r in scored])
    summary = {}
    for key in [k for k in scored[0] if k.startswith(("bn_", "first_"))]:
        if key.startswith("first_"):
            summary[key] = {"dice_mean": float(np.mean([r[key]["dice_mean"] for r in scored]))}
        else:
            summary[key] = paired_summary(scored, key, base)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_saved_run_arguments(parser)
    parser.add_argument("--flips", action="store_true", help="each setting also with test-time flips")
    parser.add_argument(
        "--transfer",
        type=int,
        default=0,
        metavar="N",
        help="each model also predicts the next N volumes, unpainted",
    )
    parser.add_argument(
        "--first-looks",
        metavar="SPLIT",
        help="each model also predicts every volume of this split, unpainted (instead of --transfer)",
    )
    parser.add_argument(
        "--study",
        type=Path,
        metavar="DIR",
        help="a study folder: its model looks first at the --first-looks volumes it was not trained on",
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--plot-only", type=Path, nargs="+", metavar="FILE.json")
    args = parser.parse_args(argv)
    if args.study:
        if not (args.data and args.first_looks):
            parser.error("--study needs --data and --first-looks SPLIT")
        scored = rescore_study(args.data, args.study, args.first_looks)
        finish(args, scored, {"study": str(args.study), **summarise_study(scored)}, _plot)
        return
    if args.plot_only:
        results = [(p.stem, json.loads(p.read_text())) for p in args.plot_only]
        _plot(results, args.png)
        return
    if not (args.data and args.run and args.models):
        parser.error("--data, --run and --models are needed (or --plot-only)")
    rows = [row for path in args.run for row in json.loads(path.read_text())["volumes"]]
    scored = rescore(args.data, rows, args.models, args.flips, args.transfer, args.first_looks)
    finish(args, scored, summarise(scored), _plot)


def _plot(results: list[tuple[str, dict]], path: Path) -> None:
    """Left: each painted volume's gain from the scan's statistics against its Dice with
    the saved ones. Right: the same for each first look at another volume (if any). One
    colour for each result file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first_rows = [r for _, result in results for r in result["volumes"]]
    panels = []
    if "bn_saved" in first_rows[0]:
        panels.append(("bn_saved", "bn_scan", "the painted volume (its unpainted slices)"))
    if "first_saved" in first_rows[0]:
        panels.append(("first_saved", "first_scan", "another volume, nothing painted (a first look)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), squeeze=False)
    for ax, (saved, scan, title) in zip(axes[0], panels, strict=True):
        for name, result in results:
            x, y = _pairs(result["volumes"], saved, scan)
            gain = y - x
            ax.scatter(
                x,
                gain,
                s=18,
                label=f"{name}: mean gain {gain.mean():+.3f} ({(gain > 0).sum()} of {len(gain)} ahead)",
            )
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("Dice, the CNN's saved batch-norm statistics")
        ax.set_ylabel("gain from the scan's own statistics")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"plot written to {path}")


def _pairs(rows: list[dict], saved: str, scan: str) -> tuple[np.ndarray, np.ndarray]:
    """Each volume's (or each first look's) Dice with the saved and with the scan's statistics."""
    if "each" in rows[0][saved]:
        return (
            np.array([v for r in rows for v in r[saved]["each"]]),
            np.array([v for r in rows for v in r[scan]["each"]]),
        )
    return np.array([r[saved]["dice_mean"] for r in rows]), np.array([r[scan]["dice_mean"] for r in rows])


if __name__ == "__main__":
    main()
