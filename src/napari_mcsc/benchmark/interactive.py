"""The interactive scenario: paint K slices of a volume, train, score the other slices.

For each volume of a split: paint K evenly spaced slices (indices
round((i+1)(z-1)/(K+1)), halves rounded up), train on that volume (its unpainted slices,
and optionally other volumes of the split, as unlabelled data), and score the Dice of
classes 1..C on the unpainted slices. Morphological contour interpolation from the same
painted slices is scored beside it when ITK's interpolator is installed.
"""

from __future__ import annotations

import platform
import time

import numpy as np
import torch

from napari_mcsc.benchmark.baselines import contour_interpolation_available, interpolate_contours
from napari_mcsc.benchmark.dataset import load_split, read_case
from napari_mcsc.data.phantom import evenly_spaced_slices, paint_slices
from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set
from napari_mcsc.inference import predict_volume
from napari_mcsc.metrics import dice
from napari_mcsc.training import Trainer, profile


def dice_on_slices(pred: np.ndarray, truth: np.ndarray, keep: list[int], classes) -> dict[int, float]:
    """Dice per class over the ``keep`` slices (axis 0) stacked as one volume."""
    return {c: dice(pred[keep] == c, truth[keep] == c) for c in classes}


def run_interactive(
    data_dir: str,
    *,
    split: str = "val",
    painted: int = 2,
    max_seconds: float = 120.0,
    limit: int | None = None,
    every: int = 1,
    device: str | None = None,
    method: str = "mcsc",
    profile_name: str = "fast",
    unlabelled_volumes: int = 0,
    seed: int = 1337,
    log=print,
    **overrides,
) -> dict:
    names = load_split(data_dir, split)[::every]
    if limit:
        names = names[:limit]
    with_interp = contour_interpolation_available()
    rows = []
    for index, name in enumerate(names):
        case = read_case(data_dir, name)
        classes = [c for c in range(1, int(case.labels.max()) + 1)]
        z = case.image.shape[0]
        chosen = evenly_spaced_slices(z, painted)
        keep = [s for s in range(z) if s not in chosen]
        sparse = paint_slices(case.labels, chosen)
        extra = [read_case(data_dir, other).image
                 for other in [n for n in names if n != name][:unlabelled_volumes]]
        config = profile(profile_name, max_seconds=max_seconds, device=device, method=method,
                         seed=seed, **overrides)
        start = time.perf_counter()
        data = build_slice_set([AnnotatedVolume(case.image, sparse, name=name)],
                               image_size=config.image_size,
                               image_interpolation=config.image_interpolation, unlabelled=extra)
        trainer = Trainer(config, data)
        for _ in trainer.run():
            pass
        train_seconds = time.perf_counter() - start
        pred = predict_volume(trainer.model, case.image, uncertainty=False, device=device)
        ours = dice_on_slices(pred.labels, case.labels, keep, classes)
        row = {"case": name, "shape": list(case.image.shape), "painted": chosen,
               "iterations": trainer.model.trained_iterations,
               "train_seconds": round(train_seconds, 1),
               "dice": {str(c): v for c, v in ours.items()},
               "dice_mean": float(np.mean(list(ours.values())))}
        if with_interp:
            filled = interpolate_contours(sparse)
            interp = dice_on_slices(filled, case.labels, keep, classes)
            row["interp_dice"] = {str(c): v for c, v in interp.items()}
            row["interp_dice_mean"] = float(np.mean(list(interp.values())))
        rows.append(row)
        log(f"[{index + 1}/{len(names)}] {name} z={z} painted={chosen} it={row['iterations']} "
            f"dice={row['dice_mean']:.3f}"
            + (f" interp={row['interp_dice_mean']:.3f}" if with_interp else ""))
    summary = {
        "scenario": "interactive", "data": str(data_dir), "split": split, "painted": painted,
        "method": method, "profile": profile_name, "max_seconds": max_seconds,
        "unlabelled_volumes": unlabelled_volumes, "seed": seed, "overrides": overrides,
        "n_volumes": len(rows),
        "dice_mean": float(np.mean([r["dice_mean"] for r in rows])) if rows else float("nan"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "device": str(device or "auto")},
        "volumes": rows,
    }
    if with_interp and rows:
        summary["interp_dice_mean"] = float(np.mean([r["interp_dice_mean"] for r in rows]))
    return summary
