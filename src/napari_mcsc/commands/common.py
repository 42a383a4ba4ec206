"""Pieces the commands share: checking paths, running a training job with a progress bar."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from napari_mcsc.commands.errors import UsageError
from napari_mcsc.commands.progress import ProgressLine
from napari_mcsc.jobs import TrainingJob, TrainingStarted
from napari_mcsc.model import SegmentationModel
from napari_mcsc.training import ProgressEvent, TrainConfig, Trainer
from napari_mcsc.training.config import DEFAULT_PROFILE, PROFILES
from napari_mcsc.training.methods import METHODS
from napari_mcsc.training.outcome import RunOutcome
from napari_mcsc.training.spec import profile_method as method_of_profile
from napari_mcsc.training.speed_memory import describe_run_length


def add_profile_argument(
    parser, *, extra: tuple[str, ...] = (), default: str = DEFAULT_PROFILE, help: str | None = None
) -> None:
    """``--profile``: one of the training profiles (plus ``extra`` choices)."""
    parser.add_argument("--profile", choices=[*sorted(PROFILES), *extra], default=default, help=help)


METHOD_HELP = (
    "mcsc: the full method (CNN + Swin-UNet, cross teaching, contrastive), ct: cross "
    "teaching only, sup: the CNN on painted slices only; default: the profile's "
    "method (" + ", ".join(f"{name}: {method_of_profile(name)}" for name in sorted(PROFILES)) + ")"
)


def add_method_argument(parser, help: str | None = None) -> None:
    """``--method``: None (the default) means the method of the profile in use; see
    ``profile_method``."""
    parser.add_argument("--method", choices=METHODS, default=None, help=help or METHOD_HELP)


def profile_method(method: str | None, profile_name: str) -> str:
    """The method a run uses: ``method`` when given, else the profile's."""
    return method or method_of_profile(profile_name)


def run_config_or_usage_error(choices):
    """``training.spec.run_config(choices)``, its refusal as a ``UsageError`` naming the
    command line's option (``--max-seconds``, ``--swin-weights``...)."""
    from napari_mcsc.training.spec import RunSpecError, run_config

    try:
        return run_config(choices)
    except RunSpecError as error:
        option = f"--{error.choice.replace('_', '-')}: " if error.choice else ""
        raise UsageError(f"{option}{error}") from error


def add_set_argument(parser) -> None:
    """``--set KEY=VALUE``: any other ``TrainConfig`` field, for tuning runs."""
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another training setting, e.g. --set crop_margin=0.5 or --set crop_margin=none "
        "(repeatable; values read as JSON, none for None)",
    )


def settings_from_args(args) -> dict:
    """The ``--set`` options as ``TrainConfig`` fields (``UsageError`` when malformed)."""
    import json

    settings = {}
    for item in getattr(args, "settings", None) or []:
        key, equals, text = item.partition("=")
        if not equals or not key:
            raise UsageError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            value = None if text.lower() == "none" else json.loads(text)
        except json.JSONDecodeError:
            value = text
        settings[key.strip()] = tuple(value) if isinstance(value, list) else value
    return settings


def add_target_arguments(parser) -> None:
    """How the two networks make each other's targets on unlabelled slices (ct and mcsc;
    training/teachers.py). The defaults are the paper's."""
    from napari_mcsc.training.teachers import TEACHERS

    g = parser.add_argument_group("targets on unlabelled slices (ct, mcsc)")
    g.add_argument(
        "--teacher",
        choices=TEACHERS,
        default=None,
        help="same_pass: the training pass's own argmax (the paper); no_grad: a separate "
        "eval-mode pass without gradient; ema: moving-average copies of both networks",
    )
    g.add_argument(
        "--pseudo-threshold",
        type=float,
        default=None,
        metavar="TAU",
        help="keep a target pixel only where the teacher's probability is at least TAU",
    )
    g.add_argument(
        "--agreement", action="store_true", default=None, help="keep only pixels where both networks agree"
    )
    g.add_argument(
        "--strong-view",
        action="store_true",
        default=None,
        help="the teacher labels a geometry-only view; the student learns on intensity "
        "jitter + blur + CutMix of it (needs --teacher no_grad or ema)",
    )


