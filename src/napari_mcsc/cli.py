"""The ``napari-mcsc`` command line: demo, train, predict, evaluate, benchmark.

A user's mistake (missing file, shapes that differ, nothing painted, unknown device)
ends with exit status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from napari_mcsc import __version__

USER_ERROR = 2


class UsageError(ValueError):
    """A command was given arguments that cannot work; the message says why."""


def build_parser() -> argparse.ArgumentParser:
    from napari_mcsc.commands import benchmark, demo, evaluate, predict, train

    parser = argparse.ArgumentParser(
        prog="napari-mcsc",
        description="Semi-supervised 3D segmentation from a few painted slices (MCSC).",
    )
    parser.add_argument("--version", action="version", version=f"napari-mcsc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (demo, train, predict, evaluate, benchmark):
        module.add_parser(sub)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    from napari_mcsc.checkpoint import CheckpointError
    from napari_mcsc.data.slices import AnnotationError
    from napari_mcsc.devices import DeviceError
    from napari_mcsc.io import VolumeReadError
    from napari_mcsc.models.swin_unet import PretrainedWeightsError

    return (
        UsageError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
        VolumeReadError, AnnotationError, DeviceError, CheckpointError, PretrainedWeightsError,
    )


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except _user_errors() as exc:
        print(f"napari-mcsc {args.command}: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print(f"napari-mcsc {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
