"""Terminal progress for training events: a tqdm bar on a terminal, plain lines elsewhere.

tqdm (installed with napari) draws the bar, so its width follows the terminal and it
cooperates with other output. When stderr is not a terminal (a log file, CI, a cluster
job) a redrawn bar would fill the log with carriage returns, so one plain line is
written every ``log_every`` seconds instead. Both show the trainer's own loss, speed and
ETA: with a time budget the planned total is an estimate that only the trainer knows.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from napari_mcsc.training.events import ProgressEvent

__all__ = ["ProgressLine"]

# tqdm puts ", " before the postfix itself.
_BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


def _details(event: ProgressEvent) -> str:
    loss = event.losses.get("total", float("nan"))
    return f"loss {loss:.3f}  {event.seconds_per_iteration:.2f} s/it  ETA {event.eta_seconds:4.0f} s"


class ProgressLine:
    """Shows training progress on ``stream`` (stderr by default).

    On a terminal: a tqdm bar redrawn at most ``per_second`` times a second. Otherwise:
    a plain line ``it N/TOTAL  loss ...`` every ``log_every`` seconds. ``update(event,
    force=True)`` shows ``event`` now (e.g. the last one); ``close()`` ends the bar.
    """

    def __init__(self, stream: TextIO | None = None, per_second: float = 4.0, log_every: float = 10.0):
        self.stream = stream or sys.stderr
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.min_gap = 1.0 / per_second if self.interactive else log_every
        self._last = -1e9
        self._bar = None

    def update(self, event: ProgressEvent, force: bool = False) -> None:
        """Show ``event`` unless the last update was shown less than the minimum gap ago."""
        if self.interactive:
            self._draw(event, force)
            return
        now = time.monotonic()
        if not force and now - self._last < self.min_gap:
            return
        self._last = now
        self.stream.write(f"it {event.iteration}/{event.total}  {_details(event)}\n")
        self.stream.flush()

    def _draw(self, event: ProgressEvent, force: bool) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=max(event.total, event.iteration),
                initial=event.iteration,
                postfix=_details(event),
                file=self.stream,
                mininterval=self.min_gap,
                dynamic_ncols=True,
                bar_format=_BAR_FORMAT,
                disable=False,
                leave=True,
            )
        bar = self._bar
        bar.total = max(event.total, event.iteration)  # an estimate with a time budget
        bar.set_postfix_str(_details(event), refresh=False)
        if event.iteration > bar.n:
            bar.update(event.iteration - bar.n)  # redraws when mininterval has passed
        elif event.iteration < bar.n:
            bar.n = event.iteration
        if force:
            bar.refresh()

    def close(self) -> None:
        """End the bar's line (nothing to do for plain lines)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
