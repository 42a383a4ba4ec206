"""Painted slices carried to the rest of the scan by registration, and mixed into predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_mcsc import propagation
from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.inference import predict_volume
from napari_mcsc.metrics import dice
from napari_mcsc.postprocess import consistent_mask


def _moving_disc(n=9, size=48, step=2, radius=7):
    """A bright disc on a dark, textured background that moves ``step`` pixels a slice."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    labels = np.zeros((n, size, size), dtype=np.int64)
    for z in range(n):
        cx = 12 + step * z
        labels[z] = (yy - size // 2) ** 2 + (xx - cx) ** 2 <= radius**2
    image = 0.2 + 0.6 * labels + 0.03 * rng.standard_normal(labels.shape)
    return image.astype(np.float32), labels


def test_painted_labels_follow_a_moving_structure_beyond_and_between_painted_slices():
    image, truth = _moving_disc()
    painted = paint_slices(truth, [2, 6])
    carried = propagation.carry_painted(image, painted, num_classes=2)
    assert carried.shape == (9, 2, 48, 48) and carried.dtype == np.uint8
    for z in (2, 6):  # painted slices hold their own labels
        assert np.array_equal(carried[z].argmax(0), truth[z])
    for z, nearest in ((0, 2), (1, 2), (3, 2), (4, 2), (5, 6), (7, 6), (8, 6)):
        found = carried[z].argmax(0) == 1
        kept_in_place = dice(truth[nearest] == 1, truth[z] == 1)  # what copying the slice gives
        assert dice(found, truth[z] == 1) > max(0.85, kept_in_place + 0.02), z


def test_nothing_painted_carries_nothing():
    image, truth = _moving_disc()
    assert propagation.carry_painted(image, np.zeros_like(truth), num_classes=2) is None


def test_every_unpainted_slice_is_carried_once_from_its_nearest_painted_slice():
    walks = propagation._walks([2, 7], 11)
    reached = {}
    for anchor, walk in walks:
        for index in walk:
            assert index not in reached
            reached[index] = anchor
    assert sorted(reached) == [0, 1, 3, 4, 5, 6, 8, 9, 10]
    assert all(abs(i - reached[i]) == min(abs(i - 2), abs(i - 7)) for i in reached)


def test_fusing_lets_a_confident_network_overrule_the_carried_labels_and_not_an_unsure_one():
    probabilities = torch.tensor([[0.1, 0.9], [0.4, 0.6]]).T.reshape(1, 2, 1, 2)  # pixel 0 sure, 1 unsure
    carried = np.zeros((1, 2, 1, 2), dtype=np.uint8)
    carried[:, 0] = 255  # the carried labels say background at both pixels
    fused = propagation.fuse(probabilities, carried, 0.4)
    assert fused.argmax(1).flatten().tolist() == [1, 0]
    assert torch.allclose(fused.sum(1), torch.ones(1, 1, 2))
    assert torch.equal(propagation.fuse(probabilities, carried, 0.0), probabilities)


def test_mask_with_carrying_off_is_the_consistent_mask_of_the_prediction(trained, phantoms):
    p = phantoms[0]
    sparse = paint_slices(p.labels, [2, 5])
    plain = predict_volume(trained, p.image, uncertainty=False, painted=sparse).labels
    off = predict_volume(trained, p.image, uncertainty=False, painted=sparse, consistent=True, carry=0)
    assert np.array_equal(off.labels, consistent_mask(plain, sparse))


def test_carrying_keeps_painted_voxels_and_needs_painted_slices(trained, phantoms):
    p = phantoms[0]
    sparse = paint_slices(p.labels, [2, 5])
    carried = predict_volume(trained, p.image, uncertainty=False, painted=sparse, consistent=True)
    assert np.array_equal(carried.labels[[2, 5]], p.labels[[2, 5]])
    unpainted = np.zeros_like(sparse)
    with_carry = predict_volume(trained, p.image, uncertainty=False, painted=unpainted, consistent=True)
    without = predict_volume(trained, p.image, uncertainty=False, painted=unpainted, consistent=True, carry=0)
    assert np.array_equal(with_carry.labels, without.labels)


def test_carrying_moves_a_weak_prediction_towards_the_painted_structure(trained):
    """A barely trained model predicts almost nothing right; carrying the painted disc
    gives the unpainted slices next to it most of the disc."""
    image, truth = _moving_disc(n=5, size=64, step=1, radius=10)
    sparse = paint_slices(truth, [2])
    off = predict_volume(trained, image, uncertainty=False, painted=sparse, consistent=True, carry=0).labels
    on = predict_volume(trained, image, uncertainty=False, painted=sparse, consistent=True, carry=0.6).labels
    unpainted = [0, 1, 3, 4]
    before = dice(off[unpainted] == 1, truth[unpainted] == 1)
    assert dice(on[unpainted] == 1, truth[unpainted] == 1) > max(0.8, before)


@pytest.mark.parametrize("shape", [(4, 40, 40), (3, 600, 20)])
def test_large_or_narrow_slices_are_carried_at_their_own_size(shape):
    rng = np.random.default_rng(1)
    image = rng.random(shape, dtype=np.float32)
    painted = np.zeros(shape, dtype=np.int64)
    painted[0, : shape[1] // 2] = 1
    carried = propagation.carry_painted(image, painted, num_classes=2)
    assert carried.shape == (shape[0], 2, *shape[1:])


@pytest.fixture()
def registrations(monkeypatch):
    """A fresh store of deformations in place of the module's, which other tests fill."""
    fresh = propagation.Registrations()
    monkeypatch.setattr(propagation, "REGISTRATIONS", fresh)
    return fresh


def test_a_scan_carried_again_registers_no_slice_pair_twice_and_gives_the_same_labels(registrations):
    image, truth = _moving_disc()
    first = propagation.carry_painted(image, paint_slices(truth, [2, 6]), num_classes=2)
    assert registrations.registered == 7  # each unpainted slice, once
    again = propagation.carry_painted(image, paint_slices(truth, [2, 6]), num_classes=2)
    assert registrations.registered == 7 and np.array_equal(first, again)
    # one more painted slice: only the walks it turns around need new pairs
    propagation.carry_painted(image, paint_slices(truth, [2, 4, 6]), num_classes=2)
    assert registrations.registered == 8  # slice 4 now carries to 5 (6 did): one new pair
    registrations.clear()
    fresh = propagation.carry_painted(image, paint_slices(truth, [2, 6]), num_classes=2)
    assert registrations.registered == 15 and np.array_equal(first, fresh)


def test_a_changed_scan_is_registered_again(registrations):
    image, truth = _moving_disc()
    painted = paint_slices(truth, [2, 6])
    propagation.carry_painted(image, painted, num_classes=2)
    changed = image.copy()
    changed[0, 0, 0] += 0.5
    propagation.carry_painted(changed, painted, num_classes=2)
    assert registrations.registered == 14


def test_the_least_recently_carried_scan_is_forgotten_first_and_a_pair_too_large_is_not_kept(registrations):
    image, truth = _moving_disc()
    painted = paint_slices(truth, [2, 6])
    other = image[:, ::-1].copy()  # another scan, the same size
    pair = 48 * 48 * 2 * 8  # bytes of one displacement field
    registrations.limit = 7 * pair  # one scan's pairs
    propagation.carry_painted(image, painted, num_classes=2)
    propagation.carry_painted(other, painted[:, ::-1], num_classes=2)
    propagation.carry_painted(other, painted[:, ::-1], num_classes=2)  # kept
    assert registrations.registered == 14
    propagation.carry_painted(image, painted, num_classes=2)  # forgotten for ``other``
    assert registrations.registered == 21
    registrations.clear()
    registrations.limit = pair - 1
    first = propagation.carry_painted(image, painted, num_classes=2)
    again = propagation.carry_painted(image, painted, num_classes=2)
    assert registrations.registered == 35 and np.array_equal(first, again)


def test_nothing_painted_is_carried_onto_or_past_a_slice_reviewed_as_empty():
    """The structure ends after slice 5 and the user marked slice 7 empty: the painting
    is carried up to slice 6 as before, slice 7 holds background, and past it nothing is
    carried (the networks decide there)."""
    image, truth = _moving_disc()
    truth[6:] = 0
    painted = paint_slices(truth, [2])
    without = propagation.carry_painted(image, painted, num_classes=2)
    assert all(without[z].argmax(0).any() for z in range(9))  # the disc carried everywhere
    carried = propagation.carry_painted(image, painted, num_classes=2, reviewed=[2, 7])
    assert np.array_equal(carried[:7], without[:7])
    assert (carried[7, 0] == 255).all() and (carried[7, 1] == 0).all()
    assert not carried[8].any()  # nothing carried: fused, the network's probabilities alone
    assert propagation.carry_painted(image, np.zeros_like(truth), num_classes=2, reviewed=[0, 8]) is None
