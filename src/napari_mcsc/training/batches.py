"""Two-stream batches: labelled slices first, then unlabelled (method.md §2.3)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class CyclingIndex:
    """Endless shuffled passes over ``range(n)``, reshuffled after each pass."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n = n
        self.generator = generator
        self._order: list[int] = []

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k and self.n > 0:
            if not self._order:
                self._order = torch.randperm(self.n, generator=self.generator).tolist()
            out.append(self._order.pop())
        return out

    def state_dict(self) -> dict:
        """Where the current pass stands (the indices still to draw), for resuming."""
        return {"n": self.n, "order": list(self._order)}

    def load_state_dict(self, state: dict) -> None:
        if int(state["n"]) != self.n:
            raise ValueError(f"a stream over {state['n']} slices cannot resume one over {self.n}")
        self._order = [int(i) for i in state["order"]]


class TwoStreamBatches:
    """Draws ``labelled`` labelled and ``batch - labelled`` unlabelled slice indices.

    With no unlabelled slice (all painted) or for supervised-only training the batch
    is filled with labelled slices. ``focus`` (labelled indices) and ``focus_share``: that
    share of each batch's labelled slices is drawn from the focus slices alone (a study's
    scan being corrected), the rest from all labelled slices; nothing changes when the
    focus is empty or is every labelled slice.
    """

    def __init__(
        self,
        n_labelled: int,
        n_unlabelled: int,
        batch: int,
        labelled: int,
        generator: torch.Generator,
        *,
        focus: Sequence[int] = (),
        focus_share: float = 0.0,
    ) -> None:
        self.labelled_stream = CyclingIndex(n_labelled, generator)
        self.unlabelled_stream = CyclingIndex(n_unlabelled, generator)
        self.n_labelled = labelled if n_unlabelled > 0 else batch
        self.n_unlabelled = batch - self.n_labelled
        focused = focus_share > 0 and 0 < len(focus) < n_labelled and self.n_labelled >= 2
        self.focus = [int(i) for i in focus] if focused else []
        wanted = max(1, round(focus_share * self.n_labelled))
        self.n_focus = min(wanted, self.n_labelled - 1) if focused else 0
        self.focus_stream = CyclingIndex(len(self.focus), generator)

    def next(self) -> tuple[list[int], list[int]]:
        return self._labelled(), self.unlabelled_stream.take(self.n_unlabelled)

    def _labelled(self) -> list[int]:
        focused = [self.focus[i] for i in self.focus_stream.take(self.n_focus)]
        return focused + self.labelled_stream.take(self.n_labelled - len(focused))

    def state_dict(self) -> dict:
        return {
            "labelled": self.labelled_stream.state_dict(),
            "unlabelled": self.unlabelled_stream.state_dict(),
            "focus": self.focus_stream.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.labelled_stream.load_state_dict(state["labelled"])
        self.unlabelled_stream.load_state_dict(state["unlabelled"])
        if "focus" in state:  # checkpoints from before the focus have none
            self.focus_stream.load_state_dict(state["focus"])


class NearestFirstBatches(TwoStreamBatches):
    """Two-stream batches whose unlabelled slices are drawn only among those within
    ``reach`` slices of a painted slice of their volume (``distances``, one per unlabelled
    slice); the trainer widens the reach as the run goes, so confident labels spread
    outward from what was painted. Slices of unpainted volumes enter last."""

    def __init__(
        self,
        n_labelled: int,
        distances: torch.Tensor,
        batch: int,
        labelled: int,
        generator: torch.Generator,
        **focus,
    ) -> None:
        super().__init__(n_labelled, len(distances), batch, labelled, generator, **focus)
        self.distances = distances
        self.generator = generator
        self.reach = 1

    def next(self) -> tuple[list[int], list[int]]:
        labelled = self._labelled()
        eligible = torch.nonzero(self.distances <= self.reach).flatten()
        if len(eligible) == 0 or self.n_unlabelled == 0:
            return labelled, []
        picks = torch.randint(len(eligible), (self.n_unlabelled,), generator=self.generator)
        return labelled, eligible[picks].tolist()
