"""The ``napari-mcsc`` command line: demo, train, predict, evaluate, study, benchmark.

A user's mistake (missing file, shapes that differ, nothing painted, unknown device)
ends with exit status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings

from napari_mcsc import __version__
from napari_mcsc.commands.errors import UsageError

__all__ = ["USER_ERROR", "UsageError", "build_parser", "main"]

USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    from napari_mcsc.commands import benchmark, demo, evaluate, predict, study, train

    parser = argparse.ArgumentParser(
        prog="napari-mcsc",
        description="3D segmentation from a few painted slices: by default (fast profile) a CNN "
        "trained on them; MCSC semi-supervised training with --method mcsc or --profile paper.",
    )
    parser.add_argument("--version", action="version", version=f"napari-mcsc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (demo, train, predict, evaluate, study, benchmark):
        module.add_parser(sub)
    return parser


@contextlib.contextmanager
def _one_line_warnings(command: str):
    """Show a UserWarning as one line, ``napari-mcsc COMMAND: warning: ...``."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, UserWarning):
            text = " ".join(str(message).split())
            print(f"napari-mcsc {command}: warning: {text}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _user_errors() -> tuple[type[BaseException], ...]:
    from napari_mcsc.checkpoint import CheckpointError
    from napari_mcsc.data.slices import AnnotationError
    from napari_mcsc.devices import DeviceError
    from napari_mcsc.io.formats import VolumeReadError
    from napari_mcsc.networks.imagenet_weights import PretrainedWeightsError
    from napari_mcsc.training.resume import ResumeError

    return (
        UsageError,
        FileNotFoundError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
        VolumeReadError,
        AnnotationError,
        DeviceError,
        CheckpointError,
        PretrainedWeightsError,
        ResumeError,
    )


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the process exit status."""
    command = "napari-mcsc"
    try:  # Ctrl-C while the (slow) imports run is as much an interruption as later
        parser = build_parser()
        args = parser.parse_args(argv)
        command = f"napari-mcsc {args.command}"
        with _one_line_warnings(args.command):
            return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        print(f"{command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return USER_ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
