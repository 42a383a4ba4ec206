"""Score the carried painted slices (``propagation``) on models a benchmark saved, paired per volume.

``benchmark interactive --models DIR`` keeps each volume's model. This script predicts each
volume again with it, with the slices the run painted. It scores the 3D-consistent mask
(``predict_volume(consistent=True)``, the mask the widget and the study show) on the
volume's unpainted slices:

- first without carrying the painted slices (``carry=0``, the mask before section 32);
- then with each weight of ``--carry``.

One model gives every row of a volume, so the weights differ in nothing else. Wrong voxels
are counted between the painted slices and beyond them.

    python benchmarks/rescore_carry.py --data ../shared/data/acdc \\
        --run train7_k2.json train6es_k2.json --models models/ --carry 0.4 \\
        --out benchmarks/results/accuracy/train13_k2_carry.json --png docs/images/carry.png

``--png``: per volume, the gain from each weight against the mask's Dice without carrying.
``--plot-only FILE.json`` redraws it from earlier ``--out`` files (one panel each), or from
``benchmark interactive`` runs that carried by default (their mask with and without carrying).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rescore_mask import (
    add_saved_run_arguments,
    finish,
    paired_summary,
    plot_paired,
    print_row,
    saved_volumes,
    wrong_voxels_by_place,
)


def rescore(data: Path, rows: list[dict], models: Path, weights: list[float]) -> list[dict]:
    out = []
    for volume in saved_volumes(data, rows, models):
        truth, painted, classes = volume.case.labels, volume.painted, volume.classes
        scored = volume.row()
        for weight in weights:
            start = time.perf_counter()
            mask = volume.mask(carry=weight)
            scored[f"carry_{weight:g}"] = {
                **volume.score(mask),
                "wrong_voxels": wrong_voxels_by_place(mask, truth, painted, classes),
                "seconds": round(time.perf_counter() - start, 2),
            }
        print_row(scored, "carry_")
        out.append(scored)
    return out


def summarise(scored: list[dict], weights: list[float]) -> dict:
    """Mean Dice per weight, and against no carrying: volumes ahead and behind, the worst."""
    summary = {}
    base = np.array([r["carry_0"]["dice_mean"] for r in scored])
    for weight in weights:
        key = f"carry_{weight:g}"
        summary[key] = {
            **paired_summary(scored, key, base),
            "wrong_voxels": {
                p: sum(r[key]["wrong_voxels"][p] for r in scored) for p in ("between", "beyond")
            },
        }
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_saved_run_arguments(parser)
    parser.add_argument("--carry", type=float, nargs="+", default=[0.4], metavar="WEIGHT")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--plot-only", type=Path, nargs="+", metavar="FILE.json")
    args = parser.parse_args(argv)
    if args.plot_only:
        results = [(p.stem, as_rescored(json.loads(p.read_text()))) for p in args.plot_only]
        _plot(results, args.png)
        return
    if not (args.data and args.run and args.models):
        parser.error("--data, --run and --models are needed (or --plot-only)")
    rows = [row for path in args.run for row in json.loads(path.read_text())["volumes"]]
    weights = [0.0] + [w for w in args.carry if w != 0]  # the pairs' reference first
    scored = rescore(args.data, rows, args.models, weights)
    summary = summarise(scored, weights)
    finish(args, scored, summary, _plot)


def as_rescored(result: dict) -> dict:
    """``result`` in this script's layout: an interactive run that carried by default holds
    both masks (``uncarried_consistent_dice_mean``, ``consistent_dice_mean``), read as the
    pair (0, ``propagation.WEIGHT``); this script's own files are given back as they are."""
    volumes = result["volumes"]
    if not volumes or "carry_0" in volumes[0]:
        return result
    from napari_mcsc.propagation import WEIGHT

    if "uncarried_consistent_dice_mean" not in volumes[0]:
        raise SystemExit("an interactive run from before carrying holds no carried mask: rescore it first")
    pairs = [
        {
            "case": v["case"],
            "painted": v["painted"],
            "carry_0": {"dice_mean": v["uncarried_consistent_dice_mean"]},
            f"carry_{WEIGHT:g}": {"dice_mean": v["consistent_dice_mean"]},
        }
        for v in volumes
    ]
    return {**result, "volumes": pairs}


def _plot(results: list[tuple[str, dict]], path: Path) -> None:
    plot_paired(
        results,
        path,
        reference="carry_0",
        xlabel="Dice, 3D-consistent mask, painted slices not carried",
        ylabel="gain from carrying the painted slices",
        legend=lambda key: f"weight {key.split('_')[1]}",
    )


if __name__ == "__main__":
    main()
