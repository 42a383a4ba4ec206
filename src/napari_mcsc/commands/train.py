"""``napari-mcsc train``: train a model from images with sparsely painted label files."""

from __future__ import annotations

import argparse
import itertools
import sys

from napari_mcsc.commands.common import (
    add_device_argument,
    add_geometry_argument,
    add_method_argument,
    add_profile_argument,
    add_seed_argument,
    add_target_arguments,
    check_output_file,
    existing_path,
    run_config_or_usage_error,
    run_training,
    save_or_rescue,
    target_overrides,
)
from napari_mcsc.commands.errors import UsageError
from napari_mcsc.training.config import DEFAULT_PROFILE, TrainConfig


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on images whose label files have a few painted slices",
        description="Train on the painted slices of each label file (unpainted slices are 0). "
        "The fast profile's method trains the CNN on them alone (sup: MCSC did not beat it at "
        "this run length); with --method mcsc, the paper profile's method, the CNN + Swin-UNet "
        "pair also learns from every other slice as unlabelled data.",
    )
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="IMG",
        help="an image volume (NIfTI, MHA/MHD, NRRD or a DICOM folder); repeat for more",
    )
    p.add_argument(
        "--labels",
        action="append",
        default=[],
        metavar="LAB",
        help="the sparse label volume of the matching --image, in the same order",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="instead of --image/--labels: a Medical Segmentation Decathlon folder "
        "(imagesTr/, labelsTr/, dataset.json, optional splits.json); see --labelled",
    )
    p.add_argument(
        "--labelled",
        metavar="K|painted",
        help="with --data: K = the first K training cases are fully labelled and the "
        "rest unlabelled; painted = the label files hold a few painted slices each",
    )
    p.add_argument(
        "--unlabelled",
        action="append",
        nargs="+",
        default=[],
        metavar="IMG",
        help="extra images without any labels, used as unlabelled data: files, DICOM "
        "folders, folders of volumes or quoted globs ('scans/*.nii.gz'); repeatable",
    )
    p.add_argument("--out", required=True, metavar="MODEL.pt", help="where to write the model")
    add_profile_argument(
        p, help=f"fast: CPU-friendly, paper: the paper's settings, for a GPU (default: {DEFAULT_PROFILE})"
    )
    p.add_argument(
        "--iterations",
        type=int,
        help="run length in iterations (default: the profile's, which its quality needs)",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        help="optional cap in seconds: training stops there even if incomplete, "
        "with a warning (default: no cap)",
    )
    p.add_argument(
        "--axis",
        type=int,
        default=0,
        choices=(0, 1, 2),
        help="slice axis in numpy order (0 = the file's last axis, z); default 0",
    )
    add_device_argument(p)
    p.add_argument("--init", metavar="MODEL.pt", help="fine-tune this model instead of starting anew")
    add_seed_argument(p, default=None, help=f"random seed (default: {TrainConfig.seed})")
    add_method_argument(p)
    add_target_arguments(p)
    p.add_argument(
        "--ct-window",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="CT: clip intensities to this window (e.g. -125 275 HU) instead of the "
        "MRI default (per-volume 0.5-99.5 percentiles)",
    )
    p.add_argument(
        "--swin-weights",
        metavar="FILE",
        help="ImageNet-pretrained Swin Transformer weights (.pth/.safetensors), or "
        "'timm' for timm's swin_tiny weights if they are in your local cache, or "
        "'imagenet' to download those once (needs internet) into the Hugging Face cache",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="every N iterations, write a checkpoint the run can resume from, next to "
        "--out as NAME.checkpoint.pt (also when Ctrl-C, SIGTERM or the time cap stop it)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run from its checkpoint (--checkpoint-every) if there is one, "
        "else start it: rerun the same command line with --resume added",
    )
    p.add_argument(
        "--per-process-batch",
        action="store_true",
        help="under torchrun: each process takes the profile's whole batch (global batch "
        "x processes) instead of its share of the profile's batch",
    )
    add_geometry_argument(p)
    p.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace):
    """The run ``train``'s options describe (``training.spec``), or a UsageError."""
    from napari_mcsc.training.spec import RunChoices

    if args.swin_weights and args.swin_weights not in ("timm", "imagenet"):
        existing_path(args.swin_weights, "Swin weights file")
    choices = RunChoices(
        profile=args.profile,
        method=args.method,
        iterations=args.iterations,
        max_seconds=args.max_seconds,
        seed=args.seed,
        device=args.device,
        swin_weights=args.swin_weights,
        settings=target_overrides(args),
    )
    return run_config_or_usage_error(choices)


