"""``napari-mcsc train``: train a model from images with sparsely painted label files."""

from __future__ import annotations

import argparse

from napari_mcsc.cli import UsageError
from napari_mcsc.commands.common import add_device_argument, existing_path, run_training


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train MCSC on images whose label files have a few painted slices",
        description="Train the CNN + Swin-UNet pair on the painted slices of each label file "
        "(unpainted slices are 0) and on every other slice as unlabelled data.",
    )
    p.add_argument("--image", action="append", required=True, metavar="IMG",
                   help="an image volume (NIfTI, MHA/MHD, NRRD or a DICOM folder); repeat for more")
    p.add_argument("--labels", action="append", required=True, metavar="LAB",
                   help="the sparse label volume of the matching --image, in the same order")
    p.add_argument("--unlabelled", action="append", default=[], metavar="IMG",
                   help="extra images without any labels, used as unlabelled data")
    p.add_argument("--out", required=True, metavar="MODEL.pt", help="where to write the model")
    p.add_argument("--profile", choices=("fast", "paper"), default="fast",
                   help="fast: CPU-friendly, 2 min budget (default); paper: the paper's settings")
    p.add_argument("--iterations", type=int, help="number of iterations (default: the profile's)")
    p.add_argument("--max-seconds", type=float,
                   help="time budget in seconds (default: the profile's; 0 for none)")
    p.add_argument("--axis", type=int, default=0, choices=(0, 1, 2),
                   help="slice axis in numpy order (0 = the file's last axis, z); default 0")
    add_device_argument(p)
    p.add_argument("--init", metavar="MODEL.pt", help="fine-tune this model instead of starting anew")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--method", choices=("mcsc", "ct", "sup"), default="mcsc",
                   help="mcsc (default), ct: cross teaching only, sup: CNN on painted slices only")
    p.add_argument("--ct-window", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="CT: clip intensities to this window (e.g. -125 275 HU) instead of the "
                   "MRI default (per-volume 0.5-99.5 percentiles)")
    p.add_argument("--swin-weights", metavar="FILE",
                   help="ImageNet-pretrained Swin Transformer weights (.pth/.safetensors), or "
                   "'timm' for timm's swin_tiny weights if they are in your local cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace):
    from napari_mcsc.training import profile

    overrides = {"device": args.device, "method": args.method}
    if args.iterations is not None:
        if args.iterations < 1:
            raise UsageError("--iterations must be at least 1")
        overrides["iterations"] = args.iterations
        if args.max_seconds is None:
            overrides["max_seconds"] = None
    if args.max_seconds is not None:
        if args.max_seconds < 0:
            raise UsageError("--max-seconds must not be negative")
        overrides["max_seconds"] = args.max_seconds or None
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.swin_weights:
        if args.swin_weights != "timm":
            existing_path(args.swin_weights, "Swin weights file")
        overrides["swin_pretrained"] = args.swin_weights
    return profile(args.profile, **overrides)


def run(args: argparse.Namespace) -> int:
    from napari_mcsc.checkpoint import load_model, save_model
    from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set
    from napari_mcsc.devices import pick_device
    from napari_mcsc.io import read_volume

    if len(args.image) != len(args.labels):
        raise UsageError(
            f"{len(args.image)} --image but {len(args.labels)} --labels: give one label file per image"
        )
    pick_device(args.device)  # fail early on an unknown device
    config = config_from_args(args)
    init = load_model(existing_path(args.init, "model to fine-tune")) if args.init else None
    volumes = []
    for image_path, label_path in zip(args.image, args.labels, strict=True):
        image = read_volume(existing_path(image_path, "image"))
        labels = read_volume(existing_path(label_path, "label file"))
        volumes.append(AnnotatedVolume(image.array, labels.array, name=image.name))
    extra = [read_volume(existing_path(p, "unlabelled image")).array for p in args.unlabelled]
    if init is not None:
        config = config.replace(image_size=init.image_size)
    data = build_slice_set(
        volumes, axis=args.axis, image_size=config.image_size,
        image_interpolation=config.image_interpolation, unlabelled=extra,
        mapping=_extended_mapping(init, volumes),
        normalisation=_normalisation(args, init),
    )
    announce = (f"training {config.method} ({config.profile} profile) on {data.num_labelled} painted "
                f"and {data.num_unlabelled} unlabelled slices, classes {list(data.mapping.values)}")
    model = run_training(config, data, init=init, show_progress=not args.quiet, announce=announce)
    path = save_model(model, args.out)
    print(f"model written to {path} ({model.trained_iterations} iterations in all)")
    return 0


def _normalisation(args, init):
    from napari_mcsc.data.normalise import Normalisation

    if init is not None:
        if args.ct_window:
            raise UsageError("--ct-window cannot change the normalisation of a model being fine-tuned")
        return init.normalisation
    if args.ct_window:
        low, high = args.ct_window
        if not low < high:
            raise UsageError(f"--ct-window LOW HIGH needs LOW < HIGH, got {low:g} {high:g}")
        return Normalisation(mode="ct", window=(low, high))
    return Normalisation()


def _extended_mapping(init, volumes):
    """The old model's classes plus any new label values (old class order kept)."""
    from napari_mcsc.data.labels import LabelMapping

    found = LabelMapping.from_label_volumes(v.labels for v in volumes)
    return found if init is None else init.mapping.merged(found)
