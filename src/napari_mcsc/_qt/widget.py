"""The dock widget: paint a few slices, train semi-supervised, correct, retrain.

A thin layer over the core that only composes small widgets around one
``CorrectionLoop`` (``napari_mcsc.review``, the loop's state without Qt): the images and
their roles, the settings, the run's progress, the correction buttons and the model's.
Rules kept: no layer or Qt object is touched in the worker; results go to the layers a run
started with, whatever is selected by then; one run at a time; an error in the worker
becomes a notification and leaves the widget usable; closing the viewer stops the worker.
"""

from __future__ import annotations

from qtpy.QtWidgets import QPushButton, QVBoxLayout, QWidget

import napari_mcsc  # noqa: F401  (keeps torch from importing triton: see _torch_env)
from napari_mcsc._qt.images_panel import ImagesPanel
from napari_mcsc._qt.layers import show_preview, show_results, slice_in_view
from napari_mcsc._qt.model_bar import ModelBar
from napari_mcsc._qt.review_bar import ReviewBar
from napari_mcsc._qt.run_panel import RunPanel
from napari_mcsc._qt.settings import SettingsForm
from napari_mcsc._qt.tooltips import TOOLTIPS
from napari_mcsc.constants import ImageRole
from napari_mcsc.jobs import TrainResult
from napari_mcsc.review import CorrectionLoop
from napari_mcsc.training.events import ProgressEvent


class MCSCWidget(QWidget):
    """Train semi-supervised (MCSC) on the slices painted in Labels layers."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.loop = CorrectionLoop()
        self._view_slice = 0  # read by the worker for previews: a plain int
        self.run_panel = RunPanel(self.loop, self)
        self.images = ImagesPanel(napari_viewer, self.run_panel.say, self)
        self.table = self.images.table
        self.settings = SettingsForm(self)
        self.seconds = self.settings.seconds
        self.train_button = QPushButton("Train semi-supervised", toolTip=TOOLTIPS["train"])
        self.train_button.clicked.connect(self._on_train_clicked)
        self.review = ReviewBar(napari_viewer, self.loop, self.table, self.settings.axis.value,
                                self.run_panel.say, self)
        self.model_bar = ModelBar(napari_viewer, self.loop, self.run_panel, self)
        layout = QVBoxLayout(self)
        for part in (self.images, self.settings, self.train_button, self.run_panel, self.review,
                     self.model_bar):
            layout.addWidget(part)
        layout.addStretch(1)
        self.run_panel.yielded.connect(self._on_yielded)
        self.run_panel.started.connect(self._update_buttons)
        self.run_panel.finished.connect(self._on_finished)
        self.model_bar.loaded.connect(self._on_model_loaded)
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        self.viewer.dims.events.current_step.connect(self._on_dims_changed)
        self._on_layers_changed()
        self._update_buttons()

    # The state scripts and benchmarks read: the loop's, and the running worker.
    @property
    def model(self):
        return self.loop.model

    @property
    def job(self):
        return self.loop.job

    @property
    def worker(self):
        return self.run_panel.worker

    def next_uncertain_slice(self) -> int | None:
        return self.review.next_uncertain_slice()

    # ----------------------------------------------------------------- wiring
    def _update_buttons(self) -> None:
        self.model_bar.update_buttons(busy=self.worker is not None)
        self.review.update_buttons()

    def _on_layers_changed(self, *_args) -> None:
        self.table.refresh()
        self.model_bar.refresh_images()

    def _on_dims_changed(self, *_args) -> None:
        self._view_slice = self.review.slice_in_view()

    def _on_model_loaded(self) -> None:
        self.settings.axis.setValue(self.loop.model.axis)
        self._update_buttons()

    def _on_train_clicked(self) -> None:
        if self.worker is not None:
            self.stop()
        else:
            self.train()

    # --------------------------------------------------------------- training
    def train(self) -> None:
        """Start training in a worker thread (refused while another run is going)."""
        from napari.utils.notifications import show_warning

        if not self.run_panel.idle():
            return
        selections = self.table.selections()
        annotated = [(s.image, s.labels) for s in selections if s.role == ImageRole.TRAIN]
        unlabelled = [s.image for s in selections if s.role == ImageRole.UNLABELLED]
        missing = [img.name for img, lab in annotated if lab is None]
        if not annotated or missing:
            show_warning("Choose an image with role 'Train' and its Labels layer "
                         "(a Labels layer of the same shape) first." +
                         (f" No Labels layer for: {', '.join(missing)}." if missing else ""))
            return
        try:
            config = self.settings.config()
        except ValueError as exc:
            show_warning(f"Cannot train with these settings: {exc}")
            return
        axis = self.settings.axis.value()
        fine_tuning = self.loop.warm_start(axis) is not None
        job = self.loop.start_training(config, annotated, unlabelled, axis, self._preview_request)
        self._view_slice = slice_in_view(self.viewer, annotated[0][0], axis)
        note = " (fine-tuning the current model)" if fine_tuning else ""
        self.run_panel.begin_training("Starting..." + note)
        self.train_button.setText("Stop")
        self.train_button.setToolTip(TOOLTIPS["stop"])
        self.run_panel.start_worker(job.run, self._on_train_returned)

    def _preview_request(self):
        """Called in the worker: which slice to preview (reads plain ints only)."""
        return (0, self._view_slice)

    def stop(self) -> None:
        """Stop after the current iteration; the model so far is kept and used."""
        if self.loop.request_stop():
            self.train_button.setText("Stopping...")
            self.train_button.setEnabled(False)

    def _on_yielded(self, event) -> None:
        run = self.loop.run
        if isinstance(event, ProgressEvent) and event.preview is not None and run is not None:
            image = run.annotated[event.preview.volume_index][0]
            if image in self.viewer.layers:
                show_preview(self.viewer, image, run.axis, event.preview.slice_index, event.preview.labels)

    def _on_train_returned(self, result: TrainResult) -> None:
        from napari.utils.notifications import show_info, show_warning

        removed = show_results(self.viewer, self.loop.training_done(result))
        how = "stopped early" if result.stopped_early else "done"
        if removed:
            show_info(f"{', '.join(removed)} was removed during training, so its prediction is not "
                      "shown; open it again and click Predict (the model is kept).")
        if result.warning:
            how = "incomplete"
            show_warning(result.warning)
        self.settings.show_run_length()
        self.run_panel.say(
            f"Training {how}: {result.iterations} iterations in {result.seconds:.0f} s "
            f"({self.loop.model.trained_iterations} in all). "
            "Correct the most uncertain slices and train again."
        )
        self.review.show_ranking()

    def _on_finished(self) -> None:
        self.train_button.setText("Train semi-supervised")
        self.train_button.setToolTip(TOOLTIPS["train"])
        self.train_button.setEnabled(True)
        self._update_buttons()
