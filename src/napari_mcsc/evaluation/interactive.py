"""The interactive scenario: paint K slices of a volume, train, score the other slices.

For each volume of a split: paint K evenly spaced slices (indices
round((i+1)(z-1)/(K+1)), halves rounded up), train on that volume (its unpainted slices,
and optionally other volumes of the split, as unlabelled data) for the profile's number
of iterations, and score the Dice of the classes on the unpainted slices. The CNN (the
paper's predictor) and the CNN + Transformer ensemble are both scored from the same run;
``curve_at`` also scores the CNN during the run (a Dice-versus-iterations curve inside
one schedule). Morphological contour interpolation from the same painted slices is scored
beside it when ITK's interpolator is installed. ``classes`` keeps only some structures
(e.g. ``[3]``: ACDC's LV alone), to check a setting beyond ACDC's three-class shape.
"""

from __future__ import annotations

import copy
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from napari_mcsc.checkpoint import save_model
from napari_mcsc.data.decathlon import Case, load_split, read_case, select_cases
from napari_mcsc.data.phantom import evenly_spaced_slices, paint_slices
from napari_mcsc.data.slices import AnnotatedVolume
from napari_mcsc.evaluation.baselines import contour_interpolation_available, interpolate_contours
from napari_mcsc.inference import predict_volume
from napari_mcsc.jobs import TrainingJob, run_to_end
from napari_mcsc.metrics import dice
from napari_mcsc.model import SegmentationModel
from napari_mcsc.postprocess import consistent_mask
from napari_mcsc.training import Trainer
from napari_mcsc.training.config import TrainConfig
from napari_mcsc.training.spec import RunChoices, run_config


def dice_on_slices(pred: np.ndarray, truth: np.ndarray, keep: list[int], classes) -> dict[int, float]:
    """Dice per class over the ``keep`` slices (axis 0) stacked as one volume."""
    return {c: dice(pred[keep] == c, truth[keep] == c) for c in classes}


def mean_dice(pred: np.ndarray, truth: np.ndarray, keep: list[int], classes) -> float:
    return float(np.mean(list(dice_on_slices(pred, truth, keep, classes).values())))


def keep_classes(labels: np.ndarray, classes: Sequence[int] | None) -> np.ndarray:
    """Labels with only ``classes`` kept (the others become background); all when None."""
    if not classes:
        return labels
    return np.where(np.isin(labels, list(classes)), labels, 0)


def train_on_painted(
    case: Case,
    painted: Sequence[int],
    config: TrainConfig,
    *,
    truth: np.ndarray,
    extra: Sequence[np.ndarray] = (),
    init: SegmentationModel | None = None,
    curve_at: Sequence[int] = (),
    device: str | None = None,
    on_last_step=None,
) -> tuple[Trainer, list[list[float]]]:
    """Train on ``painted`` slices of ``truth`` (all other slices unlabelled) through the
    ``TrainingJob`` the widget runs; return the trainer and the CNN's Dice on the unpainted
    slices at the ``curve_at`` iterations. ``on_last_step(model)`` gets a copy of the model
    after the run's last step, before the run's end replaces its weights by their average
    (``TrainConfig.average_weights``): one run gives both models."""
    sparse = paint_slices(truth, list(painted))
    # A painted slice with nothing on it is background the annotator confirmed, not unpainted.
    volume = AnnotatedVolume(case.image, sparse, reviewed=list(painted), name=case.name)
    job = TrainingJob(config, [volume], list(extra), init=init, predict=False)
    keep = [s for s in range(truth.shape[0]) if s not in set(painted)]
    classes = [int(c) for c in np.unique(truth) if c != 0]
    curve = []

    def score(event) -> None:
        if on_last_step is not None and event.iteration == config.iterations:
            on_last_step(copy.deepcopy(job.model))
        if event.iteration in curve_at:
            pred = predict_volume(job.model, case.image, uncertainty=False, device=device, painted=sparse)
            curve.append([event.iteration, round(mean_dice(pred.labels, truth, keep, classes), 4)])

    run_to_end(job.run(), score)
    return job.trainer, curve


