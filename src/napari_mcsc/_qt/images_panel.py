"""The images a run uses: the layer table, and unlabelled scans added from files."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtWidgets import QFileDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_mcsc._qt.layer_table import LayerTable
from napari_mcsc._qt.tooltips import TOOLTIPS
from napari_mcsc.constants import ImageRole


class ImagesPanel(QWidget):
    """The table of images and their roles, and "Add unlabelled scans..."."""

    def __init__(self, viewer, say: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self._say = say
        self.table = LayerTable(viewer, self)
        add_unlabelled = QPushButton("Add unlabelled scans...", toolTip=TOOLTIPS["add_unlabelled"])
        add_unlabelled.clicked.connect(self._browse_unlabelled)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Images and their annotations"))
        layout.addWidget(self.table)
        layout.addWidget(add_unlabelled)

    def _browse_unlabelled(self) -> None:
        from napari_mcsc.io.formats import VOLUME_FILE_FILTER

        paths, _ = QFileDialog.getOpenFileNames(
            self, "Unlabelled scans of the same study", "", f"{VOLUME_FILE_FILTER};;All files (*)"
        )
        if paths:
            self.add_unlabelled(paths)

    def add_unlabelled(self, paths) -> list:
        """Open scans (files, folders of volumes, DICOM folders) as image layers with the
        role Unlabelled: the other scans of a study, which semi-supervision learns from."""
        from napari.utils.notifications import show_warning

        from napari_mcsc._reader import read_layers
        from napari_mcsc.io.volumes import expand_volume_paths

        try:
            found = expand_volume_paths(paths)
        except FileNotFoundError as exc:
            show_warning(str(exc))
            return []
        added = []
        for path in found:
            try:
                layer_data = read_layers(str(path))
            except (OSError, ValueError, RuntimeError) as exc:
                show_warning(f"Cannot read {path}: {exc}")
                continue
            for data, kwargs, kind in layer_data:
                if kind == "image":
                    layer = self.viewer.add_image(data, **kwargs)
                    self.table.set_choice(layer, ImageRole.UNLABELLED)
                    added.append(layer)
        self._say(f"{len(added)} unlabelled scan(s) added: they join the next training.")
        return added
