"""The dock widget: paint a few slices, train semi-supervised, correct, retrain.

A thin layer over the core: it copies layer data into plain arrays, runs a
``TrainingJob`` (or a prediction job) in a napari worker thread, and puts the arrays
that come back into layers. No training logic lives here. Rules kept:
no layer or Qt object is touched in the worker; results go to the layers a run started
with, whatever is selected by then; one run at a time; an error in the worker becomes
a notification and leaves the widget usable; closing the viewer stops the worker.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

import napari_mcsc  # noqa: F401  (keeps torch from importing triton: see _torch_env)
from napari_mcsc._qt.layer_table import LayerTable
from napari_mcsc._qt.layers import remove_role, show_labels, show_preview, show_uncertainty
from napari_mcsc._qt.loss_plot import LossPlot
from napari_mcsc._qt.tooltips import TOOLTIPS
from napari_mcsc._reader import METADATA_KEY
from napari_mcsc.jobs import ImageInput, Status, TrainingJob, TrainResult, prediction_job
from napari_mcsc.review import annotated_slices, next_uncertain_slice
from napari_mcsc.training.config import METHODS, PROFILES, profile
from napari_mcsc.training.events import ProgressEvent

REVIEWED_KEY = "reviewed"


def _reviewed(labels_layer) -> list[int]:
    return list(labels_layer.metadata.get(METADATA_KEY, {}).get(REVIEWED_KEY, []))


class WorkerError(Exception):
    """An error raised in the worker thread, re-raised under a type that is reported.

    superqt's workers treat a ``RuntimeError`` as "the worker was deleted" and swallow it
    without emitting ``errored`` or ``finished``; torch's errors (out of memory among
    them) are ``RuntimeError``s, and the widget would wait forever.
    """


def _reported(job_run, *args):
    """A generator function running ``job_run(*args)`` whose errors always get reported."""

    def run():
        try:
            return (yield from job_run(*args))
        except RuntimeError as exc:
            error = WorkerError(str(exc) or exc.__class__.__name__)
            error.out_of_memory = _is_out_of_memory(exc)
            raise error from exc

    return run


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


OUT_OF_MEMORY_ADVICE = (
    "the device ran out of memory. Lower 'Batch size', 'Max sets per scale' or 'Max pixels per "
    "set' in Advanced, use the Fast profile (smaller images), or train on another Device "
    "(the CPU uses main memory). The model trained so far is kept.")


class RunState:
    """The layers a run started with, so results land there whatever happens meanwhile."""

    def __init__(self, annotated: list, unlabelled: list, axis: int) -> None:
        self.annotated = annotated  # [(image layer, labels layer)]
        self.unlabelled = unlabelled  # [image layer]
        self.axis = axis

    @property
    def images(self) -> list:
        return [img for img, _ in self.annotated] + list(self.unlabelled)


class MCSCWidget(QWidget):
    """Train semi-supervised (MCSC) on the slices painted in Labels layers."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.model = None  # SegmentationModel of the last run or load
        self.worker = None
        self.job: TrainingJob | None = None
        self.run_state: RunState | None = None
        self.last_result: TrainResult | None = None
        self.rankings: dict[int, list[int]] = {}  # id(image layer) -> slices, most uncertain first
        self._view_slice = 0
        self._pbar = None
        self._build()
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        self.viewer.dims.events.current_step.connect(self._on_dims_changed)
        self._on_layers_changed()

    # ------------------------------------------------------------------- UI
    def _build(self) -> None:
        from napari_mcsc.devices import available_devices

        layout = QVBoxLayout(self)
        self.table = LayerTable(self.viewer, self)
        layout.addWidget(QLabel("Images and their annotations"))
        layout.addWidget(self.table)
        add_unlabelled = QPushButton("Add unlabelled scans...", toolTip=TOOLTIPS["add_unlabelled"])
        add_unlabelled.clicked.connect(self._browse_unlabelled)
        layout.addWidget(add_unlabelled)

        form = QFormLayout()
        self.axis = QSpinBox(minimum=0, maximum=2, value=0, toolTip=TOOLTIPS["axis"])
        self.profile = QComboBox(toolTip=TOOLTIPS["profile"])
        self.profile.addItems([name.capitalize() for name in PROFILES])
        self.profile.currentTextChanged.connect(self._on_profile_changed)
        self.seconds = QSpinBox(minimum=0, maximum=7 * 24 * 3600, value=0, suffix=" s",
                                toolTip=TOOLTIPS["seconds"], specialValueText="no cap")
        self.iterations = QSpinBox(minimum=0, maximum=10_000_000, value=0, toolTip=TOOLTIPS["iterations"],
                                   specialValueText="profile default")
        self.device = QComboBox(toolTip=TOOLTIPS["device"])
        self.device.addItems(["auto", *available_devices()])
        pretrained_row = QHBoxLayout()
        self.pretrained = QLineEdit(placeholderText="none (optional)", toolTip=TOOLTIPS["pretrained"])
        browse = QPushButton("...", toolTip=TOOLTIPS["pretrained"])
        browse.clicked.connect(self._browse_pretrained)
        pretrained_row.addWidget(self.pretrained)
        pretrained_row.addWidget(browse)
        form.addRow("Slice axis", self.axis)
        form.addRow("Profile", self.profile)
        self.run_length = QLabel(toolTip=TOOLTIPS["run_length"], wordWrap=True)
        form.addRow("Iterations", self.iterations)
        form.addRow("Run length", self.run_length)
        form.addRow("Time cap", self.seconds)
        form.addRow("Device", self.device)
        form.addRow("Swin weights", pretrained_row)
        layout.addLayout(form)

        self.advanced = QCollapsible("Advanced")
        adv = QWidget()
        adv_form = QFormLayout(adv)
        fast = profile("fast")
        self.method = QComboBox(toolTip=TOOLTIPS["method"])
        self.method.addItems(list(METHODS))
        self.cnn_lr = self._float_box(fast.cnn_lr, 1e-6, 1.0, 6, "cnn_lr")
        self.swin_lr = self._float_box(fast.swin_lr, 1e-6, 1.0, 6, "swin_lr")
        self.contrastive_weight = self._float_box(fast.contrastive_weight, 0.0, 10.0, 4, "contrastive_weight")
        self.temperature = self._float_box(fast.temperature, 0.01, 10.0, 3, "temperature")
        self.max_sets = QSpinBox(minimum=1, maximum=4096, value=fast.max_sets[0],
                                 toolTip=TOOLTIPS["max_sets"])
        self.max_pixels = QSpinBox(minimum=16, maximum=65536, value=fast.max_pixels_per_set,
                                   toolTip=TOOLTIPS["max_pixels"])
        self.batch = QSpinBox(minimum=2, maximum=256, value=fast.batch_size, toolTip=TOOLTIPS["batch"])
        for label, box in [("Method", self.method), ("CNN learning rate", self.cnn_lr),
                           ("Swin learning rate", self.swin_lr),
                           ("Contrastive weight", self.contrastive_weight),
                           ("Temperature", self.temperature), ("Max sets per scale", self.max_sets),
                           ("Max pixels per set", self.max_pixels), ("Batch size", self.batch)]:
            adv_form.addRow(label, box)
        self.advanced.addWidget(adv)
        layout.addWidget(self.advanced)

        self.train_button = QPushButton("Train semi-supervised", toolTip=TOOLTIPS["train"])
        self.train_button.clicked.connect(self._on_train_clicked)
        layout.addWidget(self.train_button)
        self.progress = QProgressBar(minimum=0, maximum=1000, value=0, textVisible=True)
        self.progress.setFormat("idle")
        layout.addWidget(self.progress)
        self.status = QLabel("Paint a few slices, then train.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.losses = QLabel("")
        self.losses.setWordWrap(True)
        layout.addWidget(self.losses)
        self.plot = LossPlot(self)
        layout.addWidget(self.plot)

        row = QHBoxLayout()
        self.next_button = QPushButton("Next uncertain slice", toolTip=TOOLTIPS["next"])
        self.next_button.clicked.connect(self.next_uncertain_slice)
        self.accept_button = QPushButton("Accept slice", toolTip=TOOLTIPS["accept"])
        self.accept_button.clicked.connect(self.accept_slice)
        self.reviewed_button = QPushButton("Mark slice reviewed", toolTip=TOOLTIPS["reviewed"])
        self.reviewed_button.clicked.connect(self.mark_slice_reviewed)
        for b in (self.next_button, self.accept_button, self.reviewed_button):
            row.addWidget(b)
        layout.addLayout(row)
        self.ranking_label = QLabel("")
        self.ranking_label.setWordWrap(True)
        layout.addWidget(self.ranking_label)

        row = QHBoxLayout()
        self.save_button = QPushButton("Save model", toolTip=TOOLTIPS["save"])
        self.save_button.clicked.connect(self._on_save_clicked)
        self.load_button = QPushButton("Load model", toolTip=TOOLTIPS["load"])
        self.load_button.clicked.connect(self._on_load_clicked)
        row.addWidget(self.save_button)
        row.addWidget(self.load_button)
        layout.addLayout(row)
        row = QHBoxLayout()
        self.predict_image = QComboBox(toolTip=TOOLTIPS["predict_image"])
        self.predict_button = QPushButton("Predict", toolTip=TOOLTIPS["predict"])
        self.predict_button.clicked.connect(self.predict)
        row.addWidget(self.predict_image, 1)
        row.addWidget(self.predict_button)
        layout.addLayout(row)
        layout.addStretch(1)
        self.iterations.valueChanged.connect(self._show_run_length)
        self.device.currentTextChanged.connect(self._show_run_length)
        self.method.currentTextChanged.connect(self._show_run_length)
        self._show_run_length()
        self._update_buttons()

    def _float_box(self, value: float, low: float, high: float, decimals: int, key: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox(minimum=low, maximum=high, decimals=decimals, value=value, toolTip=TOOLTIPS[key])
        box.setSingleStep(10 ** -(decimals - 1))
        return box

    def _update_buttons(self) -> None:
        busy = self.worker is not None
        has_model = self.model is not None
        for b in (self.save_button, self.predict_button):
            b.setEnabled(has_model and not busy)
        self.load_button.setEnabled(not busy)
        has_pred = self.run_state is not None and self.last_result is not None
        for b in (self.accept_button, self.next_button):
            b.setEnabled(has_pred)

    # ---------------------------------------------------------------- events
    def _on_layers_changed(self, *_args) -> None:
        self.table.refresh()
        current = self.predict_image.currentText()
        self.predict_image.clear()
        names = [layer.name for layer in self.viewer.layers
                 if layer._type_string == "image" and layer.ndim == 3
                 and not layer.name.endswith(" uncertainty")]
        self.predict_image.addItems(names)
        if current in names:
            self.predict_image.setCurrentText(current)

    def _on_dims_changed(self, *_args) -> None:
        self._view_slice = self._slice_in_view()

    def _on_profile_changed(self, name: str) -> None:
        self.iterations.setValue(0)
        self.batch.setValue(profile(name.lower()).batch_size)
        self._show_run_length()

    def _show_run_length(self, *_args) -> None:
        """The planned iterations and, once measured here, how long they take."""
        from napari_mcsc.devices import pick_device
        from napari_mcsc.training.speed_memory import describe_run_length

        try:
            config = self.make_config()
            device = pick_device(config.device).type
        except (ValueError, RuntimeError) as exc:
            self.run_length.setText(str(exc))
            return
        self.run_length.setText(describe_run_length(config, device))

    def _browse_unlabelled(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Unlabelled scans of the same study", "",
            "Volumes (*.nii *.nii.gz *.mha *.mhd *.nrrd *.nhdr);;All files (*)")
        if paths:
            self.add_unlabelled(paths)

    def add_unlabelled(self, paths) -> list:
        """Open scans (files, folders of volumes, DICOM folders) as image layers with the
        role Unlabelled: the other scans of a study, which semi-supervision learns from."""
        from napari.utils.notifications import show_warning

        from napari_mcsc._reader import read_layers
        from napari_mcsc.io import expand_volume_paths

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
                    self.table.set_choice(layer, "Unlabelled")
                    added.append(layer)
        self.status.setText(f"{len(added)} unlabelled scan(s) added: they join the next training.")
        return added

    def _browse_pretrained(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Swin Transformer weights", "",
                                              "Weights (*.pth *.pt *.bin *.safetensors)")
        if path:
            self.pretrained.setText(path)

    def _slice_in_view(self, image=None) -> int:
        """Index, in the data of ``image`` (default: the run's first image), of the slice
        shown along the slice axis."""
        axis = self.run_state.axis if self.run_state else self.axis.value()
        if image is None:
            image = self._focus_image()
        if image is None:
            step = self.viewer.dims.current_step
            return int(step[axis]) if len(step) == 3 else 0
        coords = image.world_to_data(self.viewer.dims.point)
        index = round(float(np.asarray(coords)[-3:][axis]))
        return int(np.clip(index, 0, image.data.shape[axis] - 1))

    def _focus_image(self):
        """The image the correction tools act on: the active layer's image if it belongs
        to the last run, else the run's first annotated image."""
        if self.run_state is None:
            images = [s.image for s in self.table.selections()]
            return images[0] if images else None
        active = self.viewer.layers.selection.active
        for image, labels in self.run_state.annotated:
            if (active is not None and active.name.startswith(image.name)) or active is labels:
                return image
        return self.run_state.annotated[0][0] if self.run_state.annotated else None

    # ------------------------------------------------------------- training
    def make_config(self):
        overrides = {
            "device": self.device.currentText(),
            "method": self.method.currentText(),
            "cnn_lr": self.cnn_lr.value(),
            "swin_lr": self.swin_lr.value(),
            "contrastive_weight": self.contrastive_weight.value(),
            "temperature": self.temperature.value(),
            "max_pixels_per_set": self.max_pixels.value(),
            "max_seconds": float(self.seconds.value()) or None,
        }
        name = self.profile.currentText().lower()
        base = profile(name)
        overrides["max_sets"] = (self.max_sets.value(), *base.max_sets[1:])
        batch = self.batch.value()
        if batch != base.batch_size:  # keep the profile's labelled share, about 2/3 otherwise
            labelled = max(1, min(batch - 1, round(batch * 2 / 3)))
            overrides.update(batch_size=batch, labelled_batch_size=labelled)
        if self.iterations.value():
            overrides["iterations"] = self.iterations.value()
        return profile(name, **overrides).with_pretrained_swin(self.pretrained.text().strip() or None)

    def _on_train_clicked(self) -> None:
        if self.worker is not None:
            self.stop()
        else:
            self.train()

    def train(self) -> None:
        """Start training in a worker thread (refused while another run is going)."""
        from napari.qt.threading import create_worker
        from napari.utils.notifications import show_info, show_warning

        if self.worker is not None:
            show_info("A training or prediction is already running: stop it first.")
            return
        selections = self.table.selections()
        annotated = [(s.image, s.labels) for s in selections if s.role == "Train"]
        unlabelled = [s.image for s in selections if s.role == "Unlabelled"]
        missing = [img.name for img, lab in annotated if lab is None]
        if not annotated or missing:
            show_warning("Choose an image with role 'Train' and its Labels layer "
                         "(a Labels layer of the same shape) first." +
                         (f" No Labels layer for: {', '.join(missing)}." if missing else ""))
            return
        try:
            config = self.make_config()
        except ValueError as exc:
            show_warning(f"Cannot train with these settings: {exc}")
            return
        axis = self.axis.value()
        run = RunState(annotated, unlabelled, axis)
        inputs = [ImageInput(img.name, np.asarray(img.data), np.array(lab.data, copy=True),
                             _reviewed(lab), key=img) for img, lab in annotated]
        extra = [ImageInput(img.name, np.asarray(img.data), key=img) for img in unlabelled]
        init = self.model if (self.model is not None and self.model.axis == axis) else None
        self.run_state = run
        self._view_slice = self._slice_in_view(annotated[0][0])
        self.job = TrainingJob(config, inputs, extra, axis=axis, init=init,
                               preview_request=self._preview_request)
        self.plot.clear()
        self._start_progress()
        self.status.setText("Starting..." + (" (fine-tuning the current model)" if init else ""))
        self.train_button.setText("Stop")
        self.train_button.setToolTip(TOOLTIPS["stop"])
        self.worker = create_worker(_reported(self.job.run), _start_thread=False,
                                    _connect={"errored": self._on_error})
        self.worker.yielded.connect(self._on_yielded)
        self.worker.returned.connect(self._on_train_returned)
        self.worker.finished.connect(self._on_finished)
        self._guard_worker(self.job, self.worker)
        self._update_buttons()
        self.worker.start()

    def _preview_request(self):
        """Called in the worker: which slice to preview (reads plain ints only)."""
        return (0, self._view_slice)

    def stop(self) -> None:
        """Stop after the current iteration; the model so far is kept and used."""
        if self.job is not None:
            self.job.request_stop()
            self.train_button.setText("Stopping...")
            self.train_button.setEnabled(False)

    def _guard_worker(self, job, worker) -> None:
        """Stop the worker when this widget goes away (viewer closed)."""

        def stop_on_destroy(*_args, job=job, worker=worker):
            if job is not None:
                job.request_stop()
            with contextlib.suppress(RuntimeError):
                worker.quit()

        self.destroyed.connect(stop_on_destroy)

    def _start_progress(self) -> None:
        from napari.utils import progress

        self._close_progress()
        self._pbar = progress(total=0, desc="MCSC training")
        self.progress.setValue(0)
        self.progress.setFormat("starting")

    def _close_progress(self) -> None:
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None

    def _on_yielded(self, event) -> None:
        if isinstance(event, Status):
            self.status.setText(event.text[0].upper() + event.text[1:] + "...")
            if self._pbar is not None:
                self._pbar.set_description(f"MCSC: {event.text}")
            return
        if not isinstance(event, ProgressEvent):
            return
        self.progress.setValue(int(1000 * min(1.0, event.progress)))
        self.progress.setFormat(f"it {event.iteration}/{event.total} · ETA {event.eta_seconds:.0f} s")
        if self._pbar is not None:
            self._pbar.total = event.total
            self._pbar.n = event.iteration
            self._pbar.refresh()
        self.losses.setText(_format_losses(event))
        self.plot.add(event.losses.get("total", math.nan))
        if event.preview is not None and self.run_state is not None:
            image = self.run_state.annotated[event.preview.volume_index][0]
            if image in self.viewer.layers:
                show_preview(self.viewer, image, self.run_state.axis, event.preview.slice_index,
                             event.preview.labels)

    def _on_train_returned(self, result: TrainResult) -> None:
        self.model = result.model
        self.last_result = result
        run = self.run_state
        removed = []
        for image, pred in zip(run.images, result.predictions, strict=True):
            self.rankings[id(image)] = pred.ranking or []
            if image not in self.viewer.layers:
                removed.append(image.name)  # nothing to show it over
                continue
            remove_role(self.viewer, image, "preview")
            show_uncertainty(self.viewer, image, pred.uncertainty)
            show_labels(self.viewer, image, pred.labels, "prediction")
        how = "stopped early" if result.stopped_early else "done"
        if removed:
            from napari.utils.notifications import show_info

            show_info(f"{', '.join(removed)} was removed during training, so its prediction is not "
                      "shown; open it again and click Predict (the model is kept).")
        if result.warning:
            from napari.utils.notifications import show_warning

            how = "incomplete"
            show_warning(result.warning)
        self._show_run_length()
        self.status.setText(
            f"Training {how}: {result.iterations} iterations in {result.seconds:.0f} s "
            f"({self.model.trained_iterations} in all). Correct the most uncertain slices and train again."
        )
        self._show_ranking()

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        message = str(exc) or exc.__class__.__name__
        if getattr(exc, "out_of_memory", False) or _is_out_of_memory(exc):
            message = OUT_OF_MEMORY_ADVICE
        show_error(f"napari-mcsc: {message}")
        self.status.setText(f"Error: {message}")
        trained = self.job.model if self.job is not None else None
        if trained is not None and trained.trained_iterations:
            self.model = trained  # keep what was trained before the error

    def _on_finished(self) -> None:
        self.worker = None
        self.job = None
        self._close_progress()
        self.train_button.setText("Train semi-supervised")
        self.train_button.setToolTip(TOOLTIPS["train"])
        self.train_button.setEnabled(True)
        self.progress.setFormat("idle" if self.last_result is None else "done")
        self._update_buttons()

    # ---------------------------------------------------------- corrections
    def _pair_in_focus(self):
        image = self._focus_image()
        if self.run_state is None or image is None:
            return None, None, None
        labels = dict((id(i), lab) for i, lab in self.run_state.annotated).get(id(image))
        prediction = next((layer for layer in self.viewer.layers
                           if layer.name == f"{image.name} prediction"), None)
        return image, labels, prediction

    def accept_slice(self) -> None:
        """Copy the predicted slice in view into the annotation layer."""
        from napari.utils.notifications import show_warning

        image, labels, prediction = self._pair_in_focus()
        if labels is None or prediction is None:
            show_warning("Train first: there is no prediction to accept.")
            return
        axis, index = self.run_state.axis, self._slice_in_view(image)
        view = [slice(None)] * 3
        view[axis] = index
        view = tuple(view)
        painted = np.asarray(labels.data[view])
        # Voxels the user painted on this slice stay theirs; the prediction fills the rest.
        labels.data[view] = np.where(painted != 0, painted, np.asarray(prediction.data)[view])
        labels.refresh()
        kept = int(np.count_nonzero(painted))
        self.status.setText(f"Slice {index} of {image.name} accepted into {labels.name}"
                            + (f" ({kept} painted voxels kept)" if kept else "")
                            + ": fix it with the brush.")

    def mark_slice_reviewed(self) -> None:
        """Count the slice in view as annotated even when it is all background."""
        from napari.utils.notifications import show_warning

        selections = [s for s in self.table.selections() if s.role == "Train" and s.labels is not None]
        image, labels, _ = self._pair_in_focus()
        if labels is None and selections:
            image, labels = selections[0].image, selections[0].labels
        if labels is None:
            show_warning("Choose an image with role 'Train' and its Labels layer first.")
            return
        index = self._slice_in_view(image)
        meta = labels.metadata.setdefault(METADATA_KEY, {})
        meta[REVIEWED_KEY] = sorted(set(meta.get(REVIEWED_KEY, [])) | {index})
        self.status.setText(f"Slice {index} of {labels.name} marked reviewed.")

    def next_uncertain_slice(self) -> int | None:
        """Move the viewer to the most uncertain slice not painted or reviewed yet."""
        image, labels, _ = self._pair_in_focus()
        if image is None:
            return None
        axis = self.run_state.axis
        done = (annotated_slices(np.asarray(labels.data), _reviewed(labels), axis)
                if labels is not None else [])
        target = next_uncertain_slice(self.rankings.get(id(image), []), done)
        if target is None:
            self.status.setText("Every slice is painted or reviewed.")
            return None
        point = np.zeros(image.ndim)
        point[axis] = target
        world = image.data_to_world(point)
        self.viewer.dims.set_point(axis + self.viewer.dims.ndim - 3, float(np.asarray(world)[axis]))
        self._view_slice = target
        self.status.setText(f"Slice {target} of {image.name}: the most uncertain one not annotated yet.")
        return target

    def _show_ranking(self) -> None:
        image = self._focus_image()
        ranking = self.rankings.get(id(image), []) if image is not None else []
        if ranking:
            slices = ", ".join(map(str, ranking[:8]))
            self.ranking_label.setText(f"Most uncertain slices of {image.name}: {slices}")

    # ------------------------------------------------------ save/load/predict
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

        if self.model is None:
            show_info("There is no model yet: train or load one first.")
            return None
        try:
            written = save_model(self.model, path)
        except OSError as exc:
            show_error(f"Could not save the model to {path}: {exc}")
            return None
        self.status.setText(f"Model saved to {written}")
        return written

    def load_model(self, path: str | Path) -> bool:
        from napari.utils.notifications import show_error

        from napari_mcsc.checkpoint import CheckpointError, load_model

        try:
            self.model = load_model(path)
        except (CheckpointError, FileNotFoundError) as exc:
            show_error(str(exc))
            return False
        self.axis.setValue(self.model.axis)
        self.status.setText(f"Loaded {Path(path).name}: classes {list(self.model.mapping.values)}, "
                            f"{self.model.trained_iterations} iterations. Train fine-tunes it.")
        self._update_buttons()
        return True

    def predict(self) -> None:
        """Predict the chosen image layer with the current model, in a worker thread."""
        from napari.qt.threading import create_worker
        from napari.utils.notifications import show_info

        if self.worker is not None:
            show_info("A training or prediction is already running: stop it first.")
            return
        name = self.predict_image.currentText()
        if self.model is None or not name or name not in self.viewer.layers:
            show_info("Load or train a model and choose an image layer first.")
            return
        image = self.viewer.layers[name]
        items = [ImageInput(image.name, np.asarray(image.data), key=image)]
        self.worker = create_worker(_reported(prediction_job, self.model, items), _start_thread=False,
                                    _connect={"errored": self._on_error})
        self.worker.yielded.connect(self._on_yielded)
        self.worker.returned.connect(lambda preds, image=image: self._on_predicted(image, preds[0]))
        self.worker.finished.connect(self._on_finished)
        self._guard_worker(None, self.worker)
        self._update_buttons()
        self.worker.start()

    def _on_predicted(self, image, pred) -> None:
        self.rankings[id(image)] = pred.ranking or []
        if image in self.viewer.layers:
            show_uncertainty(self.viewer, image, pred.uncertainty)
            show_labels(self.viewer, image, pred.labels, "prediction")
        self.status.setText(f"Predicted {image.name}.")


def _format_losses(event: ProgressEvent) -> str:
    losses = event.losses
    parts = [f"loss {losses.get('total', math.nan):.3f}"]
    for name, label in (("sup", "sup"), ("ct", "cross"), ("con", "contrast")):
        values = [v for k, v in losses.items() if k.startswith(name + "_") and k != "ct_weight"]
        if values:
            parts.append(f"{label} " + "/".join(f"{v:.3f}" for v in values))
    parts.append(f"{event.seconds_per_iteration:.2f} s/it")
    return " · ".join(parts)
