"""The dock widget: paint a few slices, train (supervised by default, or MCSC), correct, retrain.

A thin layer over the core that only composes small widgets around one
``CorrectionLoop`` (``napari_mcsc.review``, the loop's state without Qt): the images and
their roles, the settings, the Train button, the run's progress, the correction buttons
and the model's. Rules kept: no layer or Qt object is touched in the worker; results go to
the layers a run started with, whatever is selected by then; one run at a time; an error
in the worker becomes a notification and leaves the widget usable; closing the viewer
stops the worker.
"""

from __future__ import annotations

from qtpy.QtWidgets import QVBoxLayout, QWidget

import napari_mcsc  # noqa: F401  (keeps torch from importing triton: see _torch_env)
from napari_mcsc._qt.images_panel import ImagesPanel
from napari_mcsc._qt.model_bar import ModelBar
from napari_mcsc._qt.review_bar import ReviewBar
from napari_mcsc._qt.run_panel import RunPanel
from napari_mcsc._qt.settings import SettingsForm
from napari_mcsc._qt.train_bar import TrainBar
from napari_mcsc.review import CorrectionLoop


class MCSCWidget(QWidget):
    """Train on the slices painted in Labels layers (the profile's method: sup or MCSC)."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.loop = CorrectionLoop()
        self.run_panel = RunPanel(self.loop, self)
        self.images = ImagesPanel(napari_viewer, self.run_panel.say, self)
        self.table = self.images.table
        self.settings = SettingsForm(self)
        self.review = ReviewBar(
            napari_viewer, self.loop, self.table, self.settings.axis.value, self.run_panel.say, self
        )
        self.train_bar = TrainBar(
            napari_viewer, self.loop, self.table, self.settings, self.run_panel, self.review, self
        )
        self.model_bar = ModelBar(napari_viewer, self.loop, self.run_panel, self)
        layout = QVBoxLayout(self)
        for part in (self.images, self.settings, self.train_bar, self.run_panel, self.review, self.model_bar):
            layout.addWidget(part)
        layout.addStretch(1)
        self.run_panel.started.connect(self._update_buttons)
        self.run_panel.finished.connect(self._update_buttons)
        self.model_bar.loaded.connect(self._on_model_loaded)
        self.settings.consistent.toggled.connect(lambda on: setattr(self.loop, "consistent_mask", on))
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        self._on_layers_changed()
        self._update_buttons()

    # What scripts and benchmarks use: the loop's state, the worker, the Train button.
    seconds = property(lambda self: self.settings.seconds)
    train_button = property(lambda self: self.train_bar.button)
    model = property(lambda self: self.loop.model)
    job = property(lambda self: self.loop.job)
    worker = property(lambda self: self.run_panel.worker)

    def train(self) -> None:
        self.train_bar.train()

    def stop(self) -> None:
        self.train_bar.stop()

    def next_uncertain_slice(self) -> int | None:
        return self.review.next_uncertain_slice()

    # ---------------------------------------------------------------- wiring
    def _update_buttons(self) -> None:
        self.model_bar.update_buttons(busy=self.worker is not None)
        self.review.update_buttons()

    def _on_layers_changed(self, *_args) -> None:
        self.table.refresh()
        self.model_bar.refresh_images()

    def _on_model_loaded(self) -> None:
        self.settings.axis.setValue(self.loop.model.axis)
        self._update_buttons()
