"""The dock widget on a real viewer (Xvfb): the whole paint-train-correct-retrain loop."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from napari_mcsc._qt.widget import MCSCWidget  # noqa: E402
from napari_mcsc._sample_data import make_sample_layers  # noqa: E402
from napari_mcsc.data.phantom import make_phantom  # noqa: E402
from tiny import TINY_SETTINGS  # noqa: E402


@pytest.fixture()
def viewer_widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    for data, kwargs, kind in make_sample_layers():
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = MCSCWidget(viewer)
    viewer.window.add_dock_widget(widget)
    # A tiny, quick configuration: the loop, not the accuracy, is under test here.
    widget.seconds.setValue(0)
    widget.settings.iterations.setValue(3)
    return viewer, widget


def _shrink(widget, monkeypatch, **changes):
    """Make the widget's config small enough for a test."""
    original = widget.settings.config

    def small():
        return original().replace(**TINY_SETTINGS, **changes)

    monkeypatch.setattr(widget.settings, "config", small)


def _train_and_wait(widget, qtbot, timeout=120_000):
    widget.train()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout)


def test_defaults_pick_the_image_and_its_labels(viewer_widget):
    _viewer, widget = viewer_widget
    selections = widget.table.selections()
    assert len(selections) == 1
    assert selections[0].image.name == "phantom" and selections[0].labels.name == "phantom annotations"
    assert selections[0].role == "Train"
    assert widget.train_button.text() == "Train (supervised)"
    assert all(
        w.toolTip()
        for w in (
            widget.settings.axis,
            widget.settings.profile,
            widget.seconds,
            widget.settings.device,
            widget.train_button,
            widget.review.accept_button,
            widget.model_bar.save_button,
        )
    )


def test_whole_loop_gives_prediction_and_uncertainty_layers(viewer_widget, qtbot, monkeypatch):
    viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    widget.settings.iterations.setValue(60)
    image = viewer.layers["phantom"]
    _train_and_wait(widget, qtbot)
    pred = viewer.layers["phantom prediction"]
    unc = viewer.layers["phantom uncertainty"]
    assert pred.data.shape == image.data.shape and unc.data.shape == image.data.shape
    np.testing.assert_allclose(pred.scale, image.scale)
    np.testing.assert_allclose(unc.scale, image.scale)
    assert "phantom preview" not in viewer.layers
    truth = make_phantom((12, 96, 96), seed=0).labels
    painted = {int(i) for i in np.flatnonzero(viewer.layers["phantom annotations"].data.any(axis=(1, 2)))}
    keep = [s for s in range(12) if s not in painted]
    from napari_mcsc.metrics import evaluate_volume

    dice = evaluate_volume(pred.data[keep], truth[keep], classes=[1, 2, 3])["mean"]["dice"]
    assert dice > 0.3, dice  # chance level for three small structures is far below this
    assert widget.train_button.text() == "Train (supervised)" and widget.model_bar.save_button.isEnabled()
    ranking = widget.loop.rankings[id(image)]
    assert sorted(ranking) == list(range(12))


def test_stop_in_the_middle_keeps_a_usable_model(viewer_widget, qtbot, monkeypatch):
    viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    widget.settings.iterations.setValue(100_000)
    events = []
    widget.train()
    widget.worker.yielded.connect(events.append)
    qtbot.waitUntil(
        lambda: (
            widget.model is None
            and widget.job is not None
            and widget.job.trainer is not None
            and widget.job.trainer.model.trained_iterations >= 2
        ),
        timeout=60_000,
    )
    widget.stop()
    assert widget.train_button.text() == "Stopping..."
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert widget.model is not None and 2 <= widget.model.trained_iterations < 100_000
    assert widget.loop.last_result.stopped_early
    assert "phantom prediction" in viewer.layers
    # The user is told the model is incomplete, with the numbers.
    assert "of the 100000 iterations" in widget.loop.last_result.warning
    assert widget.run_panel.status.text().startswith("Training incomplete")


