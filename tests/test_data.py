"""Data: normalisation, label mapping, labelled/unlabelled slices, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_mcsc.data.augment import Augmentation, augment_batch
from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation, normalise_volume
from napari_mcsc.data.slices import AnnotatedVolume, AnnotationError, build_slice_set


class TestNormalisation:
    def test_mri_maps_percentiles_to_unit_range(self, rng):
        volume = rng.normal(100, 20, size=(4, 32, 32)).astype(np.float32)
        out = normalise_volume(volume)
        assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
        assert np.mean(out == 1.0) == pytest.approx(0.005, abs=0.003)

    def test_nan_and_inf_are_ignored_and_zeroed(self, rng):
        volume = rng.uniform(0, 10, size=(3, 8, 8))
        volume[0, 0, 0] = np.nan
        volume[1, 1, 1] = np.inf
        volume[2, 2, 2] = -np.inf
        out = normalise_volume(volume)
        assert np.isfinite(out).all()
        assert out[0, 0, 0] == 0.0 and out[1, 1, 1] == 0.0
        assert out.max() == 1.0

    def test_constant_and_all_nan_volumes_become_zeros(self):
        assert not normalise_volume(np.full((2, 4, 4), 7.0)).any()
        assert not normalise_volume(np.full((2, 4, 4), np.nan)).any()

    def test_ct_window(self):
        volume = np.array([[[-1000.0, -125.0, 75.0, 275.0, 3000.0]]])
        out = normalise_volume(volume, Normalisation(mode="ct", window=(-125, 275)))
        np.testing.assert_allclose(out[0, 0], [0.0, 0.0, 0.5, 1.0, 1.0])

    def test_bad_settings_are_refused(self):
        with pytest.raises(ValueError, match="window"):
            Normalisation(mode="ct")
        with pytest.raises(ValueError, match="mode"):
            Normalisation(mode="pet")

    def test_dict_round_trip(self):
        norm = Normalisation(mode="ct", window=(-100.0, 200.0))
        assert Normalisation.from_dict(norm.to_dict()) == norm


class TestLabelMapping:
    def test_arbitrary_values_map_to_contiguous_classes_and_back(self):
        labels = np.array([[0, 205, 500], [7, 0, 205]])
        mapping = LabelMapping.from_label_volumes([labels])
        assert mapping.values == (0, 7, 205, 500)
        classes = mapping.to_classes(labels)
        np.testing.assert_array_equal(classes, [[0, 2, 3], [1, 0, 2]])
        np.testing.assert_array_equal(mapping.to_values(classes), labels)

    def test_unknown_values_raise(self):
        with pytest.raises(ValueError, match=r"\[9\]"):
            LabelMapping((0, 1, 2)).to_classes(np.array([0, 9]))

    def test_background_only_annotations_still_give_a_foreground_class(self):
        assert LabelMapping.from_label_volumes([np.zeros((2, 2))]).num_classes == 2

    def test_fractional_or_negative_labels_are_refused(self):
        with pytest.raises(ValueError, match="integer"):
            LabelMapping.from_label_volumes([np.array([0.5, 1.0])])
        with pytest.raises(ValueError, match="negative"):
            LabelMapping.from_label_volumes([np.array([0, -1])])


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


class TestAugmentation:
    @pytest.mark.parametrize("style", ["paper", "strong"])
    def test_image_and_labels_stay_aligned(self, style):
        g = torch.Generator().manual_seed(0)
        targets = torch.zeros(16, 32, 32, dtype=torch.long)
        targets[:, 8:20, 10:26] = 2
        targets[:, 20:28, 4:12] = 1
        images = targets.float() / 2
        aug = Augmentation(style="paper" if style == "paper" else "none")
        if style == "strong":  # geometry of the strong style without its intensity jitter
            aug = Augmentation(style="strong", gamma_range=(1, 1), contrast_range=(1, 1), noise_std=0)
        out, warped = augment_batch(images, targets, aug, g)
        assert torch.equal((out * 2).round().long(), warped)
        assert not torch.equal(warped, targets)  # something moved

    def test_right_angle_rotations_are_exact(self):
        g = torch.Generator().manual_seed(1)
        images = torch.arange(64.0).reshape(1, 8, 8).repeat(32, 1, 1)
        out, _ = augment_batch(images, None, Augmentation(style="paper"), g)
        # Whatever the transform, exact rotations/flips keep the multiset of values.
        exact = [i for i in range(32) if sorted(out[i].flatten().tolist()) == list(range(64))]
        assert len(exact) >= 8

    def test_strong_intensity_stays_in_unit_range(self):
        images = torch.rand(8, 16, 16)
        out, _ = augment_batch(images, None, Augmentation(style="strong"), torch.Generator().manual_seed(0))
        assert out.min() >= 0 and out.max() <= 1
