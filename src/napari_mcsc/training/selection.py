"""Model selection by validation: keep the best evaluation, not the last iteration.

The paper evaluates every 200 iterations on the validation volumes and keeps the
checkpoint with the best mean Dice (method.md §6). ``BestCheckpoint`` holds a scoring
function (any callable that returns a number, higher is better), when to call it, and
the best networks' weights seen so far, which the trainer restores at the end.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from napari_mcsc.model import SegmentationModel


class BestCheckpoint:
    """Scores the model every ``every`` iterations (and at the last) and keeps the best."""

    def __init__(self, score: Callable[[SegmentationModel], float], every: int, start: int = 0) -> None:
        if every < 1:
            raise ValueError("validation must run every 1 iteration or more")
        self.score = score
        self.every = every
        self.start = start
        self.best_score = float("-inf")
        self.best_iteration: int | None = None
        self.scores: list[tuple[int, float]] = []
        self._best_state: dict | None = None

    def due(self, iteration: int, planned: int) -> bool:
        return iteration >= self.start and (iteration % self.every == 0 or iteration == planned)

    def evaluate(self, model: SegmentationModel, iteration: int) -> float:
        model.networks.eval()
        value = float(self.score(model))
        self.scores.append((iteration, value))
        if value > self.best_score:
            self.best_score, self.best_iteration = value, iteration
            self._best_state = copy.deepcopy(model.networks.state_dict())
        return value

    def restore_best(self, model: SegmentationModel) -> None:
        """Put the best weights back into ``model`` (nothing when never evaluated)."""
        if self._best_state is not None:
            model.networks.load_state_dict(self._best_state)

    def summary(self) -> dict:
        return {
            "rule": "best validation",
            "best_iteration": self.best_iteration,
            "best_score": self.best_score if self.scores else None,
            "scores": [[i, round(v, 4)] for i, v in self.scores],
        }