def target_overrides(args) -> dict:
    """The ``TrainConfig`` fields set by ``add_target_arguments``' options."""
    names = {
        "teacher": "teacher",
        "pseudo_threshold": "pseudo_threshold",
        "agreement": "pseudo_agreement",
        "strong_view": "strong_view",
    }
    return {field: getattr(args, arg) for arg, field in names.items() if getattr(args, arg, None) is not None}


def add_seed_argument(parser, *, default: int | None = TrainConfig.seed, help: str | None = None) -> None:
    parser.add_argument("--seed", type=int, default=default, help=help)


def add_consistent_argument(parser, *, default: bool | None = False) -> None:
    """``--consistent`` / ``--no-consistent``: the 3D-consistent mask (``postprocess``)."""
    parser.add_argument(
        "--consistent",
        action=argparse.BooleanOptionalAction,
        default=default,
        help="make each predicted structure one 3D piece without holes (stray islands removed, "
        "holes filled; painted voxels kept)",
    )


def add_learn_from_accepted_argument(parser) -> None:
    """``--learn-from-accepted`` / ``--no-learn-from-accepted``: a study's later rounds train on
    every slice of the masks accepted so far (``StudySettings.learn_from_accepted``)."""
    parser.add_argument(
        "--learn-from-accepted",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="later rounds also train on every slice of each accepted scan's mask (default: the "
        "study settings' default)",
    )


def add_scan_statistics_argument(parser, *, default: bool | None = None) -> None:
    """``--scan-statistics`` / ``--no-scan-statistics``: the CNN predicts a scan nobody painted
    with batch-norm statistics taken from that scan (``scan_statistics``); ``None``: the
    study settings' default (``StudySettings.scan_statistics``)."""
    parser.add_argument(
        "--scan-statistics",
        action=argparse.BooleanOptionalAction,
        default=default,
        help="predict each scan nobody painted with the CNN's batch-norm statistics taken from that "
        "scan's own slices (default: "
        + ("the study settings' default" if default is None else "on" if default else "off")
        + ")",
    )


def add_device_argument(parser) -> None:
    parser.add_argument(
        "--device",
        default="auto",
        help="cuda, cuda:N, mps, cpu or auto (CUDA, then MPS, then CPU); default auto",
    )


def add_geometry_argument(parser) -> None:
    parser.add_argument(
        "--ignore-geometry",
        action="store_true",
        help="accept volumes whose spacing, origin or direction differ (voxels are then "
        "matched by index, which is right only if the header of one of them is wrong)",
    )