def run_interactive(
    data_dir: str,
    *,
    split: str = "val",
    painted: int = 2,
    iterations: int | None = None,
    max_seconds: float | None = None,
    limit: int | None = None,
    every: int = 1,
    offset: int = 0,
    cases: Sequence[str] | None = None,
    device: str | None = None,
    method: str = "mcsc",
    profile_name: str = "fast",
    unlabelled_volumes: int = 0,
    seed: int = 1337,
    classes: Sequence[int] | None = None,
    curve_at: Sequence[int] = (),
    models_dir: str | Path | None = None,
    log=print,
    on_volume=None,
    **overrides,
) -> dict:
    """Run the scenario on the chosen volumes; ``on_volume(summary_so_far)`` is called
    after each volume (the CLI saves partial results with it). ``models_dir``: each
    volume's trained model is saved there as CASE.pt, so that prediction options can be
    scored later without training again."""
    names = select_cases(data_dir, split, every=every, offset=offset, limit=limit, cases=cases)
    with_interp = contour_interpolation_available()
    config = run_config(
        RunChoices(
            profile_name,
            method=method,
            iterations=iterations or None,
            max_seconds=max_seconds,
            seed=seed,
            device=device,
            settings=overrides,
        )
    )
    settings = {
        "scenario": "interactive",
        "data": str(data_dir),
        "split": split,
        "painted": painted,
        "method": method,
        "profile": profile_name,
        "iterations": config.iterations,
        "max_seconds": max_seconds,
        "classes": list(classes) if classes else "all",
        "unlabelled_volumes": unlabelled_volumes,
        "seed": seed,
        "overrides": overrides,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "device": str(device or "auto"),
        },
    }
    rows = []
    for index, name in enumerate(names):
        case = read_case(data_dir, name)
        truth = keep_classes(case.labels, classes)
        present = [int(c) for c in np.unique(truth) if c != 0]
        z = case.image.shape[0]
        chosen = evenly_spaced_slices(z, painted)
        keep = [s for s in range(z) if s not in chosen]
        others = [n for n in load_split(data_dir, split) if n != name][:unlabelled_volumes]
        extra = [read_case(data_dir, other).image for other in others]
        start = time.perf_counter()
        last_step = []
        trainer, curve = train_on_painted(
            case,
            chosen,
            config,
            truth=truth,
            extra=extra,
            curve_at=curve_at,
            device=device,
            on_last_step=last_step.append if config.average_weights is not None else None,
        )
        train_seconds = time.perf_counter() - start
        model = trainer.model
        if models_dir is not None:
            save_model(model, Path(models_dir) / f"{name}.pt")
        sparse = paint_slices(truth, chosen)
        row = {
            "case": name,
            "shape": list(case.image.shape),
            "painted": chosen,
            "iterations": trainer.outcome.done,
            "complete": trainer.outcome.complete,
            "threads": model.history[-1].get("threads"),
            "train_seconds": round(train_seconds, 1),
            "seconds_per_iteration": trainer.outcome.seconds_per_iteration,
            **_scores(model, case.image, sparse, truth, keep, present, device),
        }
        if model.has_trained_transformer:
            both = predict_volume(
                model, case.image, ensemble=True, uncertainty=False, device=device, painted=sparse
            )
            row["ensemble_dice_mean"] = mean_dice(both.labels, truth, keep, present)
        if last_step:
            row["last_step"] = _scores(last_step[0], case.image, sparse, truth, keep, present, device)
        if curve:
            row["curve"] = curve
        if with_interp:
            filled = interpolate_contours(paint_slices(truth, chosen))
            interp = dice_on_slices(filled, truth, keep, present)
            row["interp_dice"] = {str(c): v for c, v in interp.items()}
            row["interp_dice_mean"] = float(np.mean(list(interp.values())))
        rows.append(row)
        log(
            f"[{index + 1}/{len(names)}] {name} z={z} painted={chosen} it={row['iterations']} "
            f"dice={row['dice_mean']:.3f}"
            + (f" ens={row['ensemble_dice_mean']:.3f}" if "ensemble_dice_mean" in row else "")
            + f" 3d={row['consistent_dice_mean']:.3f} uncarried={row['uncarried_consistent_dice_mean']:.3f}"
            + f" flips={row['flips_dice_mean']:.3f}"
            + f" both={row['flips_consistent_dice_mean']:.3f}"
            + (f" interp={row['interp_dice_mean']:.3f}" if with_interp else "")
            + f" ({train_seconds:.0f} s)"
        )
        if on_volume is not None:
            on_volume(_summary(settings, rows))
    return _summary(settings, rows)


def _scores(model, image, sparse, truth, keep, present, device) -> dict:
    """The CNN's Dice and its prediction options' (``prediction_variants``) for ``model``."""
    cnn = predict_volume(model, image, uncertainty=False, device=device, painted=sparse).labels
    per_class = dice_on_slices(cnn, truth, keep, present)
    row = {
        "dice": {str(c): v for c, v in per_class.items()},
        "dice_mean": float(np.mean(list(per_class.values()))),
    }
    return {**row, **prediction_variants(model, image, cnn, sparse, truth, keep, present, device)}


def prediction_variants(model, image, cnn, sparse, truth, keep, present, device) -> dict:
    """The CNN's Dice with the prediction options of the same model: the 3D-consistent
    mask the widget shows (painted slices carried, ``propagation``), the same mask without
    carrying them (``uncarried``), test-time flips, and flips with the mask
    (``inference.predict_volume``)."""

    def predict(**options) -> np.ndarray:
        options = {"uncertainty": False, "device": device, "painted": sparse, **options}
        return predict_volume(model, image, **options).labels

    flipped = predict(flips=True)
    masks = {
        "consistent": predict(consistent=True),
        "uncarried_consistent": consistent_mask(cnn, sparse),
        "flips_consistent": predict(flips=True, consistent=True),
    }
    row = {"flips_dice_mean": mean_dice(flipped, truth, keep, present)}
    for key, labels in masks.items():
        per_class = dice_on_slices(labels, truth, keep, present)  # once: the mean comes from it
        row[f"{key}_dice_mean"] = float(np.mean(list(per_class.values())))
        row[f"{key}_dice"] = {str(c): v for c, v in per_class.items()}
    return row


#: The figures averaged over volumes in a summary.
SUMMARY_KEYS = (
    "dice_mean",
    "ensemble_dice_mean",
    "interp_dice_mean",
    "consistent_dice_mean",
    "uncarried_consistent_dice_mean",
    "flips_dice_mean",
    "flips_consistent_dice_mean",
)


def _summary(settings: dict, rows: list[dict]) -> dict:
    summary = {**settings, "n_volumes": len(rows), "volumes": rows, **_means(rows)}
    last_steps = [r["last_step"] for r in rows if "last_step" in r]
    if last_steps:  # the same runs' models before their weights were averaged
        summary["last_step"] = _means(last_steps)
    return summary


def _means(rows: list[dict]) -> dict:
    """The ``SUMMARY_KEYS`` figures averaged over the rows that have them."""
    means = {}
    for key in SUMMARY_KEYS:
        values = [r[key] for r in rows if key in r]
        if values:
            means[key] = float(np.mean(values))
    return means
