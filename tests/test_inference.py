"""Inference: any volume size and axis, uncertainty maps, slice ranking."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.inference import predict_slices, predict_volume, rank_slices, slice_scores
from napari_mcsc.training import Trainer


def test_prediction_has_the_volume_shape_and_known_labels(trained, rng):
    volume = rng.uniform(size=(5, 37, 51)).astype(np.float32)
    pred = predict_volume(trained, volume, uncertainty=True)
    assert pred.labels.shape == volume.shape
    assert set(np.unique(pred.labels)) <= set(trained.mapping.values)
    assert pred.uncertainty.shape == volume.shape and pred.disagreement.shape == volume.shape
    assert pred.uncertainty.min() >= 0.0 and pred.uncertainty.max() <= 1.0 + 1e-6
    assert pred.disagreement.min() >= 0.0 and pred.disagreement.max() <= 1.0 + 1e-6


def test_ranking_sorts_slices_by_mean_uncertainty(trained, rng):
    pred = predict_volume(trained, rng.uniform(size=(6, 32, 32)), uncertainty=True)
    assert sorted(pred.ranking) == list(range(6))
    scores = pred.slice_scores[pred.ranking]
    assert np.all(np.diff(scores) <= 1e-9)
    np.testing.assert_allclose(pred.slice_scores, pred.uncertainty.mean(axis=(1, 2)), rtol=1e-5)


def _two_slices(small_area: int, large_area: int):
    """Two slices with the same summed uncertainty, one with a small structure, one large."""
    labels = np.zeros((3, 20, 20), dtype=np.uint8)
    labels[0].flat[:small_area] = 1
    labels[1].flat[:large_area] = 2
    entropy = np.zeros((3, 20, 20), dtype=np.float32)
    entropy[0, 10, :10] = 0.5
    entropy[1, 10, :10] = 0.5
    entropy[2, 10, :2] = 0.5  # no structure, a few uncertain voxels
    return entropy, labels


def test_slice_scores_rank_uncertainty_per_voxel_of_structure_with_a_floor():
    entropy, labels = _two_slices(small_area=40, large_area=200)
    plain = slice_scores(entropy, labels)
    np.testing.assert_allclose(plain, entropy.mean(axis=(1, 2)), rtol=1e-6)
    assert plain[0] == plain[1]  # the plain mean cannot tell a small structure from a large one
    scores = slice_scores(entropy, labels, floor_share=0.5)
    floor = 0.5 * (40 + 200) / 2
    np.testing.assert_allclose(scores, [5 / floor, 5 / 200, 1 / floor], rtol=1e-6)
    assert rank_slices(scores) == [0, 1, 2]  # the small structure first, the empty slice last
    # Above the floor a slice's own area counts: the smaller structure still ranks first.
    entropy, labels = _two_slices(small_area=150, large_area=300)
    assert rank_slices(slice_scores(entropy, labels, floor_share=0.5)) == [0, 1, 2]


def test_slice_scores_without_any_structure_are_the_plain_mean():
    entropy, labels = _two_slices(small_area=0, large_area=0)
    np.testing.assert_allclose(slice_scores(entropy, labels, 0.5), entropy.mean(axis=(1, 2)), rtol=1e-6)


def test_rank_slices_skips_excluded():
    assert rank_slices(np.array([0.1, 0.5, 0.3]), exclude={1}) == [2, 0]


def test_model_axis_is_respected(trained, rng):
    trained.axis = 2
    volume = rng.uniform(size=(40, 30, 4)).astype(np.float32)
    pred = predict_volume(trained, volume, uncertainty=True)
    assert pred.labels.shape == volume.shape and len(pred.ranking) == 4


def test_without_uncertainty_no_maps(trained, rng):
    pred = predict_volume(trained, rng.uniform(size=(2, 16, 16)), uncertainty=False)
    assert pred.uncertainty is None and pred.ranking is None


def test_ensemble_differs_from_cnn_alone_only_through_the_transformer(trained, rng):
    slices = rng.uniform(size=(3, 64, 64)).astype(np.float32)
    alone = predict_slices(trained, slices)
    again = predict_slices(trained, slices)
    np.testing.assert_array_equal(alone.labels, again.labels)  # eval mode: deterministic
    ensemble = predict_slices(trained, slices, ensemble=True)
    assert ensemble.labels.shape == alone.labels.shape


def test_supervised_model_gives_cnn_entropy_only(tiny_config, tiny_slice_set, rng):
    trainer = Trainer(tiny_config.replace(method="sup", iterations=1), tiny_slice_set)
    list(trainer.run())
    pred = predict_volume(trainer.model, rng.uniform(size=(2, 16, 16)), uncertainty=True)
    assert pred.uncertainty is not None and pred.disagreement is None


def test_rejects_2d_input(trained):
    with pytest.raises(ValueError, match="3D"):
        predict_volume(trained, np.zeros((8, 8)))


@pytest.mark.parametrize("method, uses_transformer", [("mcsc", True), ("sup", False)])
def test_scoring_during_a_first_run_uses_the_transformer_being_trained(
    tiny_config, tiny_slice_set, rng, method, uses_transformer
):
    """A curve scored mid-run (before the run is in the model's history) must score the
    ensemble with both networks of a two-network run, and never with an untrained Swin."""
    trainer = Trainer(tiny_config.replace(method=method, iterations=2), tiny_slice_set)
    run = trainer.run()
    next(run)
    assert trainer.model.history == []
    pred = predict_volume(trainer.model, rng.uniform(size=(2, 16, 16)), uncertainty=True)
    assert (pred.disagreement is not None) is uses_transformer
    list(run)