def existing_path(value: str, what: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {value}")
    return path


def _nearest_existing(path: Path) -> Path:
    """``path`` itself or its closest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _check_can_create_in(path: Path, option: str, value: str) -> None:
    """Refuse when the folders above ``path`` cannot exist or cannot be written."""
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise UsageError(
            f"{option} {value} cannot be created: {base} is a file, not a folder; choose a path in a folder"
        )
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {value} cannot be written: no permission to write in {base}")


def check_output_file(value: str, option: str = "--out") -> Path:
    """The file an option names, checked *before* any work: it must be creatable.

    Refuses a folder, a path under a regular file, and a folder without write permission,
    so that hours of training are never lost to a typo in the output path.
    """
    path = Path(value).expanduser()
    if path.is_dir():
        raise UsageError(f"{option} {value} is a folder; give a file name, e.g. {path / 'model.pt'}")
    _check_can_create_in(path, option, value)
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {value} exists and cannot be overwritten (no permission)")
    return path


def output_folder(value: str, option: str = "--out") -> Path:
    """The folder an option names, created if needed; refuses a file or an unwritable place."""
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {value} is a file; give a folder for the outputs")
    _check_can_create_in(path / "x", option, value)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {value} cannot be created: {exc.strerror or exc}") from exc
    return path


def free_path(path: Path) -> Path:
    """``path``, or ``name-1.ext``, ``name-2.ext``, ... : the first that does not exist."""
    if not path.exists():
        return path
    stem, suffix = path.stem, path.suffix
    number = 1
    while (candidate := path.with_name(f"{stem}-{number}{suffix}")).exists():
        number += 1
    return candidate


def save_or_rescue(save, path: Path) -> tuple[Path, OSError | None]:
    """``save(path)``; if that fails, save under a free name next to it, in the current
    folder or in the temporary folder. Returns where it went and the first error (None
    when ``path`` itself worked); raises the first error only when every place failed.
    """
    try:
        return save(path), None
    except OSError as first:
        error = first
    for folder in (path.parent, Path.cwd(), Path(tempfile.gettempdir())):
        candidate = free_path(folder / f"{path.stem}-rescued{path.suffix}")
        try:
            return save(candidate), error
        except OSError:
            continue
    raise error


def run_training(
    job: TrainingJob,
    *,
    show_progress: bool = True,
    announce: Callable[[TrainingStarted, Trainer], str] | None = None,
    checkpoint=None,
) -> tuple[SegmentationModel, RunOutcome]:
    """Run ``job`` with a terminal progress bar; Ctrl-C ends early and keeps the model so far.

    ``announce(started, trainer)`` gives a line printed once the networks are built (so a
    bad weights file fails first), followed by the planned run length and the time it
    took here last time. A run that ended short of its iterations prints a warning line;
    the outcome says so too. ``checkpoint`` (``training.resume.Checkpointing``) writes
    one periodically and when the run is stopped. In a distributed job (one process of a
    torchrun job) only rank 0 prints. Ctrl-C, SIGTERM (a cluster's time limit) and SIGHUP
    (a closed terminal) stop the run cleanly after the current iteration, so the caller
    saves the model trained so far (a second Ctrl-C quits at once).
    """
    distributed = job.distributed
    main = distributed is None or distributed.is_main
    bar = ProgressLine() if show_progress and main else None
    event = None
    interrupted = False
    try:
        with contextlib.ExitStack() as signals:
            for item in job.run():
                if isinstance(item, TrainingStarted):
                    trainer = job.trainer
                    if announce and main:
                        print(
                            f"{announce(item, trainer)}; "
                            f"{describe_run_length(trainer.config, trainer.device.type)}",
                            file=sys.stderr,
                        )
                    signals.enter_context(stop_on_signals(job, quiet=not main))
                elif isinstance(item, ProgressEvent):
                    event = item
                    if bar:
                        bar.update(event)
                    if checkpoint is not None and checkpoint.due(event.iteration):
                        checkpoint.save(job.trainer, event.iteration)
    except KeyboardInterrupt:
        if job.trainer is None:
            raise  # still preparing: nothing trained to keep
        interrupted = True
        print("\nstopped by Ctrl-C: keeping the model trained so far", file=sys.stderr)
    finally:
        if bar and event is not None:
            bar.update(event, force=True)
            bar.close()
    trainer = job.trainer
    if trainer.model.trained_iterations == 0 or trainer.outcome is None or trainer.outcome.done == 0:
        raise UsageError("training stopped before the first iteration; nothing to save")
    outcome = trainer.outcome
    # A run that a Stop or the time cap ended between iterations can go on from here; one
    # that Ctrl-C broke mid-iteration goes on from its last periodic checkpoint.
    if checkpoint is not None and not outcome.complete and not interrupted:
        if checkpoint.last != outcome.done:
            checkpoint.save(trainer, outcome.done)
        if main:
            print(
                f"checkpoint at iteration {outcome.done} in {checkpoint.path}: rerun the same "
                "command with --resume to continue",
                file=sys.stderr,
            )
    warning = outcome.warning()
    if warning and main:
        print(f"warning: {warning}", file=sys.stderr)
    return trainer.model, outcome


@contextlib.contextmanager
def stop_on_signals(trainer, *, quiet: bool = False):
    """Ctrl-C (SIGINT), SIGTERM (SLURM's time limit, torchrun's shutdown) or SIGHUP (the
    terminal closed): ``trainer`` (a Trainer, job or study round: anything with
    ``request_stop``) stops after the current iteration. A second Ctrl-C, a second later or
    more, quits at once (KeyboardInterrupt); further SIGTERMs (torchrun forwards the one it
    got) change nothing.
    """
    import signal
    import time

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first: list[float] = []
    wanted = [signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])]
    previous = {sig: signal.getsignal(sig) for sig in wanted}

    def handler(signum, frame):
        now = time.monotonic()
        if first and signum == signal.SIGINT and now - first[0] > 1.0:
            raise KeyboardInterrupt
        if not first:
            first.append(now)
            trainer.request_stop()
            if not quiet:
                print("\nstopping after this iteration (Ctrl-C again to quit at once)", file=sys.stderr)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
