"""The Train / Stop button: a training run of the images in the table, with the settings."""

from __future__ import annotations

from qtpy.QtWidgets import QPushButton, QVBoxLayout, QWidget

from napari_mcsc._qt.layers import show_preview, show_results, slice_in_view
from napari_mcsc._qt.review_bar import ReviewBar
from napari_mcsc._qt.run_panel import RunPanel
from napari_mcsc._qt.settings import SettingsForm
from napari_mcsc._qt.tooltips import TOOLTIPS
from napari_mcsc.constants import ImageRole
from napari_mcsc.jobs import TrainResult
from napari_mcsc.review import CorrectionLoop
from napari_mcsc.training.events import ProgressEvent
from napari_mcsc.training.methods import method_named


class TrainBar(QWidget):
    """Starts training (fine-tuning the current model when it fits), stops it, shows the
    preview of the slice in view while it runs and puts its results into layers."""

    def __init__(
        self,
        viewer,
        loop: CorrectionLoop,
        table,
        settings: SettingsForm,
        runner: RunPanel,
        review: ReviewBar,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.viewer, self.loop, self.table, self.settings = viewer, loop, table, settings
        self.runner, self.review = runner, review
        self._view_slice = 0  # read by the worker for previews: a plain int
        self.button = QPushButton(settings.train_text(), toolTip=TOOLTIPS["train"])
        self.button.clicked.connect(self._on_clicked)
        settings.method_changed.connect(self._on_method_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        runner.yielded.connect(self._on_yielded)
        runner.finished.connect(self._on_finished)
        viewer.dims.events.current_step.connect(self._on_dims_changed)

    def _on_clicked(self) -> None:
        if self.runner.worker is not None:
            self.stop()
        else:
            self.train()

    def _on_method_changed(self, _method: str) -> None:
        if self.runner.worker is None:  # while a run goes, the button is Stop
            self.button.setText(self.settings.train_text())

    def _on_dims_changed(self, *_args) -> None:
        self._view_slice = self.review.slice_in_view()

    def train(self) -> None:
        """Start training in a worker thread (refused while another run is going)."""
        from napari.utils.notifications import show_info, show_warning

        if not self.runner.idle():
            return
        selections = self.table.selections()
        annotated = [(s.image, s.labels) for s in selections if s.role == ImageRole.TRAIN]
        unlabelled = [s.image for s in selections if s.role == ImageRole.UNLABELLED]
        missing = [img.name for img, lab in annotated if lab is None]
        if not annotated or missing:
            show_warning(
                "Choose an image with role 'Train' and its Labels layer "
                "(a Labels layer of the same shape) first."
                + (f" No Labels layer for: {', '.join(missing)}." if missing else "")
            )
            return
        try:
            config = self.settings.config()
        except ValueError as exc:
            show_warning(f"Cannot train with these settings: {exc}")
            return
        method = method_named(config.method)
        if unlabelled and not method.uses_unlabelled:
            show_info(
                f"Method {method.name} trains the CNN on the painted slices only, so the Unlabelled "
                "images are not used; choose mcsc under Advanced > Method to use them."
            )
        axis = self.settings.axis.value()
        fine_tuning = self.loop.warm_start(axis) is not None
        job = self.loop.start_training(config, annotated, unlabelled, axis, self._preview_request)
        self._view_slice = slice_in_view(self.viewer, annotated[0][0], axis)
        note = " (fine-tuning the current model)" if fine_tuning else ""
        self.runner.begin_training("Starting..." + note)
        self.button.setText("Stop")
        self.button.setToolTip(TOOLTIPS["stop"])
        self.runner.start_worker(job.run, self._on_returned)

    def _preview_request(self):
        """Called in the worker: which slice to preview (reads plain ints only)."""
        return (0, self._view_slice)

    def stop(self) -> None:
        """Stop after the current iteration; the model so far is kept and used."""
        if self.loop.request_stop():
            self.button.setText("Stopping...")
            self.button.setEnabled(False)

    def _on_yielded(self, event) -> None:
        run = self.loop.run
        if isinstance(event, ProgressEvent) and event.preview is not None and run is not None:
            image = run.annotated[event.preview.volume_index][0]
            if image in self.viewer.layers:
                show_preview(self.viewer, image, run.axis, event.preview.slice_index, event.preview.labels)

    def _on_returned(self, result: TrainResult) -> None:
        from napari.utils.notifications import show_info, show_warning

        removed = show_results(self.viewer, self.loop.training_done(result))
        how = "stopped early" if result.stopped_early else "done"
        if removed:
            show_info(
                f"{', '.join(removed)} was removed during training, so its prediction is not "
                "shown; open it again and click Predict (the model is kept)."
            )
        if result.warning:
            how = "incomplete"
            show_warning(result.warning)
        self.settings.show_run_length()
        self.runner.say(
            f"Training {how}: {result.iterations} iterations in {result.seconds:.0f} s "
            f"({self.loop.model.trained_iterations} in all). "
            "Correct the slices it suggests and train again."
        )
        self.review.show_ranking()

    def _on_finished(self) -> None:
        self.button.setText(self.settings.train_text())
        self.button.setToolTip(TOOLTIPS["train"])
        self.button.setEnabled(True)
