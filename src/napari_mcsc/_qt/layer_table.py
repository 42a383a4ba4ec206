"""The table where a user says which images to train on, and with which Labels layer."""

from __future__ import annotations

from dataclasses import dataclass

from napari.layers import Image, Labels
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QComboBox, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from napari_mcsc._qt.layers import input_volumes
from napari_mcsc._qt.tooltips import TOOLTIPS
from napari_mcsc.constants import ImageRole


@dataclass
class Selection:
    """The user's choice for one image layer."""

    image: object  # napari Image layer
    role: ImageRole
    labels: object | None  # napari Labels layer


class LayerTable(QTableWidget):
    """One row per 3D Image layer: its role and, for training, its Labels layer.

    Defaults: the first image with a Labels layer of the same shape is trained on with
    that layer; other images are ignored. Choices survive layers being added or removed.
    """

    def __init__(self, viewer, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.viewer = viewer
        self.setHorizontalHeaderLabels(["Image", "Role", "Labels"])
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setVisible(False)
        self.setToolTip(TOOLTIPS["layers"])
        self.setMinimumHeight(90)
        self._choices: dict[int, tuple[ImageRole, int | None]] = {}  # id(image) -> (role, id(labels))
        self._signature: tuple = ()
        self.refresh()

    # ------------------------------------------------------------------ layers
    def _matching_labels(self, image) -> list:
        """Labels layers of the image's shape the user made or opened (not the plugin's)."""
        return [
            lab
            for lab in input_volumes(self.viewer, Labels)
            if tuple(lab.data.shape) == tuple(image.data.shape)
        ]

    def _default_choice(self, image) -> tuple[ImageRole, int | None]:
        candidates = self._matching_labels(image)
        taken = {lab for role, lab in self._choices.values() if role == ImageRole.TRAIN}
        free = [lab for lab in candidates if id(lab) not in taken]
        if free and not any(role == ImageRole.TRAIN for role, _ in self._choices.values()):
            return ImageRole.TRAIN, id(free[0])
        return ImageRole.IGNORE, id(free[0]) if free else None

    def refresh(self, *_args, rebuild: bool = False) -> None:
        """Rebuild the rows from the viewer's layers, keeping earlier choices.

        ``rebuild``: redraw from the stored choices even if no layer changed (the
        choices were set in code, not in the combo boxes).
        """
        if not rebuild:
            self._store_choices()
        images = input_volumes(self.viewer, Image)
        signature = tuple((id(layer), layer.name) for layer in [*images, *input_volumes(self.viewer, Labels)])
        if signature == self._signature and not rebuild:
            return  # nothing the table shows has changed: keep its widgets
        self._signature = signature
        live = {id(img) for img in images}
        self._choices = {k: v for k, v in self._choices.items() if k in live}
        self._images: list = []  # rows are being rebuilt: no choice is stored meanwhile
        self.setRowCount(0)  # drops the old rows' combo boxes
        self.setRowCount(len(images))
        for row, image in enumerate(images):
            if id(image) not in self._choices:
                self._choices[id(image)] = self._default_choice(image)
            role, labels_id = self._choices[id(image)]
            item = QTableWidgetItem(image.name)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.setItem(row, 0, item)
            role_box = QComboBox()
            role_box.addItems([choice.value for choice in ImageRole])
            role_box.setCurrentText(role.value)
            role_box.setToolTip(TOOLTIPS["role"])
            role_box.currentTextChanged.connect(self._store_choices)
            self.setCellWidget(row, 1, role_box)
            labels_box = QComboBox()
            labels_box.setToolTip(TOOLTIPS["labels"])
            labels_box.addItem("(none)", None)
            for lab in self._matching_labels(image):
                labels_box.addItem(lab.name, id(lab))
                if id(lab) == labels_id:
                    labels_box.setCurrentIndex(labels_box.count() - 1)
            labels_box.currentIndexChanged.connect(self._store_choices)
            self.setCellWidget(row, 2, labels_box)
        self._images = images

    def _store_choices(self, *_args) -> None:
        images = getattr(self, "_images", [])
        for row in range(min(self.rowCount(), len(images))):
            role_box, labels_box = self.cellWidget(row, 1), self.cellWidget(row, 2)
            if role_box is None or labels_box is None:
                continue
            self._choices[id(images[row])] = (ImageRole(role_box.currentText()), labels_box.currentData())

    # ------------------------------------------------------------------ choices
    def set_choice(self, image, role: ImageRole | str, labels=None) -> None:
        """Set an image's role and Labels layer (also used by tests and scripts)."""
        self._store_choices()
        self._choices[id(image)] = (ImageRole(role), id(labels) if labels is not None else None)
        self.refresh(rebuild=True)

    def selections(self) -> list[Selection]:
        self._store_choices()
        by_id = {id(layer): layer for layer in self.viewer.layers}
        out = []
        for image in getattr(self, "_images", []):
            role, labels_id = self._choices.get(id(image), (ImageRole.IGNORE, None))
            if role != ImageRole.IGNORE:
                out.append(Selection(image, role, by_id.get(labels_id)))
        return out
