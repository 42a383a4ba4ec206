"""Pick, while training runs, the torch thread count that is fastest on this CPU right now.

Why: on small machines the best count is not "all cores". Measured on a 2-vCPU VM, a
training step ran 1.4x slower with 2 threads than with 1, and next to one busy process
2 OpenMP threads collapsed to 4-15x slower steps (each parallel region waits for the
thread the scheduler parked). Which count wins depends on the CPU and on what else
runs, and both change. So the trainer times a few steps at each candidate count, keeps
the fastest, and measures again when steps get slower than what it chose.

``NAPARI_MCSC_TORCH_THREADS`` (or an explicit ``fixed``) pins the count and turns this off.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable

from napari_mcsc._torch_env import TORCH_THREADS_ENV


def thread_candidates(cores: int | None = None) -> list[int]:
    """Counts worth trying: 1, the cores and a few in between (at most 4 candidates)."""
    cores = max(1, cores or os.cpu_count() or 1)
    picks = {1, cores, max(1, cores // 2), max(1, cores // 4)}
    return sorted(picks)


def pinned_threads() -> int | None:
    """The user's ``NAPARI_MCSC_TORCH_THREADS``, or None when not set (or not a count)."""
    wanted = os.environ.get(TORCH_THREADS_ENV, "").strip()
    return int(wanted) if wanted.isdigit() and int(wanted) > 0 else None


class ThreadTuner:
    """Chooses the thread count for each training step from the measured step times.

    Probing: each candidate runs ``window`` steps (the first step after a change is not
    counted: thread pools start). Then the fastest candidate runs; every ``recheck``
    steps, or as soon as the median of its last ``window`` steps is ``slowdown`` times
    its probed median, all candidates are probed again.
    ``apply`` sets the count (``torch.set_num_threads`` by default).
    """

    def __init__(
        self,
        candidates: list[int] | None = None,
        *,
        fixed: int | None = None,
        window: int = 3,
        recheck: int = 100,
        slowdown: float = 1.4,
        apply: Callable[[int], None] | None = None,
    ) -> None:
        if apply is None:
            import torch

            apply = torch.set_num_threads
        self._apply = apply
        self.fixed = fixed if fixed is not None else pinned_threads()
        self.candidates = [self.fixed] if self.fixed else (candidates or thread_candidates())
        self.window = window
        self.recheck = recheck
        self.slowdown = slowdown
        self.measured: dict[int, float] = {}  # last probe's median step seconds per count
        self.current: int | None = None
        self._queue: list[int] = []
        self._times: list[float] = []
        self._since_choice = 0
        self._skip_next = False
        if len(self.candidates) > 1:
            self._start_probe()
        else:
            self._set(self.candidates[0])

    @property
    def probing(self) -> bool:
        return bool(self._queue)

    def _set(self, threads: int) -> None:
        if threads != self.current:
            self._apply(threads)
            self._skip_next = self.current is not None
            self.current = threads
        self._times = []

    def _start_probe(self) -> None:
        # Try the count in use first (no switch), then the others.
        order = sorted(self.candidates, key=lambda c: c != self.current)
        self._queue = order
        self._set(order[0])

    def record(self, seconds: float) -> None:
        """Report the duration of the step just run with ``current`` threads."""
        if self._skip_next:
            self._skip_next = False
            return
        self._times.append(seconds)
        if self._queue:
            if len(self._times) >= self.window:
                self.measured[self._queue.pop(0)] = statistics.median(self._times)
                if self._queue:
                    self._set(self._queue[0])
                else:
                    self._set(min(self.measured, key=self.measured.get))
                    self._since_choice = 0
            return
        if len(self.candidates) == 1:
            return
        self._since_choice += 1
        recent = self._times[-self.window :]
        slower = (
            len(recent) == self.window
            and statistics.median(recent) > self.slowdown * self.measured[self.current]
        )
        if slower or self._since_choice >= self.recheck:
            self._start_probe()

    def summary(self) -> dict:
        """What was measured, for logs and the checkpoint's history."""
        return {
            "threads": self.current,
            "seconds_per_step_by_threads": {str(k): round(v, 4) for k, v in self.measured.items()},
        }