def test_second_train_is_refused_while_running(viewer_widget, qtbot, monkeypatch):
    _viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    widget.settings.iterations.setValue(100_000)
    widget.train()
    first = widget.worker
    widget.train()
    assert widget.worker is first
    widget.stop()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)


def test_accept_slice_then_train_warm_starts(viewer_widget, qtbot, monkeypatch):
    viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    _train_and_wait(widget, qtbot)
    first_iterations = widget.model.trained_iterations
    target = widget.next_uncertain_slice()
    annotations = viewer.layers["phantom annotations"]
    assert target is not None and not annotations.data[target].any()
    assert viewer.dims.current_step[0] == target
    widget.review.accept_slice()
    np.testing.assert_array_equal(annotations.data[target], viewer.layers["phantom prediction"].data[target])
    _train_and_wait(widget, qtbot)
    assert widget.model.trained_iterations == first_iterations + 3
    assert widget.model.history[-1]["labelled_slices"] >= 2 + (1 if annotations.data[target].any() else 0)


def test_mark_reviewed_counts_an_empty_slice(viewer_widget, qtbot, monkeypatch):
    viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    viewer.dims.set_current_step(0, 0)
    widget.review.mark_slice_reviewed()
    assert viewer.layers["phantom annotations"].metadata["napari_mcsc"]["reviewed"] == [0]
    _train_and_wait(widget, qtbot)
    assert widget.model.history[-1]["labelled_slices"] == 3


def test_save_load_round_trip(viewer_widget, qtbot, monkeypatch, tmp_path):
    viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    _train_and_wait(widget, qtbot)
    before = np.array(viewer.layers["phantom prediction"].data)
    path = widget.model_bar.save_model(tmp_path / "model.pt")
    assert path.is_file()
    widget.loop.model = None
    assert widget.model_bar.load_model(path)
    viewer.layers.remove("phantom prediction")
    widget.model_bar.predict_image.setCurrentText("phantom")
    widget.model_bar.predict()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    np.testing.assert_array_equal(viewer.layers["phantom prediction"].data, before)


def test_results_go_to_the_layers_the_run_started_with(viewer_widget, qtbot, monkeypatch):
    viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    widget.train()
    other = viewer.add_image(np.random.rand(12, 96, 96).astype(np.float32), name="other")
    viewer.layers.selection.active = other
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert "phantom prediction" in viewer.layers and "other prediction" not in viewer.layers


def test_worker_error_becomes_a_notification_and_widget_recovers(viewer_widget, qtbot, monkeypatch):
    _viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    import napari_mcsc.jobs as jobs

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure")

    import napari.utils.notifications as notifications

    monkeypatch.setattr(jobs, "build_slice_set", broken)
    errors = []  # the notifications shown (connecting to the worker after it started would race it)
    monkeypatch.setattr(notifications, "show_error", errors.append)
    widget.train()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    # A RuntimeError (what torch raises, out of memory included) must be reported too.
    assert errors and "simulated failure" in str(errors[0])
    assert "simulated failure" in widget.run_panel.status.text()
    assert widget.train_button.isEnabled() and widget.train_button.text() == "Train (supervised)"


def test_closing_the_viewer_stops_training(make_napari_viewer, qtbot, monkeypatch):
    viewer = make_napari_viewer()
    for data, kwargs, kind in make_sample_layers():
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = MCSCWidget(viewer)
    viewer.window.add_dock_widget(widget)
    _shrink(widget, monkeypatch)
    widget.seconds.setValue(0)
    widget.settings.iterations.setValue(100_000)
    widget.train()
    job = widget.job
    qtbot.waitUntil(
        lambda: job.trainer is not None and job.trainer.model.trained_iterations >= 1, timeout=60_000
    )
    worker = widget.worker
    viewer.close()
    qtbot.waitUntil(lambda: not worker.is_running if hasattr(worker, "is_running") else True, timeout=30_000)
    assert job.trainer.model.trained_iterations < 100_000


