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
