"""``napari-mcsc study``: a study of many scans from the command line.

The same session folder as the widget's study panel: a study started in napari can be
trained, predicted and exported on a server, and opened again in napari.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from napari_mcsc.commands.common import (
    add_consistent_argument,
    add_device_argument,
    add_learn_from_accepted_argument,
    add_method_argument,
    add_profile_argument,
    add_scan_statistics_argument,
    add_seed_argument,
    add_target_arguments,
    output_folder,
    target_overrides,
)
from napari_mcsc.commands.errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "study",
        help="annotate a study: many scans, one model carried across them",
        description="A study folder holds the scans' painted slices, predictions, the model and "
        "its training state; every command saves it, so it can be stopped at any time.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    c = actions.add_parser("create", help="start a study over scans (files, folders, globs)")
    c.add_argument("folder", metavar="STUDY")
    c.add_argument("--scans", nargs="+", required=True, metavar="PATH")
    add_profile_argument(c)
    add_method_argument(c)
    c.add_argument("--axis", type=int, default=0, choices=(0, 1, 2))
    c.add_argument("--round-iterations", type=int, metavar="N", help="length of every round after the first")
    c.add_argument("--first-round-iterations", type=int, metavar="N", help="default: the profile's")
    add_consistent_argument(c, default=None)
    add_learn_from_accepted_argument(c)
    add_scan_statistics_argument(c)
    add_seed_argument(c)
    add_target_arguments(c)
    c.set_defaults(handler=run_create)

    a = actions.add_parser(
        "paint", help="import a scan's painted slices from a label file (it becomes the current scan)"
    )
    a.add_argument("folder", metavar="STUDY")
    a.add_argument("--scan", required=True, metavar="NAME")
    a.add_argument(
        "--labels", required=True, metavar="FILE", help="same grid as the scan; unpainted slices 0"
    )
    a.add_argument("--reviewed", type=int, nargs="*", default=[], metavar="I", help="all-background slices")
    a.set_defaults(handler=run_paint)

    r = actions.add_parser("round", help="train one round on everything painted so far")
    r.add_argument("folder", metavar="STUDY")
    r.add_argument("--iterations", type=int, metavar="N", help="this round's length (default: the study's)")
    r.add_argument(
        "--predict",
        nargs="*",
        metavar="NAME",
        help="scans to predict after the round (default: the painted scans and the next one)",
    )
    add_device_argument(r)
    r.set_defaults(handler=run_round)

    q = actions.add_parser("predict", help="predict scans with the study's model")
    q.add_argument("folder", metavar="STUDY")
    q.add_argument("--scans", nargs="*", metavar="NAME", help="default: every scan not accepted")
    add_device_argument(q)
    q.set_defaults(handler=run_predict)

    s = actions.add_parser("status", help="the scans, their states and what to paint next")
    s.add_argument("folder", metavar="STUDY")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(handler=run_status)

    x = actions.add_parser("accept", help="mark a scan done and write its mask")
    x.add_argument("folder", metavar="STUDY")
    x.add_argument("--scan", required=True, metavar="NAME")
    x.set_defaults(handler=run_accept)

    e = actions.add_parser("export", help="write every scan's mask in its geometry")
    e.add_argument("folder", metavar="STUDY")
    e.add_argument("--out", required=True, metavar="DIR")
    e.add_argument("--format", default=".nii.gz", choices=(".nii.gz", ".nrrd", ".mha"))
    e.set_defaults(handler=run_export)


def _open(folder: str):
    from napari_mcsc.study import Study, StudyError

    try:
        return Study.open(folder)
    except StudyError as error:
        raise UsageError(str(error)) from error


def _study_errors(action):
    """Run ``action()``; a StudyError is the user's to fix (exit status 2, one line)."""
    from napari_mcsc.study import StudyError

    try:
        return action()
    except StudyError as error:
        raise UsageError(str(error)) from error


def run_create(args: argparse.Namespace) -> int:
    from napari_mcsc.study import Study, StudySettings

    values = {
        "profile": args.profile,
        "method": args.method,
        "axis": args.axis,
        "seed": args.seed,
        "training": target_overrides(args),
    }
    if args.consistent is not None:
        values["consistent_mask"] = args.consistent
    if args.learn_from_accepted is not None:
        values["learn_from_accepted"] = args.learn_from_accepted
    if args.scan_statistics is not None:
        values["scan_statistics"] = args.scan_statistics
    if args.round_iterations is not None:
        values["round_iterations"] = args.round_iterations
    if args.first_round_iterations is not None:
        values["first_round_iterations"] = args.first_round_iterations
    try:
        settings = StudySettings(**values)
    except ValueError as error:
        raise UsageError(str(error)) from error
    study = _study_errors(lambda: Study.create(args.folder, args.scans, settings))
    print(f"study of {len(study.scans)} scans in {study.folder}: {', '.join(study.names)}")
    return 0


