"""Tests for napari_mcsc.metrics on small hand-made arrays with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from napari_mcsc.metrics import (
    ClassScores,
    asd,
    dice,
    evaluate_many,
    evaluate_volume,
    hd95,
    nan_to_none,
    surface_distances,
)


def cube(shape=(20, 20, 20), lo=(5, 5, 5), size=(8, 8, 8)) -> np.ndarray:
    """Boolean array with one axis-aligned box of ``size`` starting at ``lo``."""
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(a, a + s) for a, s in zip(lo, size, strict=False))] = True
    return mask


# ------------------------------------------------------------------------------ dice
def test_dice_of_overlapping_cubes_matches_hand_count():
    a = cube(lo=(0, 0, 0), size=(4, 4, 4))  # 64 voxels
    b = cube(lo=(2, 0, 0), size=(4, 4, 4))  # 64 voxels, overlap z in 2..3 -> 2*4*4 = 32
    assert dice(a, b) == pytest.approx(2 * 32 / (64 + 64))  # 0.5


def test_dice_of_nested_boxes():
    big = cube(lo=(0, 0, 0), size=(10, 10, 10))  # 1000
    half = cube(lo=(0, 0, 0), size=(10, 10, 5))  # 500, inside big
    assert dice(big, half) == pytest.approx(2 * 500 / 1500)


def test_dice_treats_nonzero_labels_as_foreground():
    a = np.array([[0, 3, 3, 0]])
    b = np.array([[0, 1, 0, 0]])
    assert dice(a, b) == pytest.approx(2 * 1 / 3)


def test_dice_identical_and_empty_cases():
    a = cube()
    empty = np.zeros_like(a)
    assert dice(a, a) == 1.0
    assert dice(empty, empty) == 1.0
    assert dice(empty, a) == 0.0
    assert dice(a, empty) == 0.0


# ------------------------------------------------------------------- surface distances
def test_identical_masks_have_zero_distances():
    a = cube()
    d_p2t, d_t2p = surface_distances(a, a)
    assert d_p2t.size == 8**3 - 6**3  # surface voxels of an 8-cube
    assert np.all(d_p2t == 0) and np.all(d_t2p == 0)
    assert hd95(a, a) == 0.0
    assert asd(a, a) == 0.0


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_shift_by_three_voxels_gives_hd95_three(axis):
    lo = [5, 5, 5]
    a = cube(shape=(24, 24, 24), lo=tuple(lo), size=(10, 10, 10))
    lo[axis] += 3
    b = cube(shape=(24, 24, 24), lo=tuple(lo), size=(10, 10, 10))
    assert hd95(a, b) == pytest.approx(3.0)
    assert hd95(b, a) == pytest.approx(3.0)
    d_p2t, _d_t2p = surface_distances(a, b)
    assert d_p2t.max() == pytest.approx(3.0)
    assert 0.0 < asd(a, b) < 3.0


def test_shift_with_anisotropic_spacing_is_in_mm():
    spacing = (2.5, 0.5, 0.75)
    a = cube(shape=(24, 24, 24), lo=(5, 5, 5), size=(10, 10, 10))
    for axis in range(3):
        lo = [5, 5, 5]
        lo[axis] += 3
        b = cube(shape=(24, 24, 24), lo=tuple(lo), size=(10, 10, 10))
        assert hd95(a, b, spacing=spacing) == pytest.approx(3 * spacing[axis])
        assert hd95(a, b) == pytest.approx(3.0)  # voxels are unaffected


def test_hd95_is_percentile_of_pooled_distances_like_medpy():
    # truth: a 100x100 square (396 surface pixels); pred: the square plus a far 8x8 blob
    # (28 surface pixels). pred->truth has 28/424 = 6.6% non-zero distances, truth->pred
    # none; pooled that is 28/820 = 3.4% < 5%, so medpy's hd95 is 0 while the max of the
    # two directed 95th percentiles would not be.
    truth = np.zeros((120, 160), dtype=bool)
    truth[10:110, 10:110] = True
    pred = truth.copy()
    pred[50:58, 140:148] = True
    d_p2t, d_t2p = surface_distances(pred, truth)
    assert d_p2t.size == 396 + 28 and d_t2p.size == 396
    assert np.all(d_t2p == 0)
    assert d_p2t.max() == pytest.approx(147 - 109)  # blob's far column -> square's last column
    assert d_p2t[d_p2t > 0].min() == pytest.approx(140 - 109)
    assert np.count_nonzero(d_p2t) == 28
    assert np.percentile(d_p2t, 95) > 0  # the "max of directed percentiles" would be > 0
    assert hd95(pred, truth) == 0.0
    assert hd95(truth, pred) == 0.0
    # asd is directed (medpy): pred -> truth only.
    assert asd(pred, truth) == pytest.approx(d_p2t.sum() / 424)
    assert asd(truth, pred) == 0.0


def test_hd95_interpolates_like_numpy_percentile():
    a = np.zeros((1, 30, 40), dtype=bool)
    a[0, 5:25, 5:15] = True
    b = np.zeros_like(a)
    b[0, 7:27, 9:21] = True
    d_p2t, d_t2p = surface_distances(a, b, spacing=(3.0, 1.0, 2.0))
    expected = np.percentile(np.concatenate([d_p2t, d_t2p]), 95)
    assert hd95(a, b, spacing=(3.0, 1.0, 2.0)) == pytest.approx(expected)
    assert hd95(b, a, spacing=(3.0, 1.0, 2.0)) == pytest.approx(expected)
    assert expected > 0


def test_surface_distances_2d_and_crop_do_not_change_values():
    # A mask at the array border: cropping must still see the border as surface.
    a = np.zeros((30, 30), dtype=bool)
    a[0:10, 0:10] = True
    b = np.zeros((30, 30), dtype=bool)
    b[0:10, 2:12] = True
    d_p2t, _d_t2p = surface_distances(a, b)
    assert d_p2t.size == 36  # perimeter voxels of a 10x10 square
    assert hd95(a, b) == pytest.approx(2.0)
    # Same answer when embedded in a much larger array.
    big_a = np.zeros((300, 300), dtype=bool)
    big_b = np.zeros((300, 300), dtype=bool)
    big_a[100:130, 100:130] = a
    big_b[100:130, 100:130] = b
    assert hd95(big_a, big_b) == pytest.approx(2.0)


def test_empty_masks_give_nan_distances():
    a = cube()
    empty = np.zeros_like(a)
    d_p2t, d_t2p = surface_distances(empty, a)
    assert d_p2t.size == 0 and d_t2p.size == 0
    assert math.isnan(hd95(empty, a))
    assert math.isnan(hd95(a, empty))
    assert math.isnan(hd95(empty, empty))
    assert math.isnan(asd(empty, a))
    assert math.isnan(asd(a, empty))


def test_shape_mismatch_raises_with_both_shapes():
    a = np.zeros((4, 5, 6), dtype=bool)
    b = np.zeros((4, 5, 7), dtype=bool)
    for fn in (dice, hd95, asd, surface_distances, evaluate_volume):
        with pytest.raises(ValueError, match=r"\(4, 5, 6\).*\(4, 5, 7\)"):
            fn(a, b)
    with pytest.raises(ValueError, match=r"\(4, 5, 6\).*\(4, 5, 7\)"):
        evaluate_many([a], [b])


def test_bad_spacing_raises():
    a = cube()
    with pytest.raises(ValueError, match="spacing"):
        hd95(a, a, spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        hd95(a, a, spacing=(1.0, 0.0, 1.0))


# ------------------------------------------------------------------- evaluate_volume
def two_class_volumes():
    """truth: class 1 cube, class 2 cube; pred: class 1 shifted by 3 along z, class 2 same."""
    truth = np.zeros((24, 24, 24), dtype=np.uint8)
    pred = np.zeros_like(truth)
    truth[cube(shape=truth.shape, lo=(2, 2, 2), size=(10, 10, 10))] = 1
    pred[cube(shape=truth.shape, lo=(5, 2, 2), size=(10, 10, 10))] = 1
    truth[cube(shape=truth.shape, lo=(14, 14, 14), size=(6, 6, 6))] = 2
    pred[cube(shape=truth.shape, lo=(14, 14, 14), size=(6, 6, 6))] = 2
    return pred, truth


def test_evaluate_volume_per_class_values_and_mean():
    pred, truth = two_class_volumes()
    res = evaluate_volume(pred, truth, spacing=(2.0, 1.0, 1.0), class_names={1: "RV", 2: "MYO"})
    assert res["classes"] == [1, 2]
    c1, c2 = res["per_class"]["1"], res["per_class"]["2"]
    assert c1["name"] == "RV" and c2["name"] == "MYO"
    assert c1["dice"] == pytest.approx(2 * 700 / 2000)  # overlap 7 of 10 slices
    assert c1["hd95"] == pytest.approx(3.0)
    assert c1["hd95_mm"] == pytest.approx(6.0)
    assert c1["asd"] < c1["asd_mm"] < 2.0 * c1["asd"] + 1e-9  # z distances doubled, not all
    assert c1["hd95_ref"] == c1["hd95"]
    assert c1["truth_voxels"] == 1000 and c1["pred_voxels"] == 1000
    assert c2["dice"] == 1.0 and c2["hd95"] == 0.0 and c2["asd_mm"] == 0.0
    mean = res["mean"]
    assert mean["dice"] == pytest.approx((0.7 + 1.0) / 2)
    assert mean["hd95"] == pytest.approx(1.5)
    assert mean["hd95_mm"] == pytest.approx(3.0)
    assert mean["n_classes"] == 2
    assert mean["n_empty_predictions"] == 0
    assert res["spacing"] == [2.0, 1.0, 1.0]


def test_evaluate_volume_without_spacing_mm_equals_voxels():
    pred, truth = two_class_volumes()
    res = evaluate_volume(pred, truth)
    c1 = res["per_class"]["1"]
    assert c1["hd95_mm"] == c1["hd95"] == pytest.approx(3.0)
    assert c1["asd_mm"] == c1["asd"]
    assert res["spacing"] is None
    assert c1["name"] == "class_1"


def test_evaluate_volume_isotropic_spacing_scales():
    pred, truth = two_class_volumes()
    res = evaluate_volume(pred, truth, spacing=(1.5, 1.5, 1.5))
    assert res["per_class"]["1"]["hd95_mm"] == pytest.approx(4.5)


def test_empty_prediction_counted_with_nan_and_reference_zero():
    pred, truth = two_class_volumes()
    pred[pred == 2] = 0  # class 2 missed entirely
    res = evaluate_volume(pred, truth)
    c2 = res["per_class"]["2"]
    assert c2["pred_empty"] is True and c2["truth_empty"] is False
    assert c2["dice"] == 0.0
    assert math.isnan(c2["hd95"]) and math.isnan(c2["asd"]) and math.isnan(c2["hd95_mm"])
    assert c2["hd95_ref"] == 0.0 and c2["asd_ref"] == 0.0
    mean = res["mean"]
    assert mean["n_empty_predictions"] == 1
    assert mean["dice"] == pytest.approx(0.7 / 2)
    assert mean["hd95"] == pytest.approx(3.0)  # NaN ignored
    assert mean["hd95_ref"] == pytest.approx(1.5)  # reference convention: (3 + 0) / 2


def test_false_positive_class_counted_as_empty_truth():
    pred, truth = two_class_volumes()
    pred[0:2, 0:2, 0:2] = 3  # class 3 only in the prediction
    res = evaluate_volume(pred, truth)
    assert res["classes"] == [1, 2, 3]
    c3 = res["per_class"]["3"]
    assert c3["truth_empty"] and not c3["pred_empty"]
    assert c3["dice"] == 0.0 and math.isnan(c3["hd95"]) and math.isnan(c3["hd95_ref"])
    assert res["mean"]["n_empty_truths"] == 1
    assert res["mean"]["n_empty_predictions"] == 0


def test_both_empty_class_when_requested_explicitly():
    pred, truth = two_class_volumes()
    res = evaluate_volume(pred, truth, classes=[1, 2, 7])
    c7 = res["per_class"]["7"]
    assert c7["dice"] == 1.0 and c7["pred_empty"] and c7["truth_empty"]
    assert math.isnan(c7["hd95"]) and c7["hd95_ref"] == 0.0
    assert res["mean"]["n_empty_predictions"] == 0
    # Both-empty arrays overall: nothing present, no classes.
    empty = np.zeros((4, 4, 4), dtype=np.uint8)
    res0 = evaluate_volume(empty, empty)
    assert res0["classes"] == [] and res0["mean"]["n_classes"] == 0
    assert math.isnan(res0["mean"]["dice"])


def test_evaluate_volume_is_json_serialisable():
    pred, truth = two_class_volumes()
    pred[pred == 2] = 0
    res = evaluate_volume(pred, truth, spacing=(2.0, 1.0, 1.0), class_names=["bg", "a", "b"])
    text = json.dumps(res)
    back = json.loads(text)
    assert back["per_class"]["1"]["name"] == "a"
    assert back["per_class"]["1"]["hd95_mm"] == pytest.approx(6.0)
    strict = json.dumps(nan_to_none(res), allow_nan=False)
    assert json.loads(strict)["per_class"]["2"]["hd95"] is None
    with pytest.raises(ValueError):
        json.dumps(res, allow_nan=False)  # NaN present before nan_to_none


def test_classscores_to_dict_round_trip():
    pred, truth = two_class_volumes()
    row = evaluate_volume(pred, truth)["per_class"]["1"]
    scores = ClassScores(**row)
    assert scores.to_dict() == row


def test_non_integer_and_negative_label_arrays():
    pred, truth = two_class_volumes()
    res_int = evaluate_volume(pred, truth)
    res_float = evaluate_volume(pred.astype(np.float32), truth.astype(np.float32))
    assert res_float["per_class"]["1"]["hd95"] == res_int["per_class"]["1"]["hd95"]
    neg_pred, neg_truth = -pred.astype(np.int16), -truth.astype(np.int16)
    res_neg = evaluate_volume(neg_pred, neg_truth)
    assert res_neg["classes"] == [-2, -1]
    assert res_neg["per_class"]["-1"]["dice"] == pytest.approx(0.7)


# ---------------------------------------------------------------------- evaluate_many
def test_evaluate_many_averages_over_volumes_then_classes():
    pred1, truth1 = two_class_volumes()
    pred2, truth2 = truth1.copy(), truth1.copy()  # perfect second volume
    pred3, truth3 = two_class_volumes()
    pred3[pred3 == 2] = 0  # class 2 missed in the third volume
    res = evaluate_many(
        [pred1, pred2, pred3],
        [truth1, truth2, truth3],
        spacing=[(2.0, 1.0, 1.0), (1.0, 1.0, 1.0), (2.0, 1.0, 1.0)],
    )
    assert len(res["volumes"]) == 3
    c1, c2 = res["per_class"]["1"], res["per_class"]["2"]
    assert c1["dice"] == pytest.approx((0.7 + 1.0 + 0.7) / 3)
    assert c1["hd95"] == pytest.approx((3 + 0 + 3) / 3)
    assert c1["hd95_mm"] == pytest.approx((6 + 0 + 6) / 3)
    assert c2["dice"] == pytest.approx((1 + 1 + 0) / 3)
    assert c2["hd95"] == 0.0  # NaN from volume 3 ignored
    assert c2["n_empty_predictions"] == 1 and c2["n_volumes"] == 3
    mean = res["mean"]
    assert mean["dice"] == pytest.approx((c1["dice"] + c2["dice"]) / 2)
    assert mean["hd95"] == pytest.approx(1.0)
    assert mean["n_empty_predictions"] == 1 and mean["n_volumes"] == 3
    json.dumps(res)


def test_evaluate_many_uses_union_of_classes_and_checks_lengths():
    pred1, truth1 = two_class_volumes()
    truth2 = truth1.copy()
    truth2[truth2 == 2] = 0
    pred2 = truth2.copy()
    res = evaluate_many([pred1, pred2], [truth1, truth2])
    assert res["classes"] == [1, 2]
    assert res["volumes"][1]["per_class"]["2"]["truth_empty"] is True
    assert res["per_class"]["2"]["dice"] == 1.0  # both empty in volume 2 counts as 1
    with pytest.raises(ValueError, match="2 predictions but 1"):
        evaluate_many([pred1, pred2], [truth1])
    with pytest.raises(ValueError, match="spacings"):
        evaluate_many([pred1, pred2], [truth1, truth2], spacing=[(1, 1, 1)] * 3)


# ------------------------------------------------- parity with medpy's algorithm
def _medpy_like(result, reference, spacing):
    """medpy.metric.binary's algorithm on the full array (no cropping), for comparison."""
    from scipy import ndimage

    def directed(a, b):
        fp = ndimage.generate_binary_structure(a.ndim, 1)
        a_border = a ^ ndimage.binary_erosion(a, structure=fp, iterations=1)
        b_border = b ^ ndimage.binary_erosion(b, structure=fp, iterations=1)
        return ndimage.distance_transform_edt(~b_border, sampling=spacing)[a_border]

    d1, d2 = directed(result, reference), directed(reference, result)
    return np.percentile(np.hstack((d1, d2)), 95), d1.mean()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_uncropped_medpy_algorithm_on_random_blobs(seed):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(3, 10)), int(rng.integers(20, 50)), int(rng.integers(20, 50)))
    truth = ndimage.gaussian_filter(rng.random(shape), 2) > 0.5
    pred = ndimage.gaussian_filter(rng.random(shape), 2) > 0.5
    assert truth.any() and pred.any()
    spacing = tuple(rng.uniform(0.5, 5.0, 3))
    for sp in (None, spacing):
        exp_hd, exp_asd = _medpy_like(pred, truth, sp)
        assert hd95(pred, truth, spacing=sp) == pytest.approx(exp_hd, abs=1e-12)
        assert asd(pred, truth, spacing=sp) == pytest.approx(exp_asd, abs=1e-12)
    labels_p = pred.astype(np.uint8) * 2
    labels_t = truth.astype(np.uint8) * 2
    row = evaluate_volume(labels_p, labels_t, spacing=spacing)["per_class"]["2"]
    assert row["hd95_mm"] == pytest.approx(_medpy_like(pred, truth, spacing)[0], abs=1e-12)
    assert row["hd95"] == pytest.approx(_medpy_like(pred, truth, None)[0], abs=1e-12)
