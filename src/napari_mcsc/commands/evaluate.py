"""``napari-mcsc evaluate``: Dice and HD95 of a predicted label file against the truth."""

from __future__ import annotations

import argparse
import json

from napari_mcsc.cli import UsageError
from napari_mcsc.commands.common import existing_path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="per-class and mean Dice and HD95 of a prediction, as JSON",
        description="HD95 is given in voxels and in mm (from the truth file's spacing).",
    )
    p.add_argument("--pred", required=True, metavar="PATH", help="predicted label volume")
    p.add_argument("--truth", required=True, metavar="PATH", help="ground-truth label volume")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from napari_mcsc.io import read_volume
    from napari_mcsc.metrics import evaluate_volume, nan_to_none

    pred = read_volume(existing_path(args.pred, "prediction"))
    truth = read_volume(existing_path(args.truth, "ground truth"))
    if pred.array.shape != truth.array.shape:
        raise UsageError(
            f"prediction shape {pred.array.shape} differs from ground-truth shape {truth.array.shape}"
        )
    scores = evaluate_volume(pred.array, truth.array, spacing=truth.geometry.spacing_zyx)
    print(json.dumps(nan_to_none(scores), indent=2))
    return 0
