"""``napari-mcsc benchmark``: accuracy on real data, speed and memory, UI responsiveness."""

from __future__ import annotations

import argparse
import json
import shutil
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
    add_set_argument,
    add_target_arguments,
    profile_method,
    settings_from_args,
    target_overrides,
)
from napari_mcsc.commands.errors import UsageError
from napari_mcsc.training.config import DEFAULT_PROFILE, PROFILES


def add_parser(sub) -> None:
    p = sub.add_parser("benchmark", help="benchmarks on real data, speed/memory and UI latency")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True

    a = kinds.add_parser("acdc", help="the semi-supervised protocol: first K patients labelled")
    a.add_argument("--data", required=True, metavar="DIR", help="MSD-style folder with splits.json")
    a.add_argument("--split", default="val", help="split to evaluate on (val or test)")
    a.add_argument("--labelled-patients", type=int, default=7, metavar="K")
    add_method_argument(a)
    add_profile_argument(a)
    a.add_argument("--iterations", type=int)
    a.add_argument("--max-seconds", type=float)
    add_seed_argument(a)
    a.add_argument("--limit", type=int, help="evaluate only the first N volumes of the split")
    a.add_argument(
        "--select",
        choices=("last", "best"),
        default="last",
        help="keep the last iteration, or the best by validation Dice on the split's "
        "volumes after --limit (never the scored ones)",
    )
    a.add_argument("--validate-every", type=int, default=200, metavar="N")
    _add_curve_argument(a)
    add_target_arguments(a)
    add_device_argument(a)
    a.add_argument(
        "--out",
        required=True,
        metavar="FILE.json",
        help="the results; partial results go to FILE.jsonl as they come (curve points, "
        "losses and pseudo-label figures every 100 iterations)",
    )
    a.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="write FILE.checkpoint.pt every N iterations, to continue with --resume",
    )
    a.add_argument("--resume", action="store_true", help="continue from FILE.checkpoint.pt if there is one")
    a.set_defaults(handler=run_acdc)

    i = kinds.add_parser("interactive", help="paint K slices per volume, train, score the rest")
    i.add_argument("--data", required=True, metavar="DIR")
    i.add_argument("--split", default="val")
    i.add_argument("--painted", type=int, default=2, metavar="K")
    i.add_argument("--iterations", type=int, help="run length (default: the profile's)")
    i.add_argument("--max-seconds", type=float, metavar="S", help="optional time cap per volume")
    add_method_argument(i)
    add_profile_argument(i)
    i.add_argument("--limit", type=int, help="only the first N volumes (after --every)")
    i.add_argument("--every", type=int, default=1, help="take every N-th volume of the split")
    i.add_argument("--offset", type=int, default=0, help="start at this volume of the split")
    i.add_argument("--cases", nargs="+", metavar="NAME", help="only these volumes of the split")
    i.add_argument(
        "--unlabelled-volumes",
        type=int,
        default=0,
        help="also use this many other volumes of the split as unlabelled data",
    )
    i.add_argument(
        "--classes",
        type=int,
        nargs="+",
        metavar="C",
        help="keep only these label values (e.g. 3: ACDC's LV alone)",
    )
    _add_curve_argument(i)
    i.add_argument(
        "--models",
        metavar="DIR",
        help="save each volume's trained model as DIR/CASE.pt (to score prediction options later)",
    )
    add_seed_argument(i)
    add_device_argument(i)
    add_target_arguments(i)
    add_set_argument(i)
    i.add_argument("--out", required=True, metavar="FILE.json")
    i.set_defaults(handler=run_interactive)

    lp = kinds.add_parser("loop", help="the correction loop: paint, train, correct the next slice, retrain")
    lp.add_argument("--data", required=True, metavar="DIR")
    lp.add_argument("--split", default="val")
    lp.add_argument("--painted", type=int, default=2, metavar="K", help="slices painted at first")
    lp.add_argument("--rounds", type=int, default=3, metavar="R", help="correction rounds")
    lp.add_argument("--iterations", type=int, help="first training (default: the profile's)")
    lp.add_argument("--retrain-iterations", type=int, help="each fine-tuning (default: half)")
    add_method_argument(lp)
    lp.add_argument("--limit", type=int)
    lp.add_argument("--every", type=int, default=1)
    lp.add_argument("--offset", type=int, default=0)
    lp.add_argument("--cases", nargs="+", metavar="NAME", help="only these cases of the split")
    lp.add_argument(
        "--choosers",
        nargs="+",
        choices=("uncertain", "scores", "largest_gap", "gap"),
        default=["uncertain", "largest_gap", "gap"],
        help="how each round's slice is chosen, the first training shared (default: uncertain, "
        "largest_gap, gap; scores: the uncertain ranking without the slices where a structure "
        "came or went first)",
    )
    add_seed_argument(lp)
    add_device_argument(lp)
    lp.add_argument("--out", required=True, metavar="FILE.json")
    lp.set_defaults(handler=run_loop)

    st = kinds.add_parser("study", help="a simulated annotator through a study: painted slices per scan")
    st.add_argument("--data", required=True, metavar="DIR")
    st.add_argument("--split", default="val")
    st.add_argument("--limit", type=int, help="only the first N scans (after --every)")
    st.add_argument("--every", type=int, default=1, help="take every N-th scan of the split")
    st.add_argument("--offset", type=int, default=0, help="start at this scan of the split")
    st.add_argument("--classes", type=int, nargs="+", metavar="C", help="keep only these label values")
    st.add_argument("--target", type=float, default=0.85, help="Dice on the unpainted slices to reach")
    st.add_argument("--max-slices", type=int, default=8, help="slices painted at most per scan")
    st.add_argument(
        "--arms",
        nargs="+",
        default=["sup:on:uncertain", "sup:on:even", "sup:off", "interp"],
        metavar="ARM",
        help="interp, or METHOD[:on|off[:uncertain|even|gap]] (carry-over on/off, slice choice); "
        "the first is the study's default",
    )
    st.add_argument("--round-iterations", type=int, metavar="N")
    st.add_argument("--first-round-iterations", type=int, metavar="N")
    st.add_argument("--lr-floor", type=float)
    add_consistent_argument(st, default=None)
    add_learn_from_accepted_argument(st)
    add_scan_statistics_argument(st)
    add_seed_argument(st)
    add_device_argument(st)
    add_target_arguments(st)
    add_set_argument(st)
    st.add_argument(
        "--out",
        required=True,
        metavar="FILE.json",
        help="also FILE.png (painted slices per scan) and FILE.jsonl (each scan's row as it "
        "comes); the run's studies and progress are kept in FILE.work/ until it ends",
    )
    st.add_argument(
        "--resume",
        action="store_true",
        help="continue the run that FILE.work/ holds (after a kill: rerun the same command "
        "line with --resume); it restarts the round that was cut",
    )
    st.set_defaults(handler=run_study)

    s = kinds.add_parser("speed", help="train-step time and memory, contrastive loss, inference")
    add_device_argument(s)
    add_profile_argument(s, extra=("both",), default="both")
    s.add_argument("--out", required=True, metavar="FILE.json")
    s.set_defaults(handler=run_speed)

    u = kinds.add_parser("ui", help="event-loop latency while the widget trains")
    u.add_argument("--seconds", type=float, default=30.0)
    u.add_argument("--out", required=True, metavar="FILE.json")
    u.set_defaults(handler=run_ui)


