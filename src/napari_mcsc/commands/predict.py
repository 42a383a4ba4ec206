"""``napari-mcsc predict``: segment volumes with a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_mcsc.commands.common import add_device_argument, existing_path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="segment images with a trained model",
        description="Writes DIR/<name>_prediction.nii.gz (and <name>_uncertainty.nii.gz) with "
        "the geometry of each input, <name> being the input's file name without extension.",
    )
    p.add_argument("--model", required=True, metavar="MODEL.pt")
    p.add_argument("--image", action="append", required=True, metavar="IMG",
                   help="an image volume; repeat for more")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--uncertainty", action="store_true",
                   help="also write the uncertainty map (ensemble predictive entropy, 0..1)")
    p.add_argument("--ensemble", action="store_true",
                   help="average the CNN and Transformer (default: the CNN alone, as in the paper)")
    add_device_argument(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from napari_mcsc.checkpoint import load_model
    from napari_mcsc.devices import pick_device
    from napari_mcsc.inference import predict_volume
    from napari_mcsc.io import read_volume, write_volume

    device = pick_device(args.device)
    model = load_model(existing_path(args.model, "model"), device=device)
    paths = [existing_path(p, "image") for p in args.image]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        volume = read_volume(path)
        pred = predict_volume(model, volume.array, ensemble=args.ensemble,
                              uncertainty=args.uncertainty, device=device)
        written = [write_volume(out / f"{volume.name}_prediction.nii.gz", pred.labels, volume.geometry)]
        if args.uncertainty and pred.uncertainty is not None:
            written.append(write_volume(out / f"{volume.name}_uncertainty.nii.gz",
                                        pred.uncertainty, volume.geometry))
        print("\n".join(str(w) for w in written))
    return 0
