"""``napari-mcsc predict``: segment volumes with a trained model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_mcsc.commands.common import (
    add_consistent_argument,
    add_device_argument,
    add_scan_statistics_argument,
    existing_path,
    output_folder,
)
from napari_mcsc.commands.errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="segment images with a trained model",
        description="Writes DIR/<name>_prediction.nii.gz (and <name>_uncertainty.nii.gz, "
        "<name>_prediction.dcm) with the geometry of each input, <name> being the input's file "
        "name without extension.",
    )
    p.add_argument("--model", required=True, metavar="MODEL.pt")
    p.add_argument(
        "--image", action="append", default=[], metavar="IMG", help="an image volume; repeat for more"
    )
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="DIR",
        help="every image of a folder or quoted glob; of a Medical Segmentation "
        "Decathlon folder, its imagesTs (or imagesTr). Rerun to resume: images whose "
        "outputs exist are skipped (see --overwrite)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="with --data: predict again images whose outputs already exist in --out",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument(
        "--uncertainty",
        action="store_true",
        help="also write the uncertainty map (ensemble predictive entropy, 0..1)",
    )
    p.add_argument(
        "--dicom-seg",
        action="store_true",
        help="also write <name>_prediction.dcm, a DICOM SEG referencing the input series "
        '(inputs must be DICOM series folders; needs highdicom: pip install "napari-mcsc[dicom]")',
    )
    p.add_argument(
        "--ensemble",
        action="store_true",
        help="average the CNN and Transformer (default: the CNN alone, as in the paper)",
    )
    add_consistent_argument(p)
    p.add_argument(
        "--flips",
        action="store_true",
        help="average the prediction over mirrored copies of each slice (3x the time)",
    )
    add_scan_statistics_argument(p, default=True)
    add_device_argument(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from napari_mcsc.checkpoint import load_model
    from napari_mcsc.data.folders import images_to_predict
    from napari_mcsc.devices import pick_device
    from napari_mcsc.inference import predict_volume
    from napari_mcsc.io.volumes import read_volume, write_volume

    if not args.image and not args.data:
        raise UsageError("give the images to segment: --image IMG (repeatable) or --data DIR")
    paths = [existing_path(p, "image") for p in args.image]
    given = list(args.image)
    for value in args.data:
        try:
            found = images_to_predict(value)
        except FileNotFoundError as exc:
            raise UsageError(f"--data {exc}") from exc
        paths += found
        given += [str(p) for p in found]
    names = _output_names(paths, given)
    if args.dicom_seg:
        _check_dicom_seg(paths, given)
    out = output_folder(args.out, "--out")
    device = pick_device(args.device)
    model = load_model(existing_path(args.model, "model"), device=device)
    from_data = len(args.image)  # --data images (a folder's worth) resume; --image ones are redone
    todo = [
        (path, name, shown)
        for index, (path, name, shown) in enumerate(zip(paths, names, given, strict=True))
        if index < from_data
        or args.overwrite
        or not _outputs_exist(out, name, args.uncertainty, args.dicom_seg)
    ]
    if len(todo) < len(paths):
        print(
            f"{len(paths) - len(todo)} of {len(paths)} images already predicted in {out}: skipped "
            "(--overwrite to predict them again)",
            file=sys.stderr,
        )
    for number, (path, name, given) in enumerate(todo, start=1):
        if len(todo) > 1:
            print(f"[{number}/{len(todo)}] {given}", file=sys.stderr)
        volume = read_volume(path)
        if volume.ndim != 3:
            raise UsageError(
                f"{given} is a {volume.ndim}-D image of shape {volume.shape}; predict segments "
                "3-D volumes: give a 3-D scan (for a 4-D series, export one 3-D frame first)"
            )
        pred = predict_volume(
            model,
            volume.array,
            ensemble=args.ensemble,
            uncertainty=args.uncertainty,
            device=device,
            consistent=args.consistent,
            flips=args.flips,
            scan_statistics=args.scan_statistics,
        )
        written = [write_volume(out / f"{name}_prediction.nii.gz", pred.labels, volume.geometry)]
        if args.uncertainty and pred.uncertainty is not None:
            written.append(
                write_volume(out / f"{name}_uncertainty.nii.gz", pred.uncertainty, volume.geometry)
            )
        if args.dicom_seg:
            from napari_mcsc.dicom_seg import DicomSegError, write_dicom_seg

            try:
                written.append(
                    write_dicom_seg(
                        out / f"{name}_prediction.dcm",
                        pred.labels,
                        path,
                        volume.geometry,
                        values=model.mapping.values,
                    )
                )
            except DicomSegError as exc:
                raise UsageError(f"{given}: cannot write a DICOM SEG: {exc}") from exc
        print("\n".join(str(w) for w in written))
    return 0


def _outputs_exist(out: Path, name: str, uncertainty: bool, dicom_seg: bool = False) -> bool:
    """Whether an earlier run wrote this image's outputs (files are written atomically,
    so one that exists is complete)."""
    wanted = [f"{name}_prediction.nii.gz"] + ([f"{name}_uncertainty.nii.gz"] if uncertainty else [])
    wanted += [f"{name}_prediction.dcm"] if dicom_seg else []
    return all((out / w).is_file() for w in wanted)


def _check_dicom_seg(paths: list[Path], given: list[str]) -> None:
    """Refuse --dicom-seg, before any work, for inputs that are not DICOM series folders
    (a SEG references the slices of the series it segments) or without highdicom."""
    from napari_mcsc.dicom_seg import require_highdicom
    from napari_mcsc.io.dicom import is_dicom_folder

    for path, shown in zip(paths, given, strict=True):
        if not (path.is_dir() and is_dicom_folder(path)):
            raise UsageError(
                f"--dicom-seg needs DICOM series folders as input, and {shown} is not one "
                "(a DICOM SEG references the series it segments); drop --dicom-seg for this input"
            )
    try:
        require_highdicom()
    except ModuleNotFoundError as exc:
        raise UsageError(str(exc)) from exc


def _output_names(paths: list[Path], given: list[str]) -> list[str]:
    """Each input's output name; refuse inputs that would overwrite each other's outputs.

    Names are compared ignoring case, as on the file systems of macOS and Windows.
    """
    from napari_mcsc.io.volumes import volume_name

    names = [volume_name(p) for p in paths]
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        key = name.casefold()
        if key in first:
            other = first[key]
            same = paths[other].resolve() == paths[index].resolve()
            raise UsageError(
                f"{given[other]} and {given[index]} "
                + ("are the same file" if same else f"both have the name {name!r}")
                + f", so both predictions would be written to {name}_prediction.nii.gz and the "
                "first would be lost; "
                + (
                    "give it once"
                    if same
                    else "rename one, or predict them in separate runs with different --out folders"
                )
            )
        first[key] = index
    return names
