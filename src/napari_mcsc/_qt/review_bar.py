"""The correction buttons: next uncertain slice, accept slice, mark slice reviewed.

They act on the image in focus, at the slice in view; the decisions are the
``CorrectionLoop``'s (``napari_mcsc.review``), this bar only reads the viewer and shows.
"""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_mcsc._qt.layers import find_layer, go_to_slice, slice_in_view
from napari_mcsc._qt.tooltips import TOOLTIPS
from napari_mcsc.constants import ImageRole, LayerRole
from napari_mcsc.review import CorrectionLoop, mark_reviewed


class ReviewBar(QWidget):
    """Buttons of the correction loop and the ranking of the image in focus."""

    def __init__(
        self,
        viewer,
        loop: CorrectionLoop,
        table,
        axis: Callable[[], int],
        say: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.viewer, self.loop, self.table = viewer, loop, table
        self._axis, self._say = axis, say
        self.next_button = QPushButton("Next uncertain slice", toolTip=TOOLTIPS["next"])
        self.next_button.clicked.connect(self.next_uncertain_slice)
        self.accept_button = QPushButton("Accept slice", toolTip=TOOLTIPS["accept"])
        self.accept_button.clicked.connect(self.accept_slice)
        self.reviewed_button = QPushButton("Mark slice reviewed", toolTip=TOOLTIPS["reviewed"])
        self.reviewed_button.clicked.connect(self.mark_slice_reviewed)
        self.ranking_label = QLabel("", wordWrap=True)
        row = QHBoxLayout()
        for button in (self.next_button, self.accept_button, self.reviewed_button):
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.ranking_label)
        self.update_buttons()

    def update_buttons(self) -> None:
        for button in (self.accept_button, self.next_button):
            button.setEnabled(self.loop.has_prediction)

    # ------------------------------------------------------------ the view
    def axis(self) -> int:
        """The last run's slice axis (before any run: the one chosen in the settings)."""
        return self.loop.run.axis if self.loop.run is not None else self._axis()

    def focus_image(self):
        return self.loop.focus_image(
            self.viewer.layers.selection.active, [s.image for s in self.table.selections()]
        )

    def slice_in_view(self, image=None) -> int:
        """The slice shown of ``image`` (default: the image in focus)."""
        return slice_in_view(self.viewer, image if image is not None else self.focus_image(), self.axis())

    # ------------------------------------------------------------- actions
    def next_uncertain_slice(self) -> int | None:
        """Move the viewer to the slice most likely wrong, not painted or reviewed yet."""
        image = self.focus_image()
        if self.loop.run is None or image is None:
            return None
        target = self.loop.next_slice(image)
        if target is None:
            self._say("Every slice is painted or reviewed.")
            return None
        go_to_slice(self.viewer, image, self.axis(), target)
        why = (
            "a structure came or went here since the last round"
            if self.loop.came_or_went(image, target)
            else "the one most likely wrong"
        )
        self._say(f"Slice {target} of {image.name}: {why}, not annotated yet.")
        return target

    def accept_slice(self) -> None:
        """Copy the predicted slice in view into the annotation layer."""
        from napari.utils.notifications import show_warning

        image = self.focus_image() if self.loop.run is not None else None
        labels = self.loop.labels_of(image)
        prediction = find_layer(self.viewer, image, LayerRole.PREDICTION) if image is not None else None
        if labels is None or prediction is None:
            show_warning("Train first: there is no prediction to accept.")
            return
        index = self.slice_in_view(image)
        kept = self.loop.accept_slice(labels, prediction.data, index)
        labels.refresh()
        self._say(
            f"Slice {index} of {image.name} accepted into {labels.name}"
            + (f" ({kept} painted voxels kept)" if kept else "")
            + ": fix it with the brush."
        )

    def mark_slice_reviewed(self) -> None:
        """Count the slice in view as annotated even when it is all background."""
        from napari.utils.notifications import show_warning

        image = self.focus_image() if self.loop.run is not None else None
        labels = self.loop.labels_of(image)
        if labels is None:
            train = [s for s in self.table.selections() if s.role == ImageRole.TRAIN and s.labels is not None]
            image, labels = (train[0].image, train[0].labels) if train else (None, None)
        if labels is None:
            show_warning("Choose an image with role 'Train' and its Labels layer first.")
            return
        index = self.slice_in_view(image)
        mark_reviewed(labels, index)
        self._say(f"Slice {index} of {labels.name} marked reviewed.")

    def show_ranking(self) -> None:
        image = self.focus_image()
        ranking = self.loop.ranking(image)
        if ranking:
            slices = ", ".join(map(str, ranking[:8]))
            self.ranking_label.setText(f"Slices to check first in {image.name}: {slices}")