def run_paint(args: argparse.Namespace) -> int:
    from napari_mcsc.io.volumes import read_volume

    study = _open(args.folder)
    labels = read_volume(args.labels).array
    image_shape = _study_errors(lambda: study.read_image(args.scan)).shape
    if labels.shape != image_shape:
        raise UsageError(f"{args.labels} has shape {labels.shape}, scan {args.scan} has {image_shape}")
    study.current = args.scan  # the scan being corrected: the next round's focus
    record = study.set_labels(args.scan, labels, args.reviewed)
    print(f"{args.scan}: {len(record.painted)} painted, {len(record.reviewed)} reviewed slices")
    return 0


def run_round(args: argparse.Namespace) -> int:
    from napari_mcsc.commands.common import stop_on_signals
    from napari_mcsc.commands.progress import ProgressLine
    from napari_mcsc.jobs import Status
    from napari_mcsc.study import StudyRound, next_scan
    from napari_mcsc.training.events import ProgressEvent

    study = _open(args.folder)
    study.settings.device = None if args.device == "auto" else args.device
    painted = study.annotated_scans()
    if args.predict is None:
        upcoming = next_scan(study, painted[-1] if painted else None)
        predict = [*painted, *([upcoming] if upcoming and upcoming not in painted else [])]
    else:
        predict = args.predict
    for name in predict:
        _study_errors(lambda name=name: study.scan(name))
    round_ = StudyRound(study, predict=predict, iterations=args.iterations)
    if painted:
        print(round_.describe(), file=sys.stderr, flush=True)
    bar, event = ProgressLine(), None
    with stop_on_signals(round_):
        generator = round_.run()
        try:
            while True:
                item = _study_errors(lambda: next(generator))
                if isinstance(item, ProgressEvent):
                    event = item
                    bar.update(event)
                elif isinstance(item, Status):
                    print(item.text, file=sys.stderr, flush=True)
        except StopIteration as done:
            result = done.value
    if event is not None:
        bar.update(event, force=True)
    bar.close()
    ended = "" if result.outcome is None or result.outcome.complete else f" ({result.outcome.warning()})"
    print(
        f"round {result.index}: {result.iterations} iterations in {result.seconds:.0f} s{ended}; "
        f"predicted {', '.join(result.predicted) or 'nothing'}"
    )
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from napari_mcsc.constants import ScanState
    from napari_mcsc.study import predict_scans

    study = _open(args.folder)
    names = args.scans or [s.name for s in study.scans if s.state != ScanState.ACCEPTED]
    _study_errors(lambda: list(predict_scans(study, names)))
    print(f"predicted {len(names)} scan(s)")
    return 0


def status_of(study) -> dict:
    """The study's scans and the next slices to paint, as plain data."""
    from napari_mcsc.study import suggestions

    return {
        "folder": str(study.folder),
        "rounds": len(study.rounds),
        "current": study.current,
        "scans": [
            {
                "name": s.name,
                "state": s.state.value,
                "painted_slices": len(s.painted),
                "reviewed_slices": len(s.reviewed),
                "uncertainty": s.uncertainty,
            }
            for s in study.scans
        ],
        "next_slices": [
            {"scan": s.scan, "slice": s.slice, "score": round(s.score, 4), "came_or_went": s.changed}
            for s in suggestions(study, 5)
        ],
    }


def run_status(args: argparse.Namespace) -> int:
    status = status_of(_open(args.folder))
    if args.json:
        print(json.dumps(status, indent=1))
        return 0
    print(f"{status['folder']}: {len(status['scans'])} scans, {status['rounds']} rounds trained")
    for scan in status["scans"]:
        unc = "-" if scan["uncertainty"] is None else f"{scan['uncertainty']:.3f}"
        print(
            f"  {scan['name']:<28} {scan['state']:<10} painted {scan['painted_slices']:>3}  uncertainty {unc}"
        )
    if status["next_slices"]:
        why = {True: " (a structure came or went)", False: ""}
        slices = [f"{s['scan']} slice {s['slice']}{why[s['came_or_went']]}" for s in status["next_slices"]]
        print("paint next: " + ", ".join(slices))
    return 0


def run_accept(args: argparse.Namespace) -> int:
    study = _open(args.folder)
    path = _study_errors(lambda: study.accept(args.scan))
    print(f"{args.scan} accepted; mask written to {path}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from napari_mcsc.io.volumes import write_volume

    study = _open(args.folder)
    out = output_folder(args.out)
    written, skipped = 0, []
    for record in study.scans:
        if study.prediction(record.name) is None and study.labels(record.name) is None:
            skipped.append(record.name)
            continue
        mask = study.mask(record.name)
        geometry = study.read_image(record.name).geometry
        write_volume(Path(out) / f"{record.name}_mask{args.format}", mask, geometry)
        written += 1
    print(f"{written} mask(s) written to {out}")
    if skipped:
        print(f"not predicted yet, no mask: {', '.join(skipped)}", file=sys.stderr)
    return 0
