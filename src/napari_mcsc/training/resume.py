"""Resumable runs: a checkpoint that holds the whole run, not only the model.

A checkpoint is a model file (``checkpoint.save_model``) with a ``training_state``:
the optimisers (AdamW moments and step counts), the mixed-precision scaler, the
iteration reached (the schedules are functions of iteration / planned iterations, so
that is the schedule position), the position of each batch stream in its current
shuffled pass, and every random state the run draws from (the trainer's generator,
torch's global generator for drop-path, CUDA's, numpy's and Python's), one set per
process of a distributed run. A run resumed from it draws the same batches,
augmentations and samples as the uninterrupted run would have, and ends at the same
iteration. ``max_seconds`` caps each process's own run (each submission of a cluster
job gets its own time), it is not carried over.

Because it is a model file, ``load_model`` (the plugin, ``predict``, ``--init``) reads a
checkpoint as the model trained so far.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from napari_mcsc.checkpoint import CheckpointError, model_from_payload, read_payload, save_model
from napari_mcsc.model import SegmentationModel
from napari_mcsc.training.config import TrainConfig
from napari_mcsc.training.state import TrainState

STATE_VERSION = 1
# Settings that may differ between a run and its resumption: they do not change the result.
FREE_SETTINGS = ("device", "max_seconds", "preview_every_seconds", "swin_pretrained")


class ResumeError(ValueError):
    """A checkpoint cannot continue this run (other settings, data or process count)."""


@dataclass
class Resume:
    """A checkpoint read back: the model so far and its ``training_state``."""

    model: SegmentationModel
    state: dict
    path: Path

    @property
    def iteration(self) -> int:
        return int(self.state["iteration"])


def checkpoint_path(out: str | os.PathLike) -> Path:
    """Where a run writing its model to ``out`` keeps its checkpoint: MODEL.checkpoint.pt."""
    out = Path(out)
    suffix = out.suffix or ".pt"
    return out.with_name(f"{out.stem if out.suffix else out.name}.checkpoint{suffix}")


def load_resume(path: str | os.PathLike) -> Resume:
    """Read a checkpoint written by ``Checkpointing``; ``CheckpointError`` if it is not one."""
    path = Path(path)
    payload = read_payload(path, "cpu")
    state = payload.get("training_state")
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise CheckpointError(
            f"{path} holds a model but no training state to resume from; "
            "use it with --init to fine-tune it instead"
        )
    return Resume(model_from_payload(payload, path, "cpu"), state, path)


# ------------------------------------------------------------------ capture / restore
def _rank_state(trainer, iteration: int) -> dict:
    """This process's random states and stream positions (plain data and tensors)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "generator": trainer.generator.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
        "streams": [s.state_dict() for s in trainer.live.streams],
        "slices": [trainer.data.num_labelled, trainer.data.num_unlabelled],
    }
    if trainer.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(trainer.device)
    return state


def capture(trainer, iteration: int) -> dict:
    """The ``training_state`` of ``trainer`` after ``iteration`` iterations of its run.

    Call it at a yield of ``Trainer.run()`` (or after the run ended by Stop or time cap).
    In a distributed run every process must call it: the random states are gathered.
    """
    rank = _rank_state(trainer, iteration)
    ranks = trainer.distributed.gather(rank) if trainer.distributed is not None else [rank]
    carried = TrainState.capture(trainer)
    return {
        "version": STATE_VERSION,
        "iteration": int(iteration),
        "planned": int(trainer.config.iterations),
        "config": trainer.config.to_dict(),
        "optimizers": carried.optimizers,
        "scaler": carried.scaler,
        "ema": carried.ema,
        "average": _average_state(trainer),
        "schedule_start": int(trainer.schedule_start),
        "ranks": ranks,
        "processes": len(ranks),
    }


def _average_state(trainer) -> dict | None:
    """The run's averaged weights so far (``TrainConfig.average_weights``), or None. Kept
    here and not in ``TrainState``: a study's next round starts its own average."""
    if trainer.average is None:
        return None
    return {"weights": trainer.average.state_dict(), "updates": trainer.average.updates}


def model_history(trainer) -> list[dict]:
    """The history to store with a checkpoint: without the entry of the run itself,
    which ``run()`` appends when it ends (a resumed run appends its own)."""
    history = list(trainer.model.history)
    return history[:-1] if trainer.outcome is not None else history


