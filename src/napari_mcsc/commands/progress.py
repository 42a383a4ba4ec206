"""A one-line terminal progress bar for training events (no extra dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from napari_mcsc.training.events import ProgressEvent


class ProgressLine:
    """Redraws one stderr line at most ``per_second`` times a second; plain lines when
    stderr is not a terminal (logs, CI), one every ``log_every`` seconds."""

    def __init__(self, stream: TextIO | None = None, per_second: float = 4.0, log_every: float = 10.0):
        self.stream = stream or sys.stderr
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.min_gap = 1.0 / per_second if self.interactive else log_every
        self._last = -1e9

    def update(self, event: ProgressEvent, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.min_gap:
            return
        self._last = now
        width = 24
        filled = round(width * min(1.0, event.progress))
        bar = "#" * filled + "-" * (width - filled)
        loss = event.losses.get("total", float("nan"))
        text = (
            f"[{bar}] it {event.iteration}/{event.total}  loss {loss:.3f}  "
            f"{event.seconds_per_iteration:.2f} s/it  ETA {event.eta_seconds:4.0f} s"
        )
        if self.interactive:
            self.stream.write("\r" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
