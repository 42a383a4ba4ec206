"""data/labels.py: label values to contiguous classes and back."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.slices import AnnotationError


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


@pytest.mark.parametrize("value", [2**31 + 5, 2**32 + 1, 2**40])
def test_large_label_values_do_not_wrap(value):
    labels = np.array([[0, value], [value, 0]], dtype=np.int64)
    mapping = LabelMapping.from_label_volumes([labels])
    assert mapping.values == (0, value)
    back = mapping.to_values(mapping.to_classes(labels))
    assert back.min() >= 0
    np.testing.assert_array_equal(back, labels)


def test_label_values_beyond_int64_are_refused():
    with pytest.raises(AnnotationError, match="too large"):
        LabelMapping.from_label_volumes([np.array([0, 2**63 + 1], dtype=np.uint64)])
