"""The table of a study's scans: state, painted slices, the model's uncertainty."""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

COLUMNS = ("Scan", "State", "Painted", "Uncertainty")


class StudyTable(QTableWidget):
    """One row per scan, in the study's order; the scan in view is selected. A double
    click asks to open that scan (``open_requested``)."""

    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.setToolTip("The study's scans. Double-click a scan to open it.")
        self.setMinimumHeight(140)
        self.cellDoubleClicked.connect(lambda row, _col: self.open_requested.emit(self.item(row, 0).text()))

    def show_study(self, study) -> None:
        """Fill the table from ``study`` (None: empty)."""
        scans = study.scans if study is not None else []
        self.setRowCount(len(scans))
        for row, scan in enumerate(scans):
            unc = "" if scan.uncertainty is None else f"{scan.uncertainty:.3f}"
            painted = f"{len(scan.painted)}" + (f" +{len(scan.reviewed)}" if scan.reviewed else "")
            for column, text in enumerate((scan.name, scan.state.value, painted, unc)):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.setItem(row, column, item)
            if study.current == scan.name:
                self.selectRow(row)