def _add_curve_argument(parser) -> None:
    parser.add_argument(
        "--curve-at",
        type=int,
        nargs="+",
        default=[],
        metavar="IT",
        help="also score the CNN on the scored volumes at these iterations during the run "
        "(a curve; never used to choose)",
    )


def _write(result: dict, out: str, quiet: bool = False) -> None:
    from napari_mcsc.metrics import nan_to_none

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nan_to_none(result), indent=2))
    if not quiet:
        print(f"results written to {path}")


def _log(message) -> None:
    print(message, file=sys.stderr, flush=True)


def _check_data(path: str) -> None:
    if not (Path(path) / "splits.json").is_file():
        raise UsageError(f"{path} has no splits.json: give an MSD-style folder like shared/data/acdc")


def run_acdc(args: argparse.Namespace) -> int:
    from napari_mcsc.evaluation.protocol import RunInterrupted, run_protocol, summarise

    _check_data(args.data)
    checkpoint = Path(args.out).with_suffix(".checkpoint.pt")
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every must be at least 1 iteration, got {args.checkpoint_every}")
    try:
        result = _run_protocol(args, run_protocol, checkpoint)
    except RunInterrupted as stopped:
        print(str(stopped), file=sys.stderr)
        return 1
    print(summarise(result))
    _write(result, args.out)
    checkpoint.unlink(missing_ok=True)  # complete: nothing left to resume
    return 0


