"""One run at a time in a worker thread, and its progress: bar, status line, losses, curve."""

from __future__ import annotations

import math

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from napari_mcsc._qt.loss_plot import LossPlot
from napari_mcsc._qt.worker import error_message, make_worker
from napari_mcsc.jobs import Status
from napari_mcsc.review import CorrectionLoop
from napari_mcsc.training.events import ProgressEvent


class RunPanel(QWidget):
    """Starts training and prediction workers (refusing a second one) and shows what they
    report. An error becomes a notification, keeps what was trained, and leaves it usable."""

    #: A worker started.
    started = Signal()
    #: Every event the worker yields (after the panel has shown it).
    yielded = Signal(object)
    #: The worker is done, whichever way it ended.
    finished = Signal()

    def __init__(self, loop: CorrectionLoop, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loop = loop
        self.worker = None
        self._pbar = None  # napari's activity-dock progress
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.progress = QProgressBar(minimum=0, maximum=1000, value=0, textVisible=True)
        self.progress.setFormat("idle")
        self.status = QLabel("Paint a few slices, then train.", wordWrap=True)
        self.losses = QLabel("", wordWrap=True)
        self.plot = LossPlot(self)
        for widget in (self.progress, self.status, self.losses, self.plot):
            layout.addWidget(widget)

    def say(self, text: str) -> None:
        self.status.setText(text)

    def idle(self) -> bool:
        """True when no run is going; otherwise tells the user so."""
        if self.worker is None:
            return True
        from napari.utils.notifications import show_info

        show_info("A training or prediction is already running: stop it first.")
        return False

    def begin_training(self, text: str) -> None:
        """Clear the last run's curve and open a progress entry in napari's activity dock."""
        from napari.utils import progress

        self.plot.clear()
        self._close_progress()
        self._pbar = progress(total=0, desc="MCSC training")
        self.progress.setValue(0)
        self.progress.setFormat("starting")
        self.say(text)

    def start_worker(self, run, on_done) -> None:
        """Run the generator function ``run`` in a worker thread; ``on_done(result)`` gets
        what it returns. Training and prediction both start here."""
        self.worker = make_worker(
            self,
            run,
            on_yielded=self._on_yielded,
            on_done=on_done,
            on_error=self._on_error,
            on_finished=self._on_finished,
            job=self.loop.job,
        )
        self.started.emit()
        self.worker.start()

    def _on_yielded(self, event) -> None:
        if isinstance(event, Status):
            self.say(event.text[0].upper() + event.text[1:] + "...")
            if self._pbar is not None:
                self._pbar.set_description(f"MCSC: {event.text}")
        elif isinstance(event, ProgressEvent):
            self.progress.setValue(int(1000 * min(1.0, event.progress)))
            self.progress.setFormat(f"it {event.iteration}/{event.total} · ETA {event.eta_seconds:.0f} s")
            if self._pbar is not None:
                self._pbar.total = event.total
                self._pbar.n = event.iteration
                self._pbar.refresh()
            self.losses.setText(format_losses(event))
            self.plot.add(event.losses.get("total", math.nan))
        self.yielded.emit(event)

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        message = error_message(exc)
        show_error(f"napari-mcsc: {message}")
        self.say(f"Error: {message}")
        self.loop.keep_partial_model()

    def _on_finished(self) -> None:
        self.worker = None
        self.loop.run_ended()
        self._close_progress()
        self.progress.setFormat("idle" if self.loop.last_result is None else "done")
        self.finished.emit()

    def _close_progress(self) -> None:
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None


def format_losses(event: ProgressEvent) -> str:
    losses = event.losses
    parts = [f"loss {losses.get('total', math.nan):.3f}"]
    for name, label in (("sup", "sup"), ("ct", "cross"), ("con", "contrast")):
        values = [v for k, v in losses.items() if k.startswith(name + "_") and k != "ct_weight"]
        if values:
            parts.append(f"{label} " + "/".join(f"{v:.3f}" for v in values))
    parts.append(f"{event.seconds_per_iteration:.2f} s/it")
    return " · ".join(parts)