def run(args: argparse.Namespace) -> int:
    from napari_mcsc.training.distributed import DistributedRun

    try:
        distributed = DistributedRun.from_environment()  # started by torchrun
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    try:
        return _train(args, distributed)
    finally:
        if distributed is not None:
            distributed.close()


def _train(args: argparse.Namespace, distributed) -> int:
    from napari_mcsc.checkpoint import load_model, save_model
    from napari_mcsc.devices import pick_device
    from napari_mcsc.jobs import TrainingJob
    from napari_mcsc.training.resume import Checkpointing, checkpoint_path, load_resume

    main = distributed is None or distributed.is_main
    labelled = _check_data_arguments(args)
    if len(args.image) != len(args.labels):
        raise UsageError(
            f"{len(args.image)} --image but {len(args.labels)} --labels: give one label file per image"
        )
    out = check_output_file(args.out, "--out")  # before any work: never lose a trained model
    pick_device(args.device)  # fail early on an unknown device
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every must be at least 1 iteration, got {args.checkpoint_every}")
    checkpoint_file = checkpoint_path(out)
    resume = None
    if args.resume:
        if checkpoint_file.is_file():
            resume = load_resume(checkpoint_file)
        elif main:
            print(f"no checkpoint {checkpoint_file} to resume from: starting the run", file=sys.stderr)
    if distributed is not None:
        args.device = str(distributed.start(args.device))
    config = config_from_args(args)
    if distributed is not None:
        try:
            config = distributed.split_batch(config, per_process=args.per_process_batch)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    unlabelled_paths = _unlabelled_paths(args.unlabelled)  # a wrong path fails before any reading
    init = load_model(existing_path(args.init, "model to fine-tune")) if args.init else None
    if init is not None and init.axis != args.axis:
        raise UsageError(
            f"the model to fine-tune ({args.init}) was trained on slices along axis {init.axis}, "
            f"not {args.axis}; pass --axis {init.axis} to fine-tune it"
        )
    mapping = None  # the classes found in the label files
    if args.data:
        from napari_mcsc.data.folders import read_training_data

        # lazy: the slices are made one case at a time, keeping only the resized ones
        folder = read_training_data(args.data, labelled, axis=args.axis, lazy=True)
        volumes, extra, mapping = folder.volumes, folder.unlabelled, folder.mapping
    else:
        volumes = [
            _read_annotated(image_path, label_path, args.ignore_geometry)
            for image_path, label_path in zip(args.image, args.labels, strict=True)
        ]
        extra = []
    extra = itertools.chain(extra, (_read_unlabelled(p) for p in unlabelled_paths))  # read when used
    job = TrainingJob(
        config,
        volumes,
        extra,
        axis=args.axis,
        init=init,
        mapping=mapping,
        normalisation=_normalisation(args, init),
        predict=False,
        resume=resume,
        distributed=distributed,
    )

    def announce(started, trainer) -> str:
        text = (
            f"training {config.method} ({config.profile} profile) on {started.num_labelled} "
            f"painted and {started.num_unlabelled} unlabelled slices, classes "
            f"{list(trainer.data.mapping.values)}"
        )
        if distributed is not None:
            text += (
                f", in {distributed.world_size} processes ({distributed.backend}, batch "
                f"{trainer.config.batch_size} each)"
            )
        if resume is not None:
            text += f"; resuming from {checkpoint_file} at iteration {resume.iteration}"
        return text

    checkpoint = (
        Checkpointing(checkpoint_file, args.checkpoint_every, writer=main) if args.checkpoint_every else None
    )
    model, outcome = run_training(job, show_progress=not args.quiet, announce=announce, checkpoint=checkpoint)
    if not main:
        return 0
    path, error = save_or_rescue(lambda p: save_model(model, p), out)
    if error is not None:
        print(
            f"napari-mcsc train: error: could not write {out} ({error.strerror or error}); "
            f"the trained model was saved to {path} instead",
            file=sys.stderr,
        )
        return 1
    print(f"model written to {path} ({model.trained_iterations} iterations in all)")
    if outcome.complete and checkpoint_file.is_file():
        checkpoint_file.unlink()  # the model is the run's result: nothing left to resume
    return 0


