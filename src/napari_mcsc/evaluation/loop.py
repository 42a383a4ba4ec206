"""The correction loop as a benchmark: a simulated user paints, trains, corrects, retrains.

For each volume: K evenly spaced slices painted with the ground truth, a first training
of the profile's length, then ``rounds`` times: one more slice is painted with the
ground truth and the model is fine-tuned from the previous round's
(``retrain_iterations``). Ways to choose that slice are compared, everything else equal
(the first training is shared): the widget's "next uncertain slice"
(``review.next_uncertain_slice``: from the first retrain on, slices where a structure came
or went since the last prediction first, as ``review.CorrectionLoop`` ranks them), the
same ranking by the slice scores alone (``scores``, the widget's before that), what a user
without an uncertainty map would do (``review.largest_gap_slice``), and the middle of the
most uncertain unpainted stretch (``review.uncertain_gap_slice``, a benchmark choice
only). Beside them, contour interpolation from the same number of evenly spaced slices.
Each round reports the Dice on the slices not painted in that arm.
"""

from __future__ import annotations

import copy
import dataclasses
import platform
import time
from collections.abc import Sequence

import numpy as np
import torch

from napari_mcsc.data.decathlon import read_case, select_cases
from napari_mcsc.data.phantom import evenly_spaced_slices, paint_slices
from napari_mcsc.evaluation.baselines import contour_interpolation_available, interpolate_contours
from napari_mcsc.evaluation.interactive import mean_dice, train_on_painted
from napari_mcsc.inference import predict_volume, put_changed_first, structure_areas
from napari_mcsc.review import slice_to_paint
from napari_mcsc.training.spec import RunChoices, run_config

CHOOSERS = ("uncertain", "scores", "largest_gap", "gap")


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
    cases: Sequence[str] | None = None,
    device: str | None = None,
    method: str = "mcsc",
    profile_name: str = "fast",
    seed: int = 1337,
    choosers: Sequence[str] = ("uncertain", "largest_gap", "gap"),
    log=print,
    on_volume=None,
    **overrides,
) -> dict:
    """Run the loop on the chosen volumes; ``on_volume(summary_so_far)`` is called after
    each volume (the CLI writes partial results with it, so a stopped run keeps them)."""
    unknown = sorted(set(choosers) - set(CHOOSERS))
    if unknown:
        raise ValueError(f"unknown slice choice {', '.join(unknown)}: use {', '.join(CHOOSERS)}")
    names = select_cases(data_dir, split, every=every, offset=offset, limit=limit, cases=cases)
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
    settings = {
        "scenario": "loop",
        "data": str(data_dir),
        "split": split,
        "painted": painted,
        "rounds": rounds,
        "method": method,
        "profile": profile_name,
        "iterations": config.iterations,
        "retrain_iterations": retrain.iterations,
        "choosers": list(choosers),
        "seed": seed,
        "machine": {"platform": platform.platform(), "torch": torch.__version__},
    }
    rows = []
    for index, name in enumerate(names):
        case = read_case(data_dir, name)
        truth, z = case.labels, case.image.shape[0]
        classes = [int(c) for c in np.unique(truth) if c != 0]
        row: dict = {"case": name, "shape": list(case.image.shape)}
        start = time.perf_counter()
        first = evenly_spaced_slices(z, painted)
        first_model = train_on_painted(case, first, config, truth=truth, device=device)[0].model
        for chooser in choosers:
            chosen, model, per_round, last = first, copy.deepcopy(first_model), [], None
            for round_index in range(rounds + 1):
                if round_index:
                    tuned, _ = train_on_painted(case, chosen, retrain, truth=truth, init=model, device=device)
                    model = tuned.model
                sparse = paint_slices(truth, chosen)
                pred = predict_volume(model, case.image, uncertainty=True, device=device, painted=sparse)
                if chooser == "uncertain" and last is not None:
                    put_changed_first(pred, last, 0)
                last = structure_areas(pred.labels, 0)
                keep = [s for s in range(z) if s not in chosen]
                per_round.append(
                    {
                        "painted": list(chosen),
                        "dice_mean": mean_dice(pred.labels, truth, keep, classes) if keep else 1.0,
                    }
                )
                choice = "uncertain" if chooser == "scores" else chooser
                nxt = slice_to_paint(choice, z, chosen, ranking=pred.ranking or [], scores=pred.slice_scores)
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
                for arm in (*choosers, "interp")
                if arm in row
            )
            + f" ({row['seconds']:.0f} s)"
        )
        if on_volume is not None:
            on_volume(_summary(settings, rows, choosers, rounds))
    return _summary(settings, rows, choosers, rounds)


def _summary(settings: dict, rows: list[dict], choosers: Sequence[str], rounds: int) -> dict:
    summary = {**settings, "n_volumes": len(rows), "volumes": rows}
    for arm in (*choosers, "interp"):
        curves = [[r["dice_mean"] for r in row[arm]] for row in rows if arm in row]
        if curves and all(len(c) == rounds + 1 for c in curves):
            summary[f"{arm}_dice_by_round"] = [float(np.mean(v)) for v in zip(*curves, strict=True)]
    return summary
