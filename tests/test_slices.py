"""data/slices.py: painted and reviewed slices, unlabelled slices, and the checks on them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cli_helpers import SHAPE, _image, _labels
from napari_mcsc.data.slices import AnnotatedVolume, AnnotationError, build_slice_set


class TestSliceSet:
    def test_painted_and_reviewed_slices_are_labelled_the_rest_unlabelled(self, rng):
        image = rng.uniform(size=(6, 20, 24)).astype(np.float32)
        labels = np.zeros(image.shape, np.uint8)
        labels[1, 5:9, 5:9] = 3
        labels[4, 2:4, 2:4] = 1
        vol = AnnotatedVolume(image, labels, reviewed=[5])
        data = build_slice_set([vol], image_size=32, unlabelled=[image[:2]])
        assert data.labelled_sources == [(0, 1), (0, 4), (0, 5)]
        assert data.num_labelled == 3 and data.num_unlabelled == 3 + 2
        assert data.labelled_images.shape == (3, 32, 32)
        assert data.mapping.values == (0, 1, 3)
        assert data.labelled_targets[2].sum() == 0  # the reviewed, all-background slice
        assert set(data.labelled_targets[0].unique().tolist()) == {0, 2}

    def test_slices_along_another_axis(self, rng):
        image = rng.uniform(size=(6, 20, 24)).astype(np.float32)
        labels = np.zeros(image.shape, np.uint8)
        labels[:, :, 10] = 1
        data = build_slice_set([AnnotatedVolume(image, labels)], axis=2, image_size=32)
        assert data.num_labelled == 1 and data.num_unlabelled == 23

    def test_several_volumes_of_different_sizes(self, rng):
        vols = []
        for shape in [(4, 30, 40), (7, 64, 48)]:
            labels = np.zeros(shape, np.uint8)
            labels[1, 3:8, 3:8] = 2
            vols.append(AnnotatedVolume(rng.uniform(size=shape), labels))
        data = build_slice_set(vols, image_size=32)
        assert data.num_labelled == 2 and data.num_unlabelled == 3 + 6
        assert data.labelled_sources == [(0, 1), (1, 1)]

    def test_slices_next_to_a_painted_one_are_learnt_with_the_painting_carried_to_them(self):
        """A disc moving 2 px a slice, painted on slices 2 and 7 and slice 9 reviewed as
        empty: with reach 1, slices 1, 3, 6 and 8 join the labelled slices with the disc
        where it is on them (not where it was painted); slice 9 stays background."""
        n, size = 10, 32
        yy, xx = np.mgrid[:size, :size]
        truth = np.stack([((yy - 16) ** 2 + (xx - 8 - 2 * z) ** 2 <= 25) for z in range(n)]).astype(np.uint8)
        rng = np.random.default_rng(0)
        image = (0.2 + 0.6 * truth + 0.03 * rng.standard_normal(truth.shape)).astype(np.float32)
        painted = np.zeros_like(truth)
        painted[[2, 7]] = truth[[2, 7]]
        volume = AnnotatedVolume(image, painted, reviewed=[2, 7, 9])
        plain = build_slice_set([volume], image_size=32)
        data = build_slice_set([volume], image_size=32, carried_reach=1)
        assert [s for _, s in plain.labelled_sources] == [2, 7, 9]
        assert [s for _, s in data.labelled_sources] == [1, 2, 3, 6, 7, 8, 9]
        assert data.num_unlabelled == n - 7 and plain.num_unlabelled == n - 3
        targets = dict(zip([s for _, s in data.labelled_sources], data.labelled_targets.numpy(), strict=True))
        for z in (1, 3, 6, 8):
            overlap = np.logical_and(targets[z] == 1, truth[z] == 1).sum() / truth[z].sum()
            shifted = np.logical_and(targets[z] == 1, truth[z + (1 if z in (1, 6) else -1)] == 1)
            assert overlap > 0.85 and overlap > shifted.sum() / truth[z].sum(), z
        assert not targets[9].any()
        assert build_slice_set([volume], image_size=32, carried_reach=2).num_labelled == n  # 0, 4, 5 too

    def test_no_painted_slice_is_a_clear_error(self, rng):
        image = rng.uniform(size=(3, 8, 8))
        with pytest.raises(AnnotationError, match="no painted slice"):
            build_slice_set([AnnotatedVolume(image, np.zeros((3, 8, 8)))], image_size=32)

    def test_shape_mismatch_is_a_clear_error(self, rng):
        with pytest.raises(AnnotationError, match="differs from image shape"):
            AnnotatedVolume(rng.uniform(size=(3, 8, 8)), np.zeros((3, 8, 9)))

    def test_reviewed_slice_out_of_range(self, rng):
        vol = AnnotatedVolume(rng.uniform(size=(3, 8, 8)), np.zeros((3, 8, 8)), reviewed=[3])
        with pytest.raises(AnnotationError, match="outside"):
            vol.labelled_slices(0)


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (np.full(SHAPE, np.nan, np.float32), "NaN"),
        (np.full(SHAPE, 7, np.int16), "constant"),
    ],
)
def test_blank_images_warn(image, words):
    with pytest.warns(UserWarning, match=words):
        AnnotatedVolume(image, _labels(), name="blank")


def test_ordinary_image_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AnnotatedVolume(_image(), _labels())
