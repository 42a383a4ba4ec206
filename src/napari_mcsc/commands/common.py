"""Pieces the commands share: reading inputs, running a training with a progress bar."""

from __future__ import annotations

import sys
from pathlib import Path

from napari_mcsc.cli import UsageError
from napari_mcsc.commands.progress import ProgressLine
from napari_mcsc.data.slices import SliceSet
from napari_mcsc.model import SegmentationModel
from napari_mcsc.training import TrainConfig, Trainer


def add_device_argument(parser) -> None:
    parser.add_argument("--device", default="auto",
                        help="cuda, cuda:N, mps, cpu or auto (CUDA, then MPS, then CPU); default auto")


def existing_path(value: str, what: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {value}")
    return path


def run_training(
    config: TrainConfig,
    data: SliceSet,
    *,
    init: SegmentationModel | None = None,
    show_progress: bool = True,
    announce: str | None = None,
) -> SegmentationModel:
    """Train with a terminal progress bar; Ctrl-C ends early and keeps the model so far.

    ``announce`` is printed once the networks are built (so a bad weights file fails first).
    """
    trainer = Trainer(config, data, init=init)
    if announce:
        print(announce, file=sys.stderr)
    bar = ProgressLine() if show_progress else None
    event = None
    try:
        for event in trainer.run():
            if bar:
                bar.update(event)
    except KeyboardInterrupt:
        print("\nstopped by Ctrl-C: keeping the model trained so far", file=sys.stderr)
    finally:
        if bar and event is not None:
            bar.update(event, force=True)
            bar.close()
    if trainer.model.trained_iterations == 0:
        raise UsageError("training stopped before the first iteration; nothing to save")
    return trainer.model