def _run_protocol(args, run_protocol, checkpoint_file):
    """``run_protocol`` with the options of ``benchmark acdc``; SIGTERM stops it as Ctrl-C."""
    from napari_mcsc.commands.common import stop_on_signals

    return run_protocol(
        args.data,
        split=args.split,
        labelled_patients=args.labelled_patients,
        method=profile_method(args.method, args.profile),
        profile_name=args.profile,
        iterations=args.iterations,
        max_seconds=args.max_seconds,
        seed=args.seed,
        limit=args.limit,
        device=args.device,
        select=args.select,
        validate_every=args.validate_every,
        curve_at=args.curve_at,
        log=_log,
        progress_file=Path(args.out).with_suffix(".jsonl"),
        checkpoint_every=args.checkpoint_every,
        checkpoint_file=checkpoint_file,
        resume=args.resume,
        on_job=lambda job: stop_on_signals(job),
        **target_overrides(args),
    )


def run_interactive(args: argparse.Namespace) -> int:
    from napari_mcsc.data.decathlon import select_cases
    from napari_mcsc.evaluation.interactive import run_interactive as run

    _check_data(args.data)
    try:
        select_cases(args.data, args.split, cases=args.cases)
    except ValueError as error:
        raise UsageError(str(error)) from error
    result = run(
        args.data,
        split=args.split,
        painted=args.painted,
        iterations=args.iterations,
        max_seconds=args.max_seconds,
        limit=args.limit,
        every=args.every,
        offset=args.offset,
        cases=args.cases,
        device=args.device,
        method=profile_method(args.method, args.profile),
        profile_name=args.profile,
        unlabelled_volumes=args.unlabelled_volumes,
        classes=args.classes,
        curve_at=args.curve_at,
        models_dir=args.models,
        seed=args.seed,
        log=_log,
        on_volume=lambda partial: _write(partial, args.out, quiet=True),
        **target_overrides(args),
        **settings_from_args(args),
    )
    line = (
        f"{result['method']} K={args.painted}: mean Dice {result['dice_mean']:.3f} (CNN)"
        + (f", {result['ensemble_dice_mean']:.3f} (ensemble)" if "ensemble_dice_mean" in result else "")
        + f" on {result['n_volumes']} volumes"
    )
    if "interp_dice_mean" in result:
        line += f"; contour interpolation {result['interp_dice_mean']:.3f}"
    print(line)
    _write(result, args.out)
    return 0


