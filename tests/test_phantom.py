"""Tests for the synthetic cardiac phantom and the slice-painting helpers."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from scipy import ndimage

from napari_mcsc.data.phantom import (
    CLASS_NAMES,
    LABEL_LV,
    LABEL_MYO,
    LABEL_RV,
    Phantom,
    evenly_spaced_slices,
    make_phantom,
    make_phantom_set,
    paint_slices,
)

SEEDS_VARIANTS = [(0, 0), (1, 1), (2, 2), (3, 3), (7, 0)]


def test_shapes_dtypes_spacing_and_name():
    p = make_phantom()
    assert isinstance(p, Phantom)
    assert p.image.shape == p.labels.shape == p.shape == (12, 96, 96)
    assert p.image.dtype == np.float32
    assert p.labels.dtype == np.uint8
    assert np.all(np.isfinite(p.image))
    assert p.spacing == (8.0, 1.5, 1.5)
    assert p.name == "phantom-s0-v0"
    assert CLASS_NAMES == {1: "RV", 2: "MYO", 3: "LV"}


def test_other_shape_keeps_physical_size():
    p = make_phantom((6, 64, 80), seed=1)
    assert p.image.shape == (6, 64, 80)
    assert p.spacing == (16.0, 2.25, 2.25)  # 96 mm / 6 slices, 1.5 mm * 96 / 64
    assert set(np.unique(p.labels)) == {0, 1, 2, 3}


@pytest.mark.parametrize(("seed", "variant"), SEEDS_VARIANTS)
def test_all_classes_present_and_only_them(seed, variant):
    labels = make_phantom(seed=seed, variant=variant).labels
    assert set(np.unique(labels).tolist()) == {0, LABEL_RV, LABEL_MYO, LABEL_LV}
    # The heart is a minority of the field of view.
    assert 0.02 < np.mean(labels > 0) < 0.3


def test_deterministic_for_a_seed_and_different_for_another():
    a, b = make_phantom(seed=5), make_phantom(seed=5)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = make_phantom(seed=6)
    assert not np.array_equal(a.labels, c.labels)
    assert not np.allclose(a.image, c.image)


@pytest.mark.parametrize(("seed", "variant"), SEEDS_VARIANTS)
def test_lv_area_decreases_from_base_to_apex(seed, variant):
    labels = make_phantom(seed=seed, variant=variant).labels
    area = (labels == LABEL_LV).sum(axis=(1, 2))
    assert np.all(area > 0)  # the LV cavity is present in every slice
    assert np.all(np.diff(area) < 0), area
    assert area[0] > 4 * area[-1]


@pytest.mark.parametrize(("seed", "variant"), SEEDS_VARIANTS)
def test_rv_shrinks_and_is_absent_at_the_apex(seed, variant):
    labels = make_phantom(seed=seed, variant=variant).labels
    rv_area = (labels == LABEL_RV).sum(axis=(1, 2))
    assert rv_area[0] > 0
    assert rv_area[-1] == 0
    assert np.all(np.diff(rv_area) <= 0), rv_area


@pytest.mark.parametrize(("seed", "variant"), SEEDS_VARIANTS)
def test_myocardium_surrounds_lv_and_separates_it_from_rv(seed, variant):
    labels = make_phantom(seed=seed, variant=variant).labels
    lv = labels == LABEL_LV
    cross = ndimage.generate_binary_structure(3, 1)
    cross[0] = cross[2] = False  # in-plane 4-neighbourhood only
    ring = ndimage.binary_dilation(lv, structure=cross) & ~lv
    assert np.mean(labels[ring] == LABEL_MYO) > 0.98
    # The RV never touches the LV blood pool in-plane.
    rv_grown = ndimage.binary_dilation(labels == LABEL_RV, structure=cross)
    assert not np.any(rv_grown & lv)
    # The RV is adjacent to the myocardium (a crescent hugging the ring).
    assert np.any(rv_grown & (labels == LABEL_MYO))


def test_image_reflects_anatomy_contrast():
    p = make_phantom(seed=0, variant=0)
    blood = p.image[p.labels == LABEL_LV].mean()
    rv = p.image[p.labels == LABEL_RV].mean()
    myo = p.image[p.labels == LABEL_MYO].mean()
    assert blood > 1.8 * myo  # bright blood, dark muscle
    assert rv > 1.8 * myo


def test_intensities_differ_between_variants():
    images = [p.image for p in make_phantom_set(n=4, seed=0)]
    means = [float(im.mean()) for im in images]
    maxima = [float(im.max()) for im in images]
    assert len({round(m, 2) for m in means}) == 4
    assert max(maxima) / min(maxima) > 10  # raw-scanner-like ranges vs ~[0, 1]


def test_make_phantom_set_variants_and_names():
    phantoms = make_phantom_set(n=3, shape=(8, 64, 64), seed=2)
    assert [p.name for p in phantoms] == ["phantom-s2-v0", "phantom-s2-v1", "phantom-s2-v2"]
    assert all(p.image.shape == (8, 64, 64) for p in phantoms)
    assert not np.array_equal(phantoms[0].labels, phantoms[1].labels)
    same = make_phantom((8, 64, 64), 2, variant=1)
    np.testing.assert_array_equal(phantoms[1].labels, same.labels)
    assert make_phantom_set(n=0) == []


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="shape"):
        make_phantom((96, 96))
    with pytest.raises(ValueError, match="32"):
        make_phantom((4, 16, 96))
    with pytest.raises(ValueError, match=">= 0"):
        make_phantom(seed=-1)


def test_make_phantom_is_fast():
    make_phantom()  # warm-up (imports, caches)
    start = time.perf_counter()
    for seed in range(5):
        make_phantom(seed=seed)
    assert (time.perf_counter() - start) / 5 < 0.1


# ---------------------------------------------------------------- painting helpers
def test_paint_slices_keeps_only_chosen_slices():
    labels = make_phantom(seed=1).labels
    sparse = paint_slices(labels, [2, 7])
    assert sparse.dtype == labels.dtype and sparse.shape == labels.shape
    np.testing.assert_array_equal(sparse[2], labels[2])
    np.testing.assert_array_equal(sparse[7], labels[7])
    others = [z for z in range(labels.shape[0]) if z not in (2, 7)]
    assert not sparse[others].any()
    assert labels[others].any()  # there was something to remove, and the input is untouched


def test_paint_slices_other_axis_and_negative_index():
    labels = np.arange(2 * 3 * 4).reshape(2, 3, 4) + 1
    sparse = paint_slices(labels, [0, -1], axis=2)
    np.testing.assert_array_equal(sparse[:, :, 0], labels[:, :, 0])
    np.testing.assert_array_equal(sparse[:, :, 3], labels[:, :, 3])
    assert not sparse[:, :, 1:3].any()
    assert not paint_slices(labels, []).any()
    with pytest.raises(IndexError):
        paint_slices(labels, [4], axis=2)
    with pytest.raises(ValueError):
        paint_slices(labels, [0], axis=3)


def test_evenly_spaced_slices_examples():
    assert evenly_spaced_slices(10, 2) == [3, 6]  # 9/3 = 3, 18/3 = 6
    assert evenly_spaced_slices(10, 3) == [2, 5, 7]  # 2.25, 4.5 -> 5 (half up), 6.75
    assert evenly_spaced_slices(12, 1) == [6]  # 5.5 -> 6 (banker's round would give 6 too)
    assert evenly_spaced_slices(14, 1) == [7]  # 6.5 -> 7 (banker's round would give 6)
    assert evenly_spaced_slices(10, 0) == []
    with pytest.raises(ValueError):
        evenly_spaced_slices(0, 1)


@pytest.mark.parametrize("n_slices", [1, 2, 5, 10, 12, 18, 33])
def test_evenly_spaced_slices_follow_the_round_half_up_rule(n_slices):
    for k in range(n_slices + 2):
        got = evenly_spaced_slices(n_slices, k)
        expected = [int(np.floor((i + 1) * (n_slices - 1) / (k + 1) + 0.5)) for i in range(k)]
        assert got == expected
        assert all(0 <= s < n_slices for s in got)
        if k < n_slices - 1:
            assert all(b > a for a, b in itertools.pairwise(got))  # distinct, increasing
            assert all(0 < s < n_slices - 1 for s in got)  # never the end slices
