"""The correction loop as a benchmark: a simulated user paints, trains, corrects, retrains.

For each volume: K evenly spaced slices painted with the ground truth, a first training
of the profile's length, then ``rounds`` times: one more slice is painted with the
ground truth and the model is fine-tuned from the previous round's
(``retrain_iterations``). Two ways to choose that slice are compared, everything else
equal: the tool's "next uncertain slice" (``review.next_uncertain_slice``) and what a
user without an uncertainty map would do (``review.largest_gap_slice``). Beside them,
contour interpolation from the same number of evenly spaced slices. Each round reports
the Dice on the slices not painted in that arm.
"""

from __future__ import annotations

import dataclasses
import platform
import time

import numpy as np
import torch

from napari_mcsc.data.decathlon import read_case, select_cases
from napari_mcsc.data.phantom import evenly_spaced_slices, paint_slices
from napari_mcsc.evaluation.baselines import contour_interpolation_available, interpolate_contours
from napari_mcsc.evaluation.interactive import mean_dice, train_on_painted
from napari_mcsc.inference import predict_volume
from napari_mcsc.review import largest_gap_slice, next_uncertain_slice
from napari_mcsc.training.spec import RunChoices, run_config

CHOOSERS = ("uncertain", "largest_gap")


def run_loop(
    data_dir: str,
    *,
    split: str = "val",
    painted: int = 2,
    rounds: int = 3,
    iterations: int | None = None,
    retrain_iterations: int | None = None,
    limit: int | None = None,
    every: int = 1,
    offset: int = 0,
    device: str | None = None,
    method: str = "mcsc",
    profile_name: str = "fast",
    seed: int = 1337,
    log=print,
    **overrides,
) -> dict:
    names = select_cases(data_dir, split, every=every, offset=offset, limit=limit)
    choices = RunChoices(
        profile_name,
        method=method,
        iterations=iterations or None,
        seed=seed,
        device=device,
        settings=overrides,
    )
    config = run_config(choices)
    retrain_length = retrain_iterations or max(1, config.iterations // 2)
    retrain = run_config(dataclasses.replace(choices, iterations=retrain_length))
    with_interp = contour_interpolation_available()
    rows = []
    for index, name in enumerate(names):
        case = read_case(data_dir, name)
        truth, z = case.labels, case.image.shape[0]
        classes = [int(c) for c in np.unique(truth) if c != 0]
        row: dict = {"case": name, "shape": list(case.image.shape)}
        start = time.perf_counter()
        for chooser in CHOOSERS:
            chosen = evenly_spaced_slices(z, painted)
            model, per_round = None, []
            for _ in range(rounds + 1):
                trainer, _ = train_on_painted(
                    case, chosen, config if model is None else retrain, truth=truth, init=model, device=device
                )
                model = trainer.model
                sparse = paint_slices(truth, chosen)
                pred = predict_volume(model, case.image, uncertainty=True, device=device, painted=sparse)
                keep = [s for s in range(z) if s not in chosen]
                per_round.append(
                    {
                        "painted": list(chosen),
                        "dice_mean": mean_dice(pred.labels, truth, keep, classes) if keep else 1.0,
                    }
                )
                nxt = (
                    next_uncertain_slice(pred.ranking or [], chosen)
                    if chooser == "uncertain"
                    else largest_gap_slice(z, chosen)
                )
                if nxt is None:
                    break
                chosen = sorted([*chosen, nxt])
            row[chooser] = per_round
        if with_interp:
            row["interp"] = []
            for round_index in range(rounds + 1):
                even = evenly_spaced_slices(z, painted + round_index)
                keep = [s for s in range(z) if s not in even]
                filled = interpolate_contours(paint_slices(truth, even))
                row["interp"].append({"painted": even, "dice_mean": mean_dice(filled, truth, keep, classes)})
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        log(
            f"[{index + 1}/{len(names)}] {name} "
            + "  ".join(
                f"{arm}: " + " ".join(f"{r['dice_mean']:.3f}" for r in row[arm])
                for arm in (*CHOOSERS, "interp")
                if arm in row
            )
            + f" ({row['seconds']:.0f} s)"
        )
    summary = {
        "scenario": "loop",
        "data": str(data_dir),
        "split": split,
        "painted": painted,
        "rounds": rounds,
        "method": method,
        "profile": profile_name,
        "iterations": config.iterations,
        "retrain_iterations": retrain.iterations,
        "seed": seed,
        "n_volumes": len(rows),
        "machine": {"platform": platform.platform(), "torch": torch.__version__},
        "volumes": rows,
    }
    for arm in (*CHOOSERS, "interp"):
        curves = [[r["dice_mean"] for r in row[arm]] for row in rows if arm in row]
        if curves and all(len(c) == rounds + 1 for c in curves):
            summary[f"{arm}_dice_by_round"] = [float(np.mean(v)) for v in zip(*curves, strict=True)]
    return summary
