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

Long runs: ``progress_file`` receives JSON lines as they come (curve points, and every
``monitor_every`` iterations the losses and the pseudo-label figures: the share of
unlabelled pixels each teacher kept and their Dice against the truth, which the
unlabelled training volumes have); ``checkpoint_every`` writes a checkpoint that
``resume=True`` continues from (the same call again), the curve so far read back from
``progress_file``. The run is the ``TrainingJob`` the widget and ``train`` run; ``on_job``
(a context manager factory given the job, e.g. ``stop_on_signals``) is around its run.
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from napari_mcsc.data.decathlon import class_names, load_split, read_case
from napari_mcsc.data.slices import AnnotatedVolume
from napari_mcsc.evaluation.progress_lines import ProgressLines
from napari_mcsc.inference import predict_volume
from napari_mcsc.jobs import TrainingJob, run_to_end
from napari_mcsc.metrics import dice, evaluate_many
from napari_mcsc.training.methods import method_named
from napari_mcsc.training.selection import BestCheckpoint
from napari_mcsc.training.spec import RunChoices, run_config

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
    progress_file: str | Path | None = None,
    monitor_every: int = 100,
    checkpoint_every: int | None = None,
    checkpoint_file: str | Path | None = None,
    resume: bool = False,
    on_job=None,
    **config_overrides,
) -> dict:
    if select not in SELECTION_RULES:
        raise ValueError(f"select must be one of {SELECTION_RULES}, got {select!r}")
    train_cases = load_split(data_dir, "train")
    labelled = first_patients(train_cases, labelled_patients)
    uses_unlabelled = method_named(method).uses_unlabelled
    unlabelled = [c for c in train_cases if c not in labelled] if uses_unlabelled else []
    config = run_config(
        RunChoices(
            profile_name,
            method=method,
            iterations=iterations,
            max_seconds=max_seconds,
            seed=seed,
            device=device,
            settings=config_overrides,
        )
    )
    start = time.perf_counter()
    # A labelled patient's every slice is annotated: its empty slices are background, not unpainted.
    volumes = [
        AnnotatedVolume(c.image, c.labels, reviewed=range(c.image.shape[0]), name=c.name)
        for c in (read_case(data_dir, n) for n in labelled)
    ]
    extra_cases = [read_case(data_dir, n) for n in unlabelled]
    # Their truth, to measure the pseudo-labels (never trained on).
    job = TrainingJob(
        config,
        volumes,
        [c.image for c in extra_cases],
        predict=False,
        truths=[v.labels for v in volumes],
        extra_truths=[c.labels for c in extra_cases],
    )
    data = job.prepare()[1]
    del extra_cases
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
    from napari_mcsc.training.resume import Checkpointing, load_resume

    progress = ProgressLines(progress_file, fresh=not resume)
    checkpointing = None
    if checkpoint_every:
        if checkpoint_file is None:
            raise ValueError("checkpoint_every needs a checkpoint_file")
        checkpointing = Checkpointing(checkpoint_file, checkpoint_every)
    resumed = None
    if resume and checkpoint_file is not None and Path(checkpoint_file).is_file():
        resumed = load_resume(checkpoint_file)
        log(f"resuming from {checkpoint_file} at iteration {resumed.iteration}")
    job.validation, job.resume = selector, resumed
    done = resumed.iteration if resumed else 0
    curve = [p["curve"] for p in progress.read() if "curve" in p and p["iteration"] <= done]
    curve_seconds = 0.0

    def follow(event) -> None:
        nonlocal curve_seconds
        trainer = job.trainer
        if event.iteration % monitor_every == 0:
            progress.write(
                {
                    "iteration": event.iteration,
                    "losses": {k: round(v, 5) for k, v in event.losses.items()},
                    "pseudo_labels": trainer.pseudo_labels.flush(),
                    "seconds_per_iteration": round(event.seconds_per_iteration, 4),
                }
            )
        if checkpointing is not None and checkpointing.due(event.iteration):
            checkpointing.save(trainer, event.iteration)
        if event.iteration in curve_at:
            scoring = time.perf_counter()
            point = [event.iteration, round(mean_dice_over(trainer.model, cases, foreground), 4)]
            if trainer.model.has_trained_transformer:
                point.append(round(mean_dice_over(trainer.model, cases, foreground, ensemble=True), 4))
            curve.append(point)
            progress.write({"iteration": event.iteration, "curve": point})
            log(f"  it {event.iteration}: Dice (CNN, ensemble) {point[1:]} on {len(cases)} {split} volumes")
            curve_seconds += time.perf_counter() - scoring
        if event.iteration % 100 == 0:
            log(
                f"  it {event.iteration}/{event.total} loss {event.losses['total']:.3f} "
                f"{event.seconds_per_iteration:.2f} s/it"
            )

    with on_job(job) if on_job else contextlib.nullcontext():
        run_to_end(job.run(), follow)
    trainer = job.trainer
    train_seconds = time.perf_counter() - start - curve_seconds
    if checkpointing is not None and not trainer.outcome.complete:
        checkpointing.save(trainer, trainer.outcome.done)
        raise RunInterrupted(
            f"stopped at iteration {trainer.outcome.done}: checkpoint in {checkpoint_file}; rerun "
            "the same command with --resume to continue"
        )
    model = trainer.model
    results = {}
    for mode, ensemble in (("cnn", False), ("ensemble", True)):
        if ensemble and not model.has_trained_transformer:
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


class RunInterrupted(RuntimeError):
    """The run stopped before its last iteration and left a checkpoint to resume from."""


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
