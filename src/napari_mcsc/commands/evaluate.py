"""``napari-mcsc evaluate``: Dice and HD95 of a predicted label file against the truth."""

from __future__ import annotations

import argparse
import json

import numpy as np

from napari_mcsc.commands.common import add_geometry_argument, existing_path
from napari_mcsc.commands.errors import UsageError

#: A prediction with more distinct values than this (and than twice the truth's) is
#: taken for an intensity image given by mistake.
MAX_PREDICTED_LABELS = 64


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="per-class and mean Dice and HD95 of a prediction, as JSON",
        description="HD95 is given in voxels and in mm (from the truth file's spacing).",
    )
    p.add_argument("--pred", required=True, metavar="PATH", help="predicted label volume")
    p.add_argument("--truth", required=True, metavar="PATH", help="ground-truth label volume")
    add_geometry_argument(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from napari_mcsc.data.labels import check_label_array
    from napari_mcsc.io.geometry import geometry_mismatch
    from napari_mcsc.io.volumes import read_volume
    from napari_mcsc.metrics import evaluate_volume, nan_to_none

    pred = read_volume(existing_path(args.pred, "prediction"))
    truth = read_volume(existing_path(args.truth, "ground truth"))
    if pred.array.shape != truth.array.shape:
        raise UsageError(
            f"prediction shape {pred.array.shape} differs from ground-truth shape {truth.array.shape}"
        )
    pred_labels = check_label_array(pred.array, f"--pred {args.pred}")
    truth_labels = check_label_array(truth.array, f"--truth {args.truth}")
    found, expected = np.unique(pred_labels), np.unique(truth_labels)
    if len(found) > max(MAX_PREDICTED_LABELS, 2 * len(expected)):
        raise UsageError(
            f"--pred {args.pred} holds {len(found)} different values (the truth {len(expected)}): "
            "it looks like an intensity image, not a label map; give the *_prediction file"
        )
    if not getattr(args, "ignore_geometry", False):
        difference = geometry_mismatch(pred.geometry, truth.geometry)
        if difference:
            raise UsageError(
                f"--pred {args.pred} does not lie on the grid of --truth {args.truth} "
                f"({difference}); resample one onto the other, or pass --ignore-geometry if "
                "the voxels do match and one header is wrong"
            )
    scores = evaluate_volume(pred_labels, truth_labels, spacing=truth.geometry.spacing_zyx)
    print(json.dumps(nan_to_none(scores), indent=2))
    return 0
