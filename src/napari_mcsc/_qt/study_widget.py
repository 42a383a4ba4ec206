"""The study panel: annotate many scans of one protocol with one model carried across them.

Wires buttons to a ``study.StudyWorkspace`` (no Qt there): open a folder of scans as a
study, see each scan's state, paint, train a round, jump to the slice most likely wrong in the
whole study, accept a scan (its mask is written) and move to the next, already predicted.
Only the scan in view has layers; its painting is saved to the study every few seconds,
before every round and when another scan opens, so closing napari loses nothing. Where a
study comes from (a folder of scans, the images open in napari): ``study_sources``.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

import napari_mcsc  # noqa: F401  (keeps torch from importing triton: see _torch_env)
from napari_mcsc._qt import study_sources
from napari_mcsc._qt.layers import go_to_slice
from napari_mcsc._qt.run_panel import RunPanel
from napari_mcsc._qt.scan_layers import ScanLayers
from napari_mcsc._qt.study_options import StudyOptions
from napari_mcsc._qt.study_table import StudyTable
from napari_mcsc._qt.tooltips import TOOLTIPS
from napari_mcsc.study import Study, StudyError
from napari_mcsc.study.workspace import StudyWorkspace

AUTOSAVE_MS = 5000


class StudyWidget(QWidget):
    """A dock widget over one study (see the module docstring)."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.workspace = StudyWorkspace()
        self.layers = ScanLayers(napari_viewer)
        self._dirty = False
        self.title = QLabel("No study open.", wordWrap=True)
        self.table = StudyTable(self)
        self.table.open_requested.connect(self.open_scan)
        self.run_panel = RunPanel(self.workspace, self)
        self.run_panel.finished.connect(self._update)
        buttons = {
            "new": ("New study...", "study_new", self._browse_new),
            "open": ("Open study...", "study_open", self._browse_open),
            "layers": ("Study of open images...", "study_layers", self._browse_layers),
            "round": ("Train round", "study_round", self._on_round_clicked),
            "next_slice": ("Next uncertain slice", "study_next_slice", self.next_uncertain_slice),
            "next_scan": ("Next scan", "study_next_scan", self.next_scan),
            "accept": ("Accept scan", "study_accept", self.accept_scan),
        }
        self.buttons = {}
        for key, (text, tip, slot) in buttons.items():
            button = QPushButton(text, toolTip=TOOLTIPS[tip])
            button.clicked.connect(slot)
            self.buttons[key] = button
        layout = QVBoxLayout(self)
        for row in (("new", "open", "layers"), None, ("round", "next_slice"), ("next_scan", "accept")):
            if row is None:
                layout.addWidget(self.title)
                layout.addWidget(self.table)
                continue
            line = QHBoxLayout()
            for key in row:
                line.addWidget(self.buttons[key])
            layout.addLayout(line)
        self.options = StudyOptions(self)
        self.options.consistent_changed.connect(self.set_consistent_mask)
        self.options.round_length_changed.connect(self.set_round_length)
        layout.addWidget(self.options)
        layout.addWidget(self.run_panel)
        layout.addStretch(1)
        self._autosave = QTimer(self, interval=AUTOSAVE_MS)
        self._autosave.timeout.connect(self.save)
        self._autosave.start()
        self._update()

    @property
    def study(self) -> Study | None:
        return self.workspace.study

    # --------------------------------------------------------------- studies
    def new_study(self, scans, folder: str | Path | None = None) -> Study:
        """A study over ``scans`` (a folder, files or patterns), kept in ``folder``
        (default: a napari-mcsc-study folder beside the first scan), reopened if it exists."""
        return self._show_study(study_sources.study_of_scans(scans, folder))

    def study_of_layers(self, folder: str | Path) -> Study:
        """A study over the 3D images open in the viewer, kept in ``folder``, with what is
        painted in their Labels layers."""
        return self._show_study(study_sources.study_of_layers(self.viewer, folder))

    def open_study(self, folder: str | Path) -> Study:
        return self._show_study(Study.open(folder))

    def _show_study(self, study: Study) -> Study:
        if self.study is not None:
            self.layers.close(self.study)
        self.workspace.open(study)
        self.options.show_settings(study.settings)
        self.open_scan(study.current or study.names[0])
        return study

    # ----------------------------------------------------------------- scans
    def open_scan(self, name: str) -> None:
        """Show scan ``name`` (saving the one in view); predict it in the background when
        the model has not seen it yet."""
        self.workspace.set_current(name)
        self.layers.show(self.study, name)
        self._watch_labels()
        self._update()
        record = self.study.scan(name)
        if self.study.model is not None and record.predicted_round is None and self.run_panel.worker is None:
            todo = [
                n
                for n in (name, self.workspace.upcoming())
                if n and self.study.scan(n).predicted_round is None
            ]
            self.run_panel.start_worker(self.workspace.prediction_run(todo), self._on_predicted)

    def next_scan(self) -> None:
        upcoming = self.workspace.upcoming()
        if upcoming is None:
            self.run_panel.say("Every scan of the study is accepted.")
            return
        self.open_scan(upcoming)

    def accept_scan(self) -> None:
        name = self.layers.name
        if name is None:
            return
        self.layers.save(self.study)
        try:
            path = self.study.accept(name)
        except StudyError as error:
            self.run_panel.say(str(error))
            return
        self.run_panel.say(f"{name} accepted; its mask is in {path}.")
        self.next_scan()

    def next_uncertain_slice(self) -> None:
        self.save()
        found = self.workspace.next_suggestion()
        if found is None:
            self.run_panel.say("No prediction to rank yet: train a round first.")
            return
        if found.scan != self.layers.name:
            self.open_scan(found.scan)
        go_to_slice(self.viewer, self.layers.image, self.study.settings.axis, found.slice)
        why = "a structure came or went here since the last round" if found.changed else "most likely wrong"
        self.run_panel.say(f"{found.scan}, slice {found.slice}: {why}, not painted yet.")

    def set_consistent_mask(self, on: bool) -> None:
        """The study's predictions 3D-consistent or raw; the scan in view is predicted again."""
        if self.study is None:
            return
        again = self.workspace.set_consistent_mask(on)
        state = "3D-consistent" if on else "raw network masks"
        if again and self.run_panel.worker is None:
            self.run_panel.start_worker(self.workspace.prediction_run(again), self._on_predicted)
            self.run_panel.say(f"Predictions: {state}; predicting {again[0]} again.")
        else:
            self.run_panel.say(f"Predictions: {state}, from the next prediction on.")

    def set_round_length(self, iterations: int) -> None:
        """Every later round's iterations: the study's setting, saved with it."""
        if self.study is not None:
            self.workspace.set_round_iterations(iterations)
            self.run_panel.say(f"Rounds after the first: {iterations} iterations.")

    # ---------------------------------------------------------------- rounds
    def _on_round_clicked(self) -> None:
        if self.run_panel.worker is not None:
            self.stop()
        else:
            self.train_round()

    def train_round(self) -> None:
        if self.study is None or not self.run_panel.idle():
            return
        self.save()
        if not self.study.annotated_scans():
            self.run_panel.say("Paint a few slices of this scan first, then train a round.")
            return
        job = self.workspace.start_round()
        self.run_panel.begin_training(job.describe())
        self.run_panel.start_worker(job.run, self._on_round_done)
        self.buttons["round"].setText("Stop")

    def stop(self) -> None:
        if self.workspace.job is not None:
            self.workspace.job.request_stop()

    def _on_round_done(self, result) -> None:
        self.workspace.last_result = result
        self._on_predicted(None)
        seconds = f"{result.seconds:.0f} s"
        self.run_panel.say(f"Round {result.index}: {result.iterations} iterations in {seconds}.")

    def _on_predicted(self, _predictions) -> None:
        self.layers.show_prediction(self.study)
        self._update()

    # --------------------------------------------------------------- saving
    def _watch_labels(self) -> None:
        events = self.layers.labels.events
        for name in ("paint", "data"):
            if hasattr(events, name):
                getattr(events, name).connect(self._mark_dirty)

    def _mark_dirty(self, *_args) -> None:
        self._dirty = True

    def save(self) -> None:
        """Write the painting of the scan in view to the study, if it changed."""
        if self.study is not None and self._dirty:
            self._dirty = False
            self.layers.save(self.study)
            self.table.show_study(self.study)

    def _update(self) -> None:
        busy = self.run_panel.worker is not None
        has_study = self.study is not None
        self.buttons["round"].setText("Stop" if busy and self.workspace.job is not None else "Train round")
        self.buttons["round"].setEnabled(has_study)
        for key in ("next_slice", "next_scan", "accept"):
            self.buttons[key].setEnabled(has_study and not busy)
        self.options.setEnabled(has_study and not busy)
        self.table.show_study(self.study)
        if has_study:
            rounds = len(self.study.rounds)
            self.title.setText(
                f"{self.study.folder} · {len(self.study.scans)} scans · {rounds} round(s) trained"
            )

    # --------------------------------------------------------------- dialogs
    def _browse_new(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of the study's scans")
        if folder:
            self._report(lambda: self.new_study(folder))

    def _browse_layers(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "An empty folder for the study")
        if folder:
            self._report(lambda: self.study_of_layers(folder))

    def _browse_open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Study folder (holding study.json)")
        if folder:
            self._report(lambda: self.open_study(folder))

    def _report(self, action) -> None:
        try:
            action()
        except (StudyError, FileNotFoundError) as error:
            self.run_panel.say(str(error))
