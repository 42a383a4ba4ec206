"""A small live plot of the training loss (QPainter, no plotting dependency)."""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import QWidget


class LossPlot(QWidget):
    """Draws the total loss per iteration on a log scale; keeps at most ``max_points``."""

    def __init__(self, parent: QWidget | None = None, max_points: int = 2000) -> None:
        super().__init__(parent)
        self.values: list[float] = []
        self.max_points = max_points
        self.setMinimumHeight(60)
        self.setToolTip("Total training loss per iteration (log scale)")

    def clear(self) -> None:
        self.values = []
        self.update()

    def add(self, value: float) -> None:
        if math.isfinite(value) and value > 0:
            self.values.append(value)
            if len(self.values) > self.max_points:
                self.values = self.values[::2]
            self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(38, 41, 48))
        if len(self.values) < 2:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "loss")
            return
        logs = [math.log10(v) for v in self.values]
        low, high = min(logs), max(logs)
        span = max(high - low, 1e-6)
        w, h, m = self.width(), self.height(), 4
        n = len(logs) - 1
        points = [
            QPointF(m + (w - 2 * m) * i / n, m + (h - 2 * m) * (high - v) / span) for i, v in enumerate(logs)
        ]
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(90, 180, 255), 1.5))
        painter.drawPolyline(points)
        painter.setPen(QColor(200, 200, 200))
        painter.drawText(m + 2, 14, f"{self.values[-1]:.3f}")
