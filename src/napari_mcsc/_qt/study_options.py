"""The study panel's row of study settings a user changes while annotating.

The 3D-consistent mask and the length of the rounds after the first. Each control shows
the open study's saved choice (showing it changes nothing) and emits the user's changes;
the study panel saves them through its ``StudyWorkspace``.
"""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from napari_mcsc._qt.tooltips import TOOLTIPS
from napari_mcsc.study.settings import StudySettings


class StudyOptions(QWidget):
    """A checkbox for the 3D-consistent mask and a spin box for the round length."""

    consistent_changed = Signal(bool)
    round_length_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.consistent = QCheckBox("3D-consistent mask", toolTip=TOOLTIPS["consistent"])
        self.round_length = QSpinBox(
            minimum=10,
            maximum=100_000,
            singleStep=10,
            suffix=" iterations",
            toolTip=TOOLTIPS["study_round_length"],
        )
        self.consistent.toggled.connect(self.consistent_changed)
        self.round_length.valueChanged.connect(self.round_length_changed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.consistent)
        layout.addWidget(QLabel("Rounds of", toolTip=TOOLTIPS["study_round_length"]))
        layout.addWidget(self.round_length)

    def show_settings(self, settings: StudySettings) -> None:
        """Show a study's saved choices without emitting them as changes."""
        for control in (self.consistent, self.round_length):
            control.blockSignals(True)
        self.consistent.setChecked(settings.consistent_mask)
        self.round_length.setValue(settings.round_iterations)
        for control in (self.consistent, self.round_length):
            control.blockSignals(False)
