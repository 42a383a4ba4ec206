"""The correction loop's model without a display: plain objects stand in for layers."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from napari_mcsc.constants import IMAGE_KEY, METADATA_KEY, ROLE_KEY, LayerRole
from napari_mcsc.inference import VolumePrediction
from napari_mcsc.jobs import TrainResult
from napari_mcsc.review import CorrectionLoop, is_output_of, mark_reviewed, reviewed_slices

SHAPE = (6, 8, 8)


def _layer(name: str, data: np.ndarray, **entry) -> SimpleNamespace:
    return SimpleNamespace(name=name, data=data, metadata={METADATA_KEY: dict(entry)} if entry else {})


def _image(name: str = "scan") -> SimpleNamespace:
    return _layer(name, np.random.default_rng(0).random(SHAPE, dtype=np.float32))


def _labels(painted=(1,), name: str = "scan annotations") -> SimpleNamespace:
    data = np.zeros(SHAPE, np.uint8)
    for index in painted:
        data[index, 2:5, 2:5] = 1
    return _layer(name, data)


def _finished_run(loop, image, labels, ranking, unlabelled=()):
    """Start a run and hand it a result, as the worker would."""
    loop.start_training(None, [(image, labels)], list(unlabelled), axis=0)
    model = SimpleNamespace(axis=0, trained_iterations=3)
    predictions = [
        VolumePrediction(labels=np.full(SHAPE, 2, np.uint8), ranking=ranking) for _ in [image, *unlabelled]
    ]
    return loop.training_done(TrainResult(model, predictions))


def test_start_training_copies_arrays_and_reviewed_slices():
    loop, image, labels = CorrectionLoop(), _image(), _labels()
    mark_reviewed(labels, 4)
    other = _image("other")
    job = loop.start_training(None, [(image, labels)], [other], axis=0)
    assert loop.job is job and loop.run.images == [image, other] and loop.run.axis == 0
    (item,) = job.annotated
    assert item.name == "scan" and list(item.reviewed) == [4]
    labels.data[0] = 3  # the user paints on while the run goes on
    assert not item.labels[0].any()
    assert job.unlabelled[0].labels is None and job.init is None


def test_training_done_keeps_model_and_rankings_per_image():
    loop, image, labels, other = CorrectionLoop(), _image(), _labels(), _image("other")
    assert not loop.has_prediction
    pairs = _finished_run(loop, image, labels, [3, 1, 0, 2, 4, 5], unlabelled=[other])
    assert [img for img, _ in pairs] == [image, other]
    assert loop.has_prediction and loop.model.trained_iterations == 3
    assert loop.ranking(image) == [3, 1, 0, 2, 4, 5] and loop.ranking(None) == []
    # The next run fine-tunes the model when it slices along the same axis.
    assert loop.warm_start(0) is loop.model and loop.warm_start(1) is None


def test_next_slice_skips_painted_and_reviewed_slices():
    loop, image, labels = CorrectionLoop(), _image(), _labels(painted=(1,))
    _finished_run(loop, image, labels, [1, 3, 0, 2, 4, 5])
    assert loop.next_slice(image) == 3
    mark_reviewed(labels, 3)
    assert reviewed_slices(labels) == [3]
    assert loop.next_slice(image) == 0
    labels.data[:, 0, 0] = 1  # every slice painted
    assert loop.next_slice(image) is None


def test_next_slice_of_an_image_predicted_alone_uses_its_ranking():
    loop, image = CorrectionLoop(), _image()
    assert loop.next_slice(image) is None  # nothing predicted yet
    loop.predicted(image, VolumePrediction(labels=np.zeros(SHAPE, np.uint8), ranking=[5, 4]))
    assert loop.next_slice(image) == 5


def test_accept_slice_keeps_painted_voxels():
    loop, image, labels = CorrectionLoop(), _image(), _labels(painted=())
    _finished_run(loop, image, labels, list(range(6)))
    labels.data[2, :2, :2] = 7
    prediction = np.full(SHAPE, 2, np.uint8)
    assert loop.accept_slice(labels, prediction, 2) == 4
    assert (labels.data[2, :2, :2] == 7).all() and (labels.data[2][2:, 2:] == 2).all()
    assert not labels.data[[0, 1, 3, 4, 5]].any()


def test_accept_slice_follows_the_run_axis():
    loop, image, labels = CorrectionLoop(), _image(), _labels(painted=())
    loop.start_training(None, [(image, labels)], [], axis=2)
    loop.accept_slice(labels, np.ones(SHAPE, np.uint8), 5)
    assert labels.data[:, :, 5].all() and labels.data.sum() == SHAPE[0] * SHAPE[1]


def test_mark_reviewed_is_sorted_and_unique():
    labels = _labels()
    for index in (4, 0, 4):
        mark_reviewed(labels, index)
    assert labels.metadata[METADATA_KEY]["reviewed"] == [0, 4]


def test_focus_image_follows_the_selected_layer():
    loop = CorrectionLoop()
    first, second = _image("a"), _image("b")
    labels_a, labels_b = _labels(name="a annotations"), _labels(name="b annotations")
    assert loop.focus_image(None, [second, first]) is second  # before any run
    loop.start_training(None, [(first, labels_a), (second, labels_b)], [], axis=0)
    assert loop.focus_image(None) is first
    assert loop.focus_image(labels_b) is second and loop.focus_image(second) is second
    made = _layer("renamed", np.zeros(SHAPE, np.uint8), **{ROLE_KEY: "prediction", IMAGE_KEY: "b"})
    assert loop.focus_image(made) is second
    # A layer named like an output but not made by the widget does not count.
    assert loop.focus_image(_layer("b prediction", np.zeros(SHAPE))) is first


def test_layer_roles_come_from_metadata():
    image = _image("scan")
    made = _layer(
        "scan uncertainty", np.zeros(SHAPE), **{ROLE_KEY: LayerRole.UNCERTAINTY.value, IMAGE_KEY: "scan"}
    )
    assert LayerRole.of(made) is LayerRole.UNCERTAINTY and is_output_of(made, image)
    assert not is_output_of(made, _image("other"))
    assert LayerRole.of(image) is None and not is_output_of(image, image)
    assert LayerRole.of(_layer("x", None, **{ROLE_KEY: "unknown"})) is None
    assert LayerRole.PREVIEW.layer_name("scan") == "scan preview"


def test_error_keeps_the_partial_model_and_ends_the_run():
    loop, image, labels = CorrectionLoop(), _image(), _labels()
    loop.start_training(None, [(image, labels)], [], axis=0)
    assert not loop.keep_partial_model()  # nothing trained yet
    stops = []
    trained = SimpleNamespace(trained_iterations=2)
    loop.job = SimpleNamespace(model=trained, request_stop=lambda: stops.append(1))  # a job midway
    assert loop.request_stop() and stops
    assert loop.keep_partial_model() and loop.model.trained_iterations == 2
    loop.run_ended()
    assert loop.job is None and not loop.request_stop()


@pytest.mark.parametrize("module", ["napari_mcsc.review", "napari_mcsc.constants"])
def test_imports_without_qt_or_napari(module):
    code = (
        f"import sys, {module}\n"
        "gui = ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6')\n"
        "bad = [m for m in gui if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_review_choices():
    from napari_mcsc.review import largest_gap_slice, next_uncertain_slice

    assert next_uncertain_slice([4, 2, 7], annotated=[4]) == 2
    assert next_uncertain_slice([4], annotated=[4]) is None
    assert largest_gap_slice(10, [3, 6]) == 1  # slices 0-2 is the first longest run
    assert largest_gap_slice(12, [2, 3]) == 8  # 4..11 is the longest run: its middle
    assert largest_gap_slice(3, [0, 1, 2]) is None


def test_uncertain_gap_slice_splits_the_run_holding_the_most_uncertainty():
    from napari_mcsc.review import largest_gap_slice, uncertain_gap_slice

    flat = [1.0] * 12
    for annotated in ([], [3, 6], [2, 3], [0, 11]):  # equal scores: the largest gap's middle
        assert uncertain_gap_slice(flat, annotated) == largest_gap_slice(12, annotated)
    # slices 0-1 are short but very uncertain; 4..11 is long and sure
    scores = [0.9, 0.9, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    assert uncertain_gap_slice(scores, [2]) == 1
    assert uncertain_gap_slice([0.5] * 3, [0, 1, 2]) is None


def test_slice_to_paint_follows_the_choice_and_falls_back_on_the_largest_gap():
    from napari_mcsc.review import largest_gap_slice, slice_to_paint

    scores = [0.1, 0.9, 0.8, 0.0, 0.0, 0.0, 0.0, 0.2]
    ranking = [1, 2, 7, 0, 3, 4, 5, 6]
    assert slice_to_paint("uncertain", 8, [1], ranking=ranking, scores=scores) == 2
    assert slice_to_paint("gap", 8, [3], ranking=ranking, scores=scores) == 1  # 0-2 holds the most
    assert slice_to_paint("even", 8, [3], ranking=ranking, scores=scores) == largest_gap_slice(8, [3])
    assert slice_to_paint("uncertain", 8, [3]) == slice_to_paint("gap", 8, [3]) == largest_gap_slice(8, [3])


def test_a_retrained_image_ranks_first_the_slices_where_a_structure_came_or_went():
    loop, image, labels, other = CorrectionLoop(), _image(), _labels(), _image("other")
    scores = np.linspace(0.6, 0.1, SHAPE[0])  # slice 0 the most uncertain

    def run(structure_on):
        """A run whose predictions hold label 1 on ``structure_on`` slices."""
        loop.start_training(None, [(image, labels)], [other], axis=0)
        predictions = []
        for _ in (image, other):
            found = np.zeros(SHAPE, np.uint8)
            found[list(structure_on), 1:7, 1:7] = 1
            ranking = np.argsort(-scores).tolist()
            predictions.append(VolumePrediction(labels=found, slice_scores=scores, ranking=ranking))
        loop.training_done(TrainResult(SimpleNamespace(axis=0, trained_iterations=3), predictions))

    run(range(0, 4))
    assert loop.ranking(image) == [0, 1, 2, 3, 4, 5]  # a first look: nothing to compare with
    run(range(0, 3))  # the structure went from slice 3 and came to none
    assert loop.ranking(image) == [3, 0, 1, 2, 4, 5]
    assert loop.came_or_went(image, 3) and not loop.came_or_went(image, 0)
    # an image the model was not taught (predicted, not painted) keeps its scores' order
    assert loop.ranking(other) == [0, 1, 2, 3, 4, 5] and not loop.came_or_went(other, 3)
    run(range(0, 3))
    assert loop.ranking(image) == [0, 1, 2, 3, 4, 5]  # no change since the last round
