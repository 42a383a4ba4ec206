"""The run's settings as a form that returns a ``TrainConfig``.

Every choice comes from the training configuration: the profiles from ``PROFILES``, the
methods from ``METHODS``, and each value (the method included) from the selected profile
(the default profile at start), so no number here repeats a config default.
"""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from napari_mcsc import postprocess
from napari_mcsc._qt.tooltips import TOOLTIPS
from napari_mcsc.training.config import PROFILES, TrainConfig
from napari_mcsc.training.methods import METHODS, method_named
from napari_mcsc.training.spec import RunChoices, profile_config, run_config


class SettingsForm(QWidget):
    """Slice axis, profile, iterations, time cap, device and Swin weights, with the method
    and its knobs under Advanced. Changing the profile shows its values (its method
    included) in Advanced."""

    method_changed = Signal(str)  # the method's value ("mcsc", "ct", "sup")

    def __init__(self, parent: QWidget | None = None) -> None:
        from napari_mcsc.devices import available_devices

        super().__init__(parent)
        default = profile_config()
        self.axis = QSpinBox(minimum=0, maximum=2, value=0, toolTip=TOOLTIPS["axis"])
        self.profile = QComboBox(toolTip=TOOLTIPS["profile"])
        self.profile.addItems([name.capitalize() for name in PROFILES])
        self.profile.setCurrentText(default.profile.capitalize())
        self.iterations = QSpinBox(
            minimum=0,
            maximum=10_000_000,
            value=0,
            toolTip=TOOLTIPS["iterations"],
            specialValueText="profile default",
        )
        self.run_length = QLabel(toolTip=TOOLTIPS["run_length"], wordWrap=True)
        self.seconds = QSpinBox(
            minimum=0,
            maximum=7 * 24 * 3600,
            value=0,
            suffix=" s",
            toolTip=TOOLTIPS["seconds"],
            specialValueText="no cap",
        )
        self.device = QComboBox(toolTip=TOOLTIPS["device"])
        self.device.addItems(["auto", *available_devices()])
        self.pretrained = QLineEdit(placeholderText="none (optional)", toolTip=TOOLTIPS["pretrained"])
        browse = QPushButton("...", toolTip=TOOLTIPS["pretrained"])
        browse.clicked.connect(self._browse_pretrained)
        self.consistent = QCheckBox("3D-consistent mask", toolTip=TOOLTIPS["consistent"])
        self.consistent.setChecked(postprocess.ON_BY_DEFAULT)
        pretrained_row = QHBoxLayout()
        pretrained_row.addWidget(self.pretrained)
        pretrained_row.addWidget(browse)
        form = QFormLayout()
        for label, field in [
            ("Slice axis", self.axis),
            ("Profile", self.profile),
            ("Iterations", self.iterations),
            ("Run length", self.run_length),
            ("Time cap", self.seconds),
            ("Device", self.device),
            ("Swin weights", pretrained_row),
            ("Predictions", self.consistent),
        ]:
            form.addRow(label, field)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self._build_advanced(default))
        self.profile.currentTextChanged.connect(self._on_profile_changed)
        for changed in (
            self.iterations.valueChanged,
            self.device.currentTextChanged,
            self.method.currentIndexChanged,
        ):
            changed.connect(self.show_run_length)
        self.method.currentIndexChanged.connect(lambda *_: self.method_changed.emit(self.method_value()))
        self.show_run_length()

    def _build_advanced(self, default: TrainConfig) -> QCollapsible:
        self.method = QComboBox(toolTip=TOOLTIPS["method"])
        for value in METHODS:
            self.method.addItem(f"{value}: {method_named(value).label}", value)
        self.cnn_lr = _float_box(1e-6, 1.0, 6, "cnn_lr")
        self.swin_lr = _float_box(1e-6, 1.0, 6, "swin_lr")
        self.contrastive_weight = _float_box(0.0, 10.0, 4, "contrastive_weight")
        self.temperature = _float_box(0.01, 10.0, 3, "temperature")
        self.max_sets = QSpinBox(minimum=1, maximum=4096, toolTip=TOOLTIPS["max_sets"])
        self.max_pixels = QSpinBox(minimum=16, maximum=65536, toolTip=TOOLTIPS["max_pixels"])
        self.batch = QSpinBox(minimum=2, maximum=256, toolTip=TOOLTIPS["batch"])
        self._show_profile(default)
        advanced = QCollapsible("Advanced")
        box = QWidget()
        form = QFormLayout(box)
        for label, field in [
            ("Method", self.method),
            ("CNN learning rate", self.cnn_lr),
            ("Swin learning rate", self.swin_lr),
            ("Contrastive weight", self.contrastive_weight),
            ("Temperature", self.temperature),
            ("Max sets per scale", self.max_sets),
            ("Max pixels per set", self.max_pixels),
            ("Batch size", self.batch),
        ]:
            form.addRow(label, field)
        advanced.addWidget(box)
        self.advanced = advanced
        return advanced

    def method_value(self) -> str:
        """The chosen method's value, as ``TrainConfig.method`` spells it."""
        return self.method.currentData()

    def train_text(self) -> str:
        """What the Train button says for the chosen method."""
        return method_named(self.method_value()).train_text

    def _show_profile(self, config: TrainConfig) -> None:
        """Show a profile's values in the Advanced fields."""
        self.method.setCurrentIndex(self.method.findData(config.method))
        self.cnn_lr.setValue(config.cnn_lr)
        self.swin_lr.setValue(config.swin_lr)
        self.contrastive_weight.setValue(config.contrastive_weight)
        self.temperature.setValue(config.temperature)
        self.max_sets.setValue(config.max_sets[0])
        self.max_pixels.setValue(config.max_pixels_per_set)
        self.batch.setValue(config.batch_size)

    def _on_profile_changed(self, name: str) -> None:
        self.iterations.setValue(0)
        self._show_profile(profile_config(name.lower()))
        self.show_run_length()

    def config(self) -> TrainConfig:
        """The ``TrainConfig`` these settings describe (``training.spec``; a ValueError
        saying what to change when they do not fit)."""
        name = self.profile.currentText().lower()
        advanced = {
            "cnn_lr": self.cnn_lr.value(),
            "swin_lr": self.swin_lr.value(),
            "contrastive_weight": self.contrastive_weight.value(),
            "temperature": self.temperature.value(),
            "max_pixels_per_set": self.max_pixels.value(),
            "max_sets": (self.max_sets.value(), *profile_config(name).max_sets[1:]),
        }
        return run_config(
            RunChoices(
                profile=name,
                method=self.method_value(),
                iterations=self.iterations.value() or None,  # 0: the profile's
                max_seconds=float(self.seconds.value()),
                device=self.device.currentText(),
                batch_size=self.batch.value(),
                swin_weights=self.pretrained.text(),
                settings=advanced,
            )
        )

    def show_run_length(self, *_args) -> None:
        """The planned iterations and, once measured here, how long they take."""
        from napari_mcsc.devices import pick_device
        from napari_mcsc.training.speed_memory import describe_run_length

        try:
            config = self.config()
            device = pick_device(config.device).type
        except (ValueError, RuntimeError) as exc:
            self.run_length.setText(str(exc))
            return
        self.run_length.setText(describe_run_length(config, device))

    def _browse_pretrained(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Swin Transformer weights", "", "Weights (*.pth *.pt *.bin *.safetensors)"
        )
        if path:
            self.pretrained.setText(path)


def _float_box(low: float, high: float, decimals: int, key: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox(minimum=low, maximum=high, decimals=decimals, toolTip=TOOLTIPS[key])
    box.setSingleStep(10 ** -(decimals - 1))
    return box
