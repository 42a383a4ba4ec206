"""Inference: any volume size and axis, uncertainty maps, slice ranking."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.inference import predict_slices, predict_volume, rank_slices
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
