"""The semi-supervised protocol on a split dataset (method.md §2.1 and §6).

Labelled = every volume of the first K patients of ``train`` (the file's order, as in
SSL4MIS: a patient's frames are consecutive); unlabelled = the rest of ``train``
(``sup`` ignores them); evaluation on every volume of ``split``, with the CNN alone (the
paper's rule) and with the CNN + Transformer ensemble: per-class Dice, HD95 and ASD.

Model selection: ``select="last"`` keeps the last iteration (CTCT's paper);
``select="best"`` keeps the best of evaluations every ``validate_every`` iterations (the
MCSC code's rule). The volumes it selects on are those of ``split`` that are *not*
scored (the ones after ``limit``), so selection never sees the scored volumes.
``curve_at`` also scores the CNN (and, with a Transformer, the ensemble) on the scored
volumes at those iterations: ``[iteration, cnn, ensemble]`` points of a Dice-versus-iterations
curve inside one schedule, recorded and never used to choose.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence

import numpy as np
import torch

from napari_mcsc.data.decathlon import class_names, load_split, read_case
from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set
from napari_mcsc.inference import predict_volume
from napari_mcsc.metrics import dice, evaluate_many
from napari_mcsc.training import Trainer, profile
from napari_mcsc.training.selection import BestCheckpoint

SELECTION_RULES = ("last", "best")


def mean_dice_over(model, cases, classes: list[int], *, ensemble: bool = False) -> float:
    """Mean Dice of the label values ``classes`` over ``cases`` with the CNN (the selection
    score), or with the CNN + Transformer ensemble."""
    scores = []
    for case in cases:
        pred = predict_volume(model, case.image, ensemble=ensemble, uncertainty=False).labels
        scores.extend(dice(pred == c, case.labels == c) for c in classes)
    return float(np.mean(scores)) if scores else 0.0


def patient_of(case: str) -> str:
    """``patient012_frame01`` -> ``patient012``; other names are their own patient."""
    return case.split("_frame")[0]


def first_patients(cases: list[str], k: int) -> list[str]:
    """All cases of the first ``k`` distinct patients, in order."""
    patients: list[str] = []
    for case in cases:
        if patient_of(case) not in patients:
            patients.append(patient_of(case))
    chosen = set(patients[:k])
    return [c for c in cases if patient_of(c) in chosen]


def run_protocol(
    data_dir: str,
    *,
    split: str = "val",
    labelled_patients: int = 7,
    method: str = "mcsc",
    profile_name: str = "fast",
    iterations: int | None = None,
    max_seconds: float | None = None,
    seed: int = 1337,
    limit: int | None = None,
    device: str | None = None,
    select: str = "last",
    validate_every: int = 200,
    curve_at: Sequence[int] = (),
    log=print,
    **config_overrides,
) -> dict:
    if select not in SELECTION_RULES:
        raise ValueError(f"select must be one of {SELECTION_RULES}, got {select!r}")
    train_cases = load_split(data_dir, "train")
    labelled = first_patients(train_cases, labelled_patients)
    unlabelled = [c for c in train_cases if c not in labelled] if method != "sup" else []
    overrides: dict = {"method": method, "seed": seed, "device": device, **config_overrides}
    if iterations is not None:
        overrides["iterations"] = iterations
        overrides["max_seconds"] = max_seconds
    elif max_seconds is not None:
        overrides["max_seconds"] = max_seconds
    config = profile(profile_name, **overrides)
    start = time.perf_counter()
    volumes = [
        AnnotatedVolume(c.image, c.labels, name=c.name) for c in (read_case(data_dir, n) for n in labelled)
    ]
    extra = [read_case(data_dir, n).image for n in unlabelled]
    data = build_slice_set(
        volumes,
        image_size=config.image_size,
        image_interpolation=config.image_interpolation,
        unlabelled=extra,
    )
    log(
        f"{method}: {len(labelled)} labelled volumes ({data.num_labelled} slices), "
        f"{len(unlabelled)} unlabelled volumes ({data.num_unlabelled} slices)"
    )
    names = load_split(data_dir, split)[: limit or None]
    foreground = [int(v) for v in data.mapping.values[1:]]  # label values; class 0 is background
    selector = None
    if select == "best":
        held_out = load_split(data_dir, split)[len(names) :]
        if not held_out:
            raise ValueError(
                f"best-validation selection needs volumes of {split!r} that are not "
                "scored: pass limit (--limit N) below the split's size"
            )
        select_cases = [read_case(data_dir, n) for n in held_out]
        selector = BestCheckpoint(lambda m: mean_dice_over(m, select_cases, foreground), every=validate_every)
    cases = [read_case(data_dir, n) for n in names]
    trainer = Trainer(config, data, validation=selector)
    curve, curve_seconds = [], 0.0
    for event in trainer.run():
        if event.iteration in curve_at:
            scoring = time.perf_counter()
            point = [event.iteration, round(mean_dice_over(trainer.model, cases, foreground), 4)]
            if trainer.model.has_trained_transformer:
                point.append(round(mean_dice_over(trainer.model, cases, foreground, ensemble=True), 4))
            curve.append(point)
            log(f"  it {event.iteration}: Dice (CNN, ensemble) {point[1:]} on {len(cases)} {split} volumes")
            curve_seconds += time.perf_counter() - scoring
        if event.iteration % 100 == 0:
            log(
                f"  it {event.iteration}/{event.total} loss {event.losses['total']:.3f} "
                f"{event.seconds_per_iteration:.2f} s/it"
            )
    train_seconds = time.perf_counter() - start - curve_seconds
    model = trainer.model
    results = {}
    for mode, ensemble in (("cnn", False), ("ensemble", True)):
        if ensemble and method == "sup":
            continue
        preds = [predict_volume(model, c.image, ensemble=ensemble, uncertainty=False).labels for c in cases]
        results[mode] = evaluate_many(
            preds,
            [c.labels for c in cases],
            classes=foreground,
            class_names=class_names(data_dir) or None,
        )
    return {
        "scenario": "protocol",
        "data": str(data_dir),
        "split": split,
        "labelled_patients": labelled_patients,
        "labelled_volumes": len(labelled),
        "unlabelled_volumes": len(unlabelled),
        "method": method,
        "profile": profile_name,
        "iterations": model.trained_iterations,
        "train_seconds": round(train_seconds, 1),
        "seed": seed,
        "evaluated_volumes": len(cases),
        "config": config.to_dict(),
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": str(trainer.device),
        },
        "selection": selector.summary() if selector else {"rule": "last iteration"},
        "curve": curve,
        "results": results,
        "dice_mean_cnn": results["cnn"]["mean"]["dice"],
        "dice_mean_ensemble": results.get("ensemble", {}).get("mean", {}).get("dice", float("nan")),
    }


def summarise(result: dict) -> str:
    """One line per evaluation mode: mean Dice, HD95, ASD."""
    lines = []
    for mode, res in result["results"].items():
        mean = res["mean"]
        lines.append(
            f"{result['method']:>5} K={result['labelled_patients']} {mode:<8} "
            f"Dice {mean['dice']:.3f}  HD95 {mean.get('hd95', np.nan):.1f}  "
            f"ASD {mean.get('asd', np.nan):.2f}"
        )
    return "\n".join(lines)