def test_table_keeps_choices_when_layers_change(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    image = viewer.layers["phantom"]
    widget.table.set_choice(image, "Unlabelled")
    viewer.add_image(np.zeros((12, 96, 96), np.float32), name="second")
    rows = {s.image.name: s.role for s in widget.table.selections()}
    # The user's choice stays; the new image is proposed for training since none is.
    assert rows == {"phantom": "Unlabelled", "second": "Train"}
    assert [widget.table.item(r, 0).text() for r in range(widget.table.rowCount())] == ["phantom", "second"]
    viewer.layers.remove("second")
    assert widget.table.rowCount() == 1 and widget.table.selections()[0].role == "Unlabelled"


def test_run_length_is_shown_before_the_run(viewer_widget, tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_MCSC_CACHE", str(tmp_path))
    _, widget = viewer_widget
    widget.settings.iterations.setValue(250)
    assert widget.settings.run_length.text().startswith("250 iterations")
    assert "not yet measured" in widget.settings.run_length.text()
    widget.seconds.setValue(0)
    assert widget.settings.config().max_seconds is None and widget.seconds.specialValueText() == "no cap"


def test_several_unlabelled_scans_join_at_once(viewer_widget, tmp_path):
    from napari_mcsc.io import Geometry, write_volume

    _viewer, widget = viewer_widget
    geometry = Geometry.from_zyx(spacing_zyx=(2.0, 1.0, 1.0))
    for index in range(2):
        image = make_phantom((12, 96, 96), seed=10 + index).image.astype(np.float32)
        write_volume(tmp_path / f"scan{index}.nii.gz", image, geometry)
    added = widget.images.add_unlabelled([tmp_path])
    assert [layer.name for layer in added] == ["scan0", "scan1"]
    roles = {s.image.name: s.role for s in widget.table.selections()}
    assert roles == {"phantom": "Train", "scan0": "Unlabelled", "scan1": "Unlabelled"}


def test_out_of_memory_names_the_knobs_and_keeps_the_model(viewer_widget, qtbot, monkeypatch):
    import torch

    from napari_mcsc.training import Trainer

    _viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    widget.settings.iterations.setValue(50)
    original, calls = Trainer._step, []

    def step_then_oom(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_step", step_then_oom)
    _train_and_wait(widget, qtbot)
    text = widget.run_panel.status.text()
    assert "ran out of memory" in text and "Batch size" in text and "Device" in text
    assert widget.model is not None and widget.model.trained_iterations == 2
    assert widget.train_button.isEnabled() and widget.train_button.text() == "Train (supervised)"


def test_image_removed_during_training_is_explained(viewer_widget, qtbot, monkeypatch):
    import napari.utils.notifications as notifications

    viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)  # a preview after every step
    told = []
    monkeypatch.setattr(notifications, "show_info", told.append)
    widget.settings.iterations.setValue(100_000)
    widget.train()
    job = widget.job
    qtbot.waitUntil(lambda: job.model is not None and job.model.trained_iterations >= 1, timeout=60_000)
    qtbot.waitUntil(lambda: "phantom preview" in viewer.layers, timeout=60_000)  # shown before the image goes
    viewer.layers.remove("phantom")
    widget.stop()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert widget.model is not None
    assert not any(
        layer.name.startswith("phantom ") and layer.name != "phantom annotations" for layer in viewer.layers
    )
    assert widget.train_button.isEnabled()
    assert any("phantom was removed during training" in message for message in told)


def test_accept_slice_keeps_what_the_user_painted(viewer_widget, qtbot, monkeypatch):
    viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    _train_and_wait(widget, qtbot)
    target = widget.next_uncertain_slice()
    annotations = viewer.layers["phantom annotations"]
    annotations.data[target, :6, :6] = 2  # a stroke the user made before accepting
    widget.review.accept_slice()
    prediction = viewer.layers["phantom prediction"].data[target]
    assert (annotations.data[target, :6, :6] == 2).all()
    rest = np.ones(prediction.shape, bool)
    rest[:6, :6] = False
    np.testing.assert_array_equal(annotations.data[target][rest], prediction[rest])


def test_settings_come_from_the_profiles(viewer_widget):
    from napari_mcsc.training.config import PROFILES, profile
    from napari_mcsc.training.methods import METHODS

    _viewer, widget = viewer_widget
    settings = widget.settings
    assert [settings.profile.itemText(i).lower() for i in range(settings.profile.count())] == list(PROFILES)
    assert [settings.method.itemData(i) for i in range(settings.method.count())] == list(METHODS)
    assert all(
        settings.method.itemText(i).startswith(f"{value}: ")  # the value, shown clearly
        for i, value in enumerate(METHODS)
    )
    assert settings.profile.currentText().lower() == profile().profile  # the default profile
    settings.iterations.setValue(0)
    for name in PROFILES:
        settings.profile.setCurrentText(name.capitalize())
        made, expected = settings.config(), profile(name)
        for key in (
            "cnn_lr",
            "swin_lr",
            "contrastive_weight",
            "temperature",
            "max_sets",
            "max_pixels_per_set",
            "batch_size",
            "labelled_batch_size",
            "iterations",
            "method",
        ):
            assert getattr(made, key) == getattr(expected, key), (name, key)


def test_method_follows_the_profile_and_the_button_follows_the_method(viewer_widget):
    _viewer, widget = viewer_widget
    settings, button = widget.settings, widget.train_button
    assert settings.method_value() == "sup" and settings.config().method == "sup"  # Fast
    assert button.text() == "Train (supervised)"
    settings.profile.setCurrentText("Paper")
    assert settings.method_value() == "mcsc" and settings.config().method == "mcsc"
    assert button.text() == "Train semi-supervised (MCSC)"
    settings.method.setCurrentIndex(settings.method.findData("sup"))  # a choice of its own
    assert settings.config().method == "sup" and button.text() == "Train (supervised)"
    settings.profile.setCurrentText("Fast")
    settings.method.setCurrentIndex(settings.method.findData("mcsc"))
    assert settings.config().method == "mcsc" and settings.config().profile == "fast"
    assert button.text() == "Train semi-supervised (MCSC)"
    settings.profile.setCurrentText("Paper")
    settings.profile.setCurrentText("Fast")  # choosing a profile again brings back its method
    assert settings.method_value() == "sup" and button.text() == "Train (supervised)"


def test_after_a_run_the_button_says_what_the_next_click_runs(viewer_widget, qtbot, monkeypatch):
    _viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    widget.settings.method.setCurrentIndex(widget.settings.method.findData("mcsc"))
    assert widget.train_button.text() == "Train semi-supervised (MCSC)"
    widget.train()
    assert widget.train_button.text() == "Stop"
    widget.settings.method.setCurrentIndex(widget.settings.method.findData("sup"))
    assert widget.train_button.text() == "Stop"  # while it runs
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert widget.model.history[-1]["method"] == "mcsc"  # what ran
    assert widget.train_button.text() == "Train (supervised)"  # what the next click runs


def test_plugin_layers_are_found_by_their_role_not_their_name(viewer_widget, qtbot, monkeypatch):
    from napari.layers import Labels

    from napari_mcsc.constants import LayerRole

    viewer, widget = viewer_widget
    _shrink(widget, monkeypatch)
    mine = viewer.add_labels(np.zeros((12, 96, 96), np.uint8), name="phantom prediction")
    labels_choices = widget.table.cellWidget(0, 2)
    assert "phantom prediction" in [labels_choices.itemText(i) for i in range(labels_choices.count())]
    _train_and_wait(widget, qtbot)
    assert not mine.data.any() and LayerRole.of(mine) is None  # the user's layer is left alone
    made = [layer for layer in viewer.layers if LayerRole.of(layer) is LayerRole.PREDICTION]
    assert len(made) == 1 and isinstance(made[0], Labels) and made[0] is not mine
    made[0].name = "my segmentation"
    made[0].data = np.full((12, 96, 96), 9, np.uint8)
    count = len(viewer.layers)
    widget.model_bar.predict_image.setCurrentText("phantom")
    assert widget.model_bar.predict_image.count() == 1  # the uncertainty layer is not offered
    widget.model_bar.predict()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert len(viewer.layers) == count and not (made[0].data == 9).any()  # updated, though renamed
