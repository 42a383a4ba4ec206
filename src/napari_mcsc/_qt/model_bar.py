"""The model's buttons: save it, load one, predict an image with it."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from napari.layers import Image
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from napari_mcsc._qt.layers import input_volumes, show_results
from napari_mcsc._qt.run_panel import RunPanel
from napari_mcsc._qt.tooltips import TOOLTIPS
from napari_mcsc.jobs import ImageInput, prediction_job
from napari_mcsc.review import CorrectionLoop, reviewed_slices


class ModelBar(QWidget):
    """Save model, Load model, and Predict the chosen image (in a worker, via ``runner``)."""

    #: A model was loaded (the loop's model is the new one).
    loaded = Signal()

    def __init__(self, viewer, loop: CorrectionLoop, runner: RunPanel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer, self.loop, self.runner = viewer, loop, runner
        self.save_button = QPushButton("Save model", toolTip=TOOLTIPS["save"])
        self.save_button.clicked.connect(self._on_save_clicked)
        self.load_button = QPushButton("Load model", toolTip=TOOLTIPS["load"])
        self.load_button.clicked.connect(self._on_load_clicked)
        self.predict_image = QComboBox(toolTip=TOOLTIPS["predict_image"])
        self.predict_button = QPushButton("Predict", toolTip=TOOLTIPS["predict"])
        self.predict_button.clicked.connect(self.predict)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        row.addWidget(self.load_button)
        layout.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.predict_image, 1)
        row.addWidget(self.predict_button)
        layout.addLayout(row)

    def update_buttons(self, busy: bool) -> None:
        for button in (self.save_button, self.predict_button):
            button.setEnabled(self.loop.model is not None and not busy)
        self.load_button.setEnabled(not busy)

    def refresh_images(self) -> None:
        """Offer the viewer's 3D images (not the plugin's own layers), keeping the choice."""
        current = self.predict_image.currentText()
        names = [layer.name for layer in input_volumes(self.viewer, Image)]
        self.predict_image.clear()
        self.predict_image.addItems(names)
        if current in names:
            self.predict_image.setCurrentText(current)

    # ------------------------------------------------------------ save/load
    def _on_save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model", "mcsc-model.pt", "Model (*.pt)")
        if path:
            self.save_model(path)

    def _on_load_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", "Model (*.pt)")
        if path:
            self.load_model(path)

    def save_model(self, path: str | Path) -> Path | None:
        from napari.utils.notifications import show_error, show_info

        from napari_mcsc.checkpoint import save_model

        if self.loop.model is None:
            show_info("There is no model yet: train or load one first.")
            return None
        try:
            written = save_model(self.loop.model, path)
        except OSError as exc:
            show_error(f"Could not save the model to {path}: {exc}")
            return None
        self.runner.say(f"Model saved to {written}")
        return written

    def load_model(self, path: str | Path) -> bool:
        from napari.utils.notifications import show_error

        from napari_mcsc.checkpoint import CheckpointError, load_model

        try:
            model = load_model(path)
        except (CheckpointError, FileNotFoundError) as exc:
            show_error(str(exc))
            return False
        self.loop.model = model
        self.runner.say(
            f"Loaded {Path(path).name}: classes {list(model.mapping.values)}, "
            f"{model.trained_iterations} iterations. Train fine-tunes it."
        )
        self.loaded.emit()
        return True

    # -------------------------------------------------------------- predict
    def predict(self) -> None:
        """Predict the chosen image layer with the current model, in a worker thread; an image
        painted in the last run keeps its painting (the 3D-consistent mask carries it)."""
        from napari.utils.notifications import show_info

        if not self.runner.idle():
            return
        name = self.predict_image.currentText()
        if self.loop.model is None or not name or name not in self.viewer.layers:
            show_info("Load or train a model and choose an image layer first.")
            return
        image = self.viewer.layers[name]
        labels = self.loop.labels_of(image)  # painted in the last run: carried into the mask
        painted = None if labels is None else np.array(labels.data, copy=True)
        reviewed = [] if labels is None else reviewed_slices(labels)
        items = [ImageInput(image.name, np.asarray(image.data), painted, reviewed)]
        self.runner.start_worker(
            functools.partial(prediction_job, self.loop.model, items, consistent=self.loop.consistent_mask),
            lambda predictions: self._on_predicted(image, predictions[0]),
        )

    def _on_predicted(self, image, prediction) -> None:
        self.loop.predicted(image, prediction)
        show_results(self.viewer, [(image, prediction)])
        self.runner.say(f"Predicted {image.name}.")