def _check_data_arguments(args) -> int | str | None:
    """Either --image/--labels or --data with --labelled; returns --labelled's value."""
    if args.data is None:
        if args.labelled is not None:
            raise UsageError("--labelled goes with --data DIR; with --image give each --labels file")
        if not args.image:
            raise UsageError(
                "give the training data: --image IMG --labels LAB (repeatable), "
                "or --data DIR with --labelled K|painted"
            )
        return None
    if args.image or args.labels:
        raise UsageError("give either --data DIR or --image/--labels, not both")
    if not args.labelled:
        raise UsageError(
            "--data needs --labelled: K (the first K training cases fully labelled) "
            "or painted (sparse label files)"
        )
    existing_path(args.data, "data folder")
    if args.labelled == "painted":
        return "painted"
    if not args.labelled.isdigit() or int(args.labelled) < 1:
        raise UsageError(
            f"--labelled must be a number of cases (1 or more) or 'painted', got {args.labelled!r}"
        )
    return int(args.labelled)


def _read_annotated(image_path: str, label_path: str, ignore_geometry: bool):
    """An image and its label file as an ``AnnotatedVolume``, both checked."""
    from napari_mcsc.data.labels import check_label_array
    from napari_mcsc.data.slices import AnnotatedVolume
    from napari_mcsc.io.geometry import geometry_mismatch
    from napari_mcsc.io.volumes import read_volume

    image = read_volume(existing_path(image_path, "image"))
    labels = read_volume(existing_path(label_path, "label file"))
    check_label_array(labels.array, label_path)
    if labels.shape == image.shape and not ignore_geometry:
        difference = geometry_mismatch(image.geometry, labels.geometry)
        if difference:
            raise UsageError(
                f"{label_path} does not lie on the grid of {image_path} ({difference}); "
                "resample the labels onto the image, or pass --ignore-geometry if the voxels "
                "do match and one header is wrong"
            )
    return AnnotatedVolume(image.array, labels.array, name=image.name)


def _unlabelled_paths(groups) -> list:
    from napari_mcsc.io.volumes import expand_volume_paths

    values = [v for group in groups for v in (group if isinstance(group, list) else [group])]
    try:
        return expand_volume_paths(values)
    except FileNotFoundError as exc:
        raise UsageError(f"--unlabelled {exc}") from exc


def _read_unlabelled(path: str):
    from napari_mcsc.data.slices import check_image_array
    from napari_mcsc.io.volumes import read_volume

    return check_image_array(read_volume(existing_path(path, "unlabelled image")).array, path)


def _normalisation(args, init):
    """The normalisation --ct-window asks for (None: the default; a fine-tuned model keeps its own)."""
    from napari_mcsc.data.normalise import Normalisation

    if not args.ct_window:
        return None
    if init is not None:
        raise UsageError("--ct-window cannot change the normalisation of a model being fine-tuned")
    low, high = args.ct_window
    if not low < high:
        raise UsageError(f"--ct-window LOW HIGH needs LOW < HIGH, got {low:g} {high:g}")
    return Normalisation(mode="ct", window=(low, high))
