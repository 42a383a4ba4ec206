"""Beyond ACDC's shape: one structure over many slices (issue 8.4).

ACDC has three classes and about ten slices a volume. This checks a setting on a phantom
with 60+ slices and one structure (the LV, class 3 of the phantom): K evenly spaced painted
slices, the profile's run, Dice on the unpainted slices, against morphological contour
interpolation from the same slices (when ITK's interpolator is installed).

    python benchmarks/phantom_slices.py --slices 64 --painted 5 --method sup \
        --out benchmarks/results/phantom64_k5_sup.json

``--shape tube`` runs the same on a bending tube of varying width (data/tube.py), its K
slices spread over the tube's extent as a user paints them:

    python benchmarks/phantom_slices.py --shape tube --slices 72 --painted 5 \
        --out benchmarks/results/tube/tube72_k5_sup.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from napari_mcsc.commands.common import add_set_argument, settings_from_args
from napari_mcsc.data.decathlon import Case
from napari_mcsc.data.phantom import LABEL_LV, evenly_spaced_slices, make_phantom, paint_slices
from napari_mcsc.data.tube import LABEL_TUBE, make_tube, structure_slices
from napari_mcsc.evaluation.baselines import contour_interpolation_available, interpolate_contours
from napari_mcsc.evaluation.interactive import (
    SUMMARY_KEYS,
    keep_classes,
    mean_dice,
    prediction_variants,
    train_on_painted,
)
from napari_mcsc.inference import predict_volume
from napari_mcsc.io import Geometry
from napari_mcsc.training.spec import RunChoices, run_config

#: shape -> (maker, its default class, case name, how K slices are painted in the truth)
SHAPES = {
    "heart": (make_phantom, LABEL_LV, "phantom", lambda truth, k: evenly_spaced_slices(len(truth), k)),
    "tube": (make_tube, LABEL_TUBE, "tube", structure_slices),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--painted", type=int, default=5)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="heart")
    parser.add_argument("--classes", type=int, nargs="*", help="kept classes (default: heart 3 LV; tube 1)")
    parser.add_argument("--method", default=None, help="default: the profile's")
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--iterations", type=int, help="default: the profile's")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1], help="phantom seeds")
    parser.add_argument("--out", type=Path)
    add_set_argument(parser)
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    choices = RunChoices(args.profile, method=args.method, iterations=args.iterations, settings=settings)
    config = run_config(choices)
    with_interp = contour_interpolation_available()
    make, default_class, name, paint = SHAPES[args.shape]
    classes = args.classes or [default_class]
    rows = []
    for seed in args.seeds:
        phantom = make((args.slices, 96, 96), seed=seed)
        truth = keep_classes(phantom.labels.astype(np.int64), classes)
        case = Case(
            f"{name}{args.slices}_seed{seed}",
            phantom.image,
            truth,
            Geometry.identity(3),
        )
        painted = paint(truth, args.painted)
        keep = [s for s in range(args.slices) if s not in painted]
        present = [int(c) for c in np.unique(truth) if c != 0]
        start = time.perf_counter()
        trainer, _ = train_on_painted(case, painted, config, truth=truth)
        sparse = paint_slices(truth, painted)
        pred = predict_volume(trainer.model, case.image, uncertainty=False, painted=sparse).labels
        row = {
            "case": case.name,
            "painted": painted,
            "method": config.method,
            "iterations": trainer.outcome.done,
            "train_seconds": round(time.perf_counter() - start, 1),
            "dice_mean": mean_dice(pred, truth, keep, present),
            **prediction_variants(trainer.model, case.image, pred, sparse, truth, keep, present, None),
        }
        if with_interp:
            row["interp_dice_mean"] = mean_dice(
                interpolate_contours(paint_slices(truth, painted)), truth, keep, present
            )
        print(json.dumps(row), flush=True)
        rows.append(row)
    summary = {
        "shape": args.shape,
        "slices": args.slices,
        "painted": args.painted,
        "classes": classes,
        "method": config.method,
        "profile": args.profile,
        "volumes": rows,
        "settings": settings,
        **{key: float(np.mean([r[key] for r in rows])) for key in SUMMARY_KEYS if key in rows[0]},
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "volumes"}))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