def check_resume(trainer, resume: Resume) -> None:
    """Refuse (``ResumeError``) a checkpoint of another run: other settings, classes or
    process count. ``Trainer`` checks this when built, before any work."""
    state, cfg = resume.state, trainer.config.to_dict()
    # Read through TrainConfig: a setting added since the checkpoint takes its default.
    before = TrainConfig.from_dict(state["config"]).to_dict()
    changed = sorted(k for k in cfg if k not in FREE_SETTINGS and before.get(k) != cfg[k])
    if changed:
        details = ", ".join(f"{k} {before.get(k)!r} then, {cfg[k]!r} now" for k in changed[:4])
        raise ResumeError(
            f"{resume.path} was written by a run with other settings ({details}); resume with "
            "the same command line, or start a new run (with --init to start from its weights)"
        )
    model, old = trainer.model, resume.model
    if (old.mapping, old.normalisation, old.axis) != (model.mapping, model.normalisation, model.axis):
        raise ResumeError(
            f"{resume.path} was trained on other data (classes {list(old.mapping.values)}, "
            f"axis {old.axis}; now classes {list(model.mapping.values)}, axis {model.axis}); "
            "resume with the same images and label files"
        )
    processes = trainer.distributed.world_size if trainer.distributed is not None else 1
    if state["processes"] != processes:
        raise ResumeError(
            f"{resume.path} was written by a run of {state['processes']} process(es); resume it "
            f"with the same number (torchrun --nproc_per_node {state['processes']}), since each "
            f"process's random state and data shard is in it (this run has {processes})"
        )
    if not 0 <= resume.iteration <= trainer.config.iterations:
        raise ResumeError(
            f"{resume.path} is at iteration {resume.iteration}, beyond this run's {trainer.config.iterations}"
        )


def restore(trainer, resume: Resume) -> int:
    """Put the checkpointed run back into ``trainer`` (called by ``Trainer.run``); returns
    the iteration to continue from. Raises ``ResumeError`` when it is another run."""
    check_resume(trainer, resume)
    state = resume.state
    rank = state["ranks"][trainer.distributed.rank if trainer.distributed is not None else 0]
    if list(rank["slices"]) != [trainer.data.num_labelled, trainer.data.num_unlabelled]:
        raise ResumeError(
            f"{resume.path} was trained on {rank['slices'][0]} labelled and {rank['slices'][1]} "
            f"unlabelled slices, this run has {trainer.data.num_labelled} and "
            f"{trainer.data.num_unlabelled}; resume with the same images and label files"
        )
    model = trainer.model
    model.networks.load_state_dict(resume.model.networks.state_dict())
    model.trained_iterations = resume.model.trained_iterations
    model.history = list(resume.model.history)
    live = trainer.live
    if set(state["optimizers"]) != set(live.optimizers):
        raise ResumeError(
            f"{resume.path} holds optimisers {sorted(state['optimizers'])}, this run "
            f"has {sorted(live.optimizers)}"
        )
    carried = TrainState(
        position=int(state.get("schedule_start", 0)),
        optimizers=state["optimizers"],
        scaler=state["scaler"],
        ema=state.get("ema"),
    )
    try:
        carried.restore(trainer, strict=True)
    except ValueError as error:
        raise ResumeError(f"{resume.path}: {error}") from error
    if trainer.average is not None and state.get("average") is not None:
        trainer.average.load_state_dict(state["average"]["weights"])
        trainer.average.updates = int(state["average"]["updates"])
    for stream, saved in zip(live.streams, rank["streams"], strict=True):
        stream.load_state_dict(saved)
    trainer.generator.set_state(rank["generator"])
    torch.set_rng_state(rank["torch"])
    if "cuda" in rank and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(rank["cuda"], trainer.device)
    np_state = rank["numpy"]
    np.random.set_state(
        (
            "MT19937",
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["gauss"],
        )
    )
    py = rank["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    trainer.run_notes["resumed_at"] = resume.iteration
    return resume.iteration


# ------------------------------------------------------------------ periodic checkpoints
class Checkpointing:
    """Writes the run's checkpoint to ``path`` every ``every`` iterations (atomically: the
    file always holds a complete checkpoint). In a distributed run every process calls
    ``save`` (the random states are gathered) and only ``writer`` writes."""

    def __init__(self, path: str | os.PathLike, every: int, *, writer: bool = True) -> None:
        if every < 1:
            raise ValueError("checkpoints are written every 1 iteration or more")
        self.path = Path(path)
        self.every = every
        self.writer = writer
        self.last: int | None = None

    def due(self, iteration: int) -> bool:
        return iteration % self.every == 0 and iteration != self.last

    def save(self, trainer, iteration: int) -> None:
        state = capture(trainer, iteration)
        if self.writer:
            model = trainer.model
            history, model.history = model.history, model_history(trainer)
            try:
                save_model(model, self.path, training_state=state)
            finally:
                model.history = history
        self.last = iteration
