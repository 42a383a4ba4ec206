"""A run's training state: the live objects it trains with (``LiveRun``) and what it
hands to the next run beyond the weights (``TrainState``): the optimisers' moments, the
mixed-precision scaler, the EMA teachers and the position in the schedules.

A study trains in rounds: each round fine-tunes the current model on everything painted
so far. Carrying this state makes the rounds one continuing training (no second warm-up,
no learning rate back at its peak, the cross-teaching ramp going on where it was) rather
than a string of restarts. A resumable checkpoint (``training.resume``) holds the same
state plus the random states and batch-stream positions of one run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from napari_mcsc.atomic import atomic_write

STATE_FORMAT = "napari-mcsc-train-state"


@dataclass
class LiveRun:
    """The objects a running ``Trainer`` trains with (``trainer.live``): one optimiser per
    network the method trains, the mixed-precision scaler, the batch streams (supervised
    warm-up, then the main one), the EMA teachers if any, and the autocast type (None:
    full precision)."""

    optimizers: dict[str, torch.optim.Optimizer]
    scaler: torch.amp.GradScaler
    streams: tuple[Any, ...]
    ema: Any = None
    amp_dtype: torch.dtype | None = None


@dataclass
class TrainState:
    """``position``: iterations done on the schedules so far; ``optimizers``: state dicts
    by name (cnn, swin, projector); ``scaler``, ``ema``: state dicts or empty/None."""

    position: int = 0
    optimizers: dict[str, dict] = field(default_factory=dict)
    scaler: dict = field(default_factory=dict)
    ema: dict | None = None

    @classmethod
    def capture(cls, trainer) -> TrainState:
        """The state of ``trainer`` now (at a yield of its run, or after it)."""
        live = trainer.live
        return cls(
            position=int(trainer.schedule_position),
            optimizers={name: opt.state_dict() for name, opt in live.optimizers.items()},
            scaler=live.scaler.state_dict(),
            ema=live.ema.state_dict() if live.ema is not None else None,
        )

    def restore(self, trainer, *, strict: bool = False) -> list[str]:
        """Load into ``trainer``'s live run (called by ``Trainer.run``). An optimiser whose
        parameters changed shape (a class was added) starts afresh, unless ``strict``
        (a resumed run: then it is an error). Returns the names that started afresh."""
        live, fresh = trainer.live, []
        for name, opt in live.optimizers.items():
            saved = self.optimizers.get(name)
            if saved is not None and _fits(opt, saved):
                opt.load_state_dict(saved)
            elif strict:
                raise ValueError(f"the saved state of the {name} optimiser does not fit this run's networks")
            else:
                fresh.append(name)
        if self.scaler:
            live.scaler.load_state_dict(self.scaler)
        if live.ema is not None and self.ema is not None:
            live.ema.load_state_dict(self.ema)
        trainer.schedule_start = self.position
        return fresh

    def to_dict(self) -> dict:
        return {
            "position": self.position,
            "optimizers": self.optimizers,
            "scaler": self.scaler,
            "ema": self.ema,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TrainState:
        return cls(
            position=int(data.get("position", 0)),
            optimizers=dict(data.get("optimizers") or {}),
            scaler=dict(data.get("scaler") or {}),
            ema=data.get("ema"),
        )

    def save(self, path: str | os.PathLike) -> Path:
        payload = {"format": STATE_FORMAT, **self.to_dict()}
        return atomic_write(path, lambda tmp: torch.save(payload, tmp))

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainState:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
            raise ValueError(f"{path} is not a napari-mcsc training state")
        return cls.from_dict(payload)


def _fits(optimizer: torch.optim.Optimizer, saved: dict) -> bool:
    """Whether ``saved`` (a state dict) was made for parameters of these shapes."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    groups = saved.get("param_groups", [])
    if sum(len(g["params"]) for g in groups) != len(params):
        return False
    for index, state in saved.get("state", {}).items():
        moment = state.get("exp_avg")
        if moment is not None and tuple(moment.shape) != tuple(params[int(index)].shape):
            return False
    return True
