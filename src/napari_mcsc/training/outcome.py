"""How a training run ended, and what a user must be told when it ended short.

A profile's quality comes with its number of iterations. A run that a time cap, a Stop
or Ctrl-C ended earlier gives a model that may be far worse, so every front end (command
line, napari, benchmarks) reports the shortfall in the same words, from here.
"""

from __future__ import annotations

from dataclasses import dataclass

ENDED_BY = ("iterations", "time cap", "stop")


@dataclass(frozen=True)
class RunOutcome:
    """``planned`` iterations, ``done`` of them, ended by ``ended_by`` (one of ENDED_BY)."""

    planned: int
    done: int
    ended_by: str
    seconds: float
    seconds_per_iteration: float | None = None

    @property
    def complete(self) -> bool:
        return self.done >= self.planned

    def warning(self) -> str | None:
        """A plain-words warning for an incomplete run, or None when it completed."""
        if self.complete:
            return None
        why = {"time cap": "the time cap ended it", "stop": "it was stopped"}.get(self.ended_by, "it ended")
        speed = f" at {self.seconds_per_iteration:.2f} s/iteration" if self.seconds_per_iteration else ""
        return (
            f"training is incomplete: {why} after {self.done} of the {self.planned} iterations "
            f"the profile needs{speed}. The model may be much worse than usual: train again "
            "without a time cap (or a larger one), or retrain from this model to continue."
        )

    def to_dict(self) -> dict:
        """Plain fields for summary.json and the checkpoint's history."""
        return {
            "iterations": self.done,
            "planned_iterations": self.planned,
            "ended_by": self.ended_by,
            "complete": self.complete,
            "seconds": self.seconds,
            "seconds_per_iteration": self.seconds_per_iteration,
        }
