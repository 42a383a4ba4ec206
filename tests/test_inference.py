"""Inference: any volume size and axis, uncertainty maps, slice ranking."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.inference import (
    ENTROPY_TIE_BREAK,
    flipped_slices,
    predict_slices,
    predict_volume,
    rank_slices,
    slice_scores,
)
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


def test_carried_mismatch_is_each_slices_share_that_differs_from_the_carried_labels(trained, rng):
    slices = rng.uniform(size=(3, 32, 32)).astype(np.float32)
    own = trained.mapping.to_classes(predict_slices(trained, slices).labels)
    carried = np.zeros((3, trained.num_classes, 32, 32), dtype=np.uint8)
    for z in range(3):
        agree = own[z] if z == 0 else (own[z] + 1) % trained.num_classes  # slice 0 agrees, 1 and 2 not
        if z == 2:
            agree[:16] = own[z][:16]  # half of slice 2 agrees
        carried[z] = 255 * (np.arange(trained.num_classes)[:, None, None] == agree[None])
    pred = predict_slices(trained, slices, uncertainty=True, carried=carried, carried_weight=0.01)
    np.testing.assert_allclose(pred.carried_mismatch, [0.0, 1.0, 0.5])
    # a weight this small leaves the network's labels as they were; without uncertainty no share
    np.testing.assert_array_equal(pred.labels, predict_slices(trained, slices).labels)
    # the share is the network's own, not the mix's: carried labels that win the mix count too
    heavy = predict_slices(trained, slices, uncertainty=True, carried=carried, carried_weight=0.9)
    np.testing.assert_allclose(heavy.carried_mismatch, [0.0, 1.0, 0.5])
    assert predict_slices(trained, slices, carried=carried).carried_mismatch is None
    assert predict_slices(trained, slices, uncertainty=True).carried_mismatch is None


def test_slice_scores_rank_by_mismatch_with_the_carried_labels_entropy_breaking_ties():
    entropy = np.stack([np.full((4, 4), e) for e in (0.9, 0.1, 0.5, 0.2)])
    np.testing.assert_allclose(slice_scores(entropy), [0.9, 0.1, 0.5, 0.2])  # nothing carried
    scores = slice_scores(entropy, np.array([0.0, 0.3, 0.1, 0.1]))
    # the confident slice the carried labels contradict comes first, the uncertain one that
    # agrees with them last; a tie in mismatch goes to the more uncertain slice
    assert rank_slices(scores) == [1, 2, 3, 0]
    assert scores[0] == pytest.approx(ENTROPY_TIE_BREAK * 0.9)


def test_a_painted_scan_ranks_its_slices_by_mismatch_with_the_carried_painting(trained, phantoms):
    from napari_mcsc.data.phantom import paint_slices

    p = phantoms[0]
    sparse = paint_slices(p.labels, [2, 5])
    pred = predict_volume(trained, p.image, uncertainty=True, painted=sparse, consistent=True)
    plain = predict_volume(trained, p.image, uncertainty=True)
    assert not np.allclose(pred.slice_scores, plain.slice_scores)
    assert pred.ranking == rank_slices(pred.slice_scores)
    np.testing.assert_allclose(plain.slice_scores, plain.uncertainty.mean(axis=(1, 2)), rtol=1e-5)


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


def test_flipped_slices_are_where_a_structure_came_or_went_wholesale():
    before = np.zeros((6, 20, 20), dtype=np.uint8)
    before[:, 5:15, 5:15] = 1  # 100 pixels a slice
    before[1:5, 2:4, 2:12] = 2  # 20 pixels a slice
    after = before.copy()
    after[1][after[1] == 1] = 0  # label 1 gone from slice 1
    after[2, 5:15, 5:10] = 0  # half of it gone from slice 2: not wholesale
    after[4][after[4] == 2] = 0
    after[4, 2:4, 2:3] = 2  # label 2 down to 2 of its 20 pixels on slice 4: at the limit
    after[0, 16:18, 16:18] = 2  # 4 pixels of label 2 come on slice 0: under 1/4 of its largest (20)
    after[5, 16:20, 15:20] = 2  # 20 come on slice 5
    assert flipped_slices(before, after).tolist() == [False, True, False, False, True, True]
    # the slice axis is the study's: the same along another axis
    moved = flipped_slices(np.moveaxis(before, 0, 2), np.moveaxis(after, 0, 2), axis=2)
    assert moved.tolist() == [False, True, False, False, True, True]
    assert not flipped_slices(before, before).any()
    with pytest.raises(ValueError, match="one shape"):
        flipped_slices(before, after[:5])