def run_loop(args: argparse.Namespace) -> int:
    from napari_mcsc.evaluation.loop import CHOOSERS
    from napari_mcsc.evaluation.loop import run_loop as run

    _check_data(args.data)
    if args.rounds < 0 or args.painted < 1:
        raise UsageError("--rounds must be >= 0 and --painted >= 1")
    result = run(
        args.data,
        split=args.split,
        painted=args.painted,
        rounds=args.rounds,
        iterations=args.iterations,
        retrain_iterations=args.retrain_iterations,
        limit=args.limit,
        every=args.every,
        offset=args.offset,
        cases=args.cases,
        device=args.device,
        method=profile_method(args.method, DEFAULT_PROFILE),
        profile_name=DEFAULT_PROFILE,
        seed=args.seed,
        choosers=args.choosers,
        log=_log,
        on_volume=lambda partial: _write(partial, args.out, quiet=True),
    )
    for arm in (*CHOOSERS, "interp"):
        if f"{arm}_dice_by_round" in result:
            print(f"{arm:12s} Dice by round: " + " ".join(f"{v:.3f}" for v in result[f"{arm}_dice_by_round"]))
    _write(result, args.out)
    return 0


def run_study(args: argparse.Namespace) -> int:
    from napari_mcsc.evaluation.progress_lines import ProgressLines
    from napari_mcsc.evaluation.study import Arm, run_study_benchmark
    from napari_mcsc.evaluation.walk_state import WalkStateError
    from napari_mcsc.study import StudySettings

    _check_data(args.data)
    try:
        arms = [Arm.parse(text) for text in args.arms]
        values = {"seed": args.seed, "device": None if args.device == "auto" else args.device}
        for name in ("round_iterations", "first_round_iterations", "lr_floor"):
            if getattr(args, name) is not None:
                values[name] = getattr(args, name)
        if args.consistent is not None:
            values["consistent_mask"] = args.consistent
        if args.learn_from_accepted is not None:
            values["learn_from_accepted"] = args.learn_from_accepted
        if args.scan_statistics is not None:
            values["scan_statistics"] = args.scan_statistics
        values["training"] = {**target_overrides(args), **settings_from_args(args)}
        settings = StudySettings(**values)
    except ValueError as error:
        raise UsageError(str(error)) from error
    work = Path(args.out).with_suffix(".work")
    rows = ProgressLines(Path(args.out).with_suffix(".jsonl"), fresh=not args.resume)
    try:
        result = run_study_benchmark(
            args.data,
            arms,
            split=args.split,
            limit=args.limit,
            every=args.every,
            offset=args.offset,
            classes=args.classes,
            target=args.target,
            max_slices=args.max_slices,
            settings=settings,
            work=work,
            resume=args.resume,
            log=_log,
            on_scan=lambda partial: _write(partial, args.out, quiet=True),
            on_row=lambda arm, row: rows.write({"arm": arm, **row}),
        )
    except WalkStateError as error:
        raise UsageError(str(error)) from error
    shutil.rmtree(work)  # complete: nothing left to resume
    for arm in result["arms"]:
        print(
            f"{arm['label']}: {arm.get('total_painted_slices', 0)} painted slices "
            f"for {len(arm['scans'])} scans"
        )
    _write(result, args.out)
    _plot_study(result, Path(args.out).with_suffix(".png"))
    return 0


def _plot_study(result: dict, path: Path) -> None:
    """The study's plot, when matplotlib (the benchmark extra) is there."""
    from napari_mcsc.evaluation.study import plot_painted_slices

    try:
        plot_painted_slices(
            result["arms"], path, f"Slices painted to reach Dice {result['target']} on each scan"
        )
    except ImportError:
        _log("matplotlib is not installed (pip install napari-mcsc[benchmark]): no plot")
        return
    _log(f"plot written to {path}")


def run_speed(args: argparse.Namespace) -> int:
    from napari_mcsc.evaluation.speed import run_speed as run

    profiles = tuple(sorted(PROFILES)) if args.profile == "both" else (args.profile,)
    result = run(device=args.device, log=_log, profiles=profiles)
    print(json.dumps(result["mcsc_over_ct"]))
    _write(result, args.out)
    return 0


def run_ui(args: argparse.Namespace) -> int:
    from napari_mcsc.evaluation.ui import run_ui as run

    result = run(seconds=args.seconds, log=_log)
    print(json.dumps(result["lateness_ms"]))
    _write(result, args.out)
    return 0
