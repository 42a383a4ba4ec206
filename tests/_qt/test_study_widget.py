"""The study panel on a real viewer (Xvfb): open a folder of scans, paint, train a round,
next scan already predicted, next uncertain slice across scans, accept, reopen."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from napari_mcsc._qt.study_sources import STUDY_FOLDER  # noqa: E402
from napari_mcsc._qt.study_widget import StudyWidget  # noqa: E402
from napari_mcsc.constants import ScanState  # noqa: E402
from napari_mcsc.io import read_volume, write_volume  # noqa: E402
from napari_mcsc.study import Study  # noqa: E402
from napari_mcsc.study import settings as settings_module  # noqa: E402
from tiny import TINY_SETTINGS  # noqa: E402


@pytest.fixture()
def scans(tmp_path, phantoms):
    folder = tmp_path / "scans"
    for i, p in enumerate(phantoms):
        write_volume(folder / f"case{i}.nii.gz", p.image)
    return folder


@pytest.fixture()
def tiny_rounds(monkeypatch):
    """Rounds of the tiny networks: 3 iterations first, then 2."""
    original = settings_module.StudySettings.train_config

    def tiny(self, *, first, **overrides):
        overrides = {**TINY_SETTINGS, "device": "cpu", "iterations": 3 if first else 2, **overrides}
        return original(self, first=first, **overrides)

    monkeypatch.setattr(settings_module.StudySettings, "train_config", tiny)
    monkeypatch.setenv("NAPARI_MCSC_TORCH_THREADS", "1")


@pytest.fixture()
def panel(make_napari_viewer, scans, tiny_rounds):
    viewer = make_napari_viewer()
    widget = StudyWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.new_study(scans)
    return viewer, widget


def _paint(widget, truth, slices):
    data = np.zeros_like(widget.layers.labels.data)
    data[slices] = truth[slices]
    widget.layers.labels.data = data  # a data event, as painting sends one


def _wait(widget, qtbot):
    qtbot.waitUntil(lambda: widget.run_panel.worker is None, timeout=120_000)


def test_opening_a_folder_shows_its_first_scan_only(panel, scans):
    viewer, widget = panel
    assert widget.study.folder == scans / STUDY_FOLDER
    assert widget.table.rowCount() == 3 and widget.table.item(0, 1).text() == "new"
    assert [layer.name for layer in viewer.layers] == ["case0", "case0 labels"]
    assert widget.buttons["round"].text() == "Train round"


def test_a_round_then_next_scan_already_predicted_then_accept(panel, phantoms, qtbot):
    viewer, widget = panel
    _paint(widget, phantoms[0].labels, [2, 5])
    widget.train_round()
    _wait(widget, qtbot)
    names = [layer.name for layer in viewer.layers]
    assert "case0 prediction" in names and "case0 uncertainty" in names
    study = Study.open(widget.study.folder)
    assert study.scan("case0").painted == [2, 5] and len(study.rounds) == 1
    assert study.scan("case1").state == ScanState.PREDICTED  # predicted with the round
    widget.next_scan()
    names = [layer.name for layer in viewer.layers]
    assert "case0" not in names and {"case1", "case1 labels", "case1 prediction"} <= set(names)
    widget.next_uncertain_slice()
    assert "slice" in widget.run_panel.status.text()
    widget.open_scan("case0")
    widget.accept_scan()
    mask = read_volume(widget.study.folder / "masks" / "case0.nii.gz").array
    np.testing.assert_array_equal(mask[[2, 5]], phantoms[0].labels[[2, 5]])
    assert widget.study.scan("case0").state == ScanState.ACCEPTED
    assert widget.layers.name == "case1"  # accepting moves on


def test_painting_is_saved_without_a_round_and_the_study_reopens_there(panel, phantoms, make_napari_viewer):
    _viewer, widget = panel
    widget.open_scan("case2")
    _paint(widget, phantoms[2].labels, [4])
    widget.save()  # what the autosave timer does every few seconds
    again = StudyWidget(make_napari_viewer())
    again.open_study(widget.study.folder)
    assert again.layers.name == "case2"
    np.testing.assert_array_equal(again.layers.labels.data[4], phantoms[2].labels[4])


def test_a_study_of_the_open_images_keeps_their_painting(make_napari_viewer, phantoms, tmp_path, tiny_rounds):
    viewer = make_napari_viewer()
    for i, p in enumerate(phantoms[:2]):
        viewer.add_image(p.image, name=f"open{i}", scale=(3.0, 1.5, 1.5))
    painted = np.zeros_like(phantoms[1].labels)
    painted[3] = phantoms[1].labels[3]
    viewer.add_labels(painted, name="open1 painting")
    widget = StudyWidget(viewer)
    study = widget.study_of_layers(tmp_path / "from_layers")
    assert study.names == ["open0", "open1"]
    assert study.scan("open1").painted == [3] and study.scan("open0").painted == []
    assert read_volume(study.source_path("open0")).geometry.spacing_zyx == pytest.approx((3.0, 1.5, 1.5))
    assert [layer.name for layer in viewer.layers] == ["open0", "open0 labels"]  # one scan in view


def test_the_mask_checkbox_is_the_studys_choice(panel, phantoms, qtbot, make_napari_viewer):
    _viewer, widget = panel
    assert widget.options.consistent.isChecked()  # the study's default
    _paint(widget, phantoms[0].labels, [2, 5])
    widget.train_round()
    _wait(widget, qtbot)
    widget.options.consistent.setChecked(False)
    assert "predicting case0 again" in widget.run_panel.status.text()
    _wait(widget, qtbot)
    assert Study.open(widget.study.folder).settings.consistent_mask is False
    again = StudyWidget(make_napari_viewer())
    again.open_study(widget.study.folder)
    assert not again.options.consistent.isChecked()


def test_the_round_length_box_is_the_studys_setting(panel, make_napari_viewer):
    _viewer, widget = panel
    assert widget.options.round_length.value() == 200  # the study's default
    widget.options.round_length.setValue(120)
    assert Study.open(widget.study.folder).settings.round_iterations == 120
    assert "120 iterations" in widget.run_panel.status.text()
    again = StudyWidget(make_napari_viewer())
    again.open_study(widget.study.folder)
    assert again.options.round_length.value() == 120
