"""The bending tube: one structure over many slices that interpolation cannot follow."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_mcsc.data.phantom import paint_slices
from napari_mcsc.data.tube import LABEL_TUBE, make_tube, structure_slices


@pytest.fixture(scope="module")
def tube():
    return make_tube((64, 64, 64), seed=2)


def test_one_connected_structure_that_starts_and_ends_inside_the_stack(tube):
    assert tube.image.shape == tube.labels.shape == (64, 64, 64)
    assert tube.image.dtype == np.float32 and np.all(np.isfinite(tube.image))
    assert set(np.unique(tube.labels)) == {0, LABEL_TUBE}
    per_slice = tube.labels.reshape(64, -1).sum(axis=1)
    assert per_slice[0] == per_slice[-1] == 0  # caps inside the stack
    assert (per_slice > 0).sum() >= 48  # over most of it
    _, count = ndimage.label(tube.labels)
    assert count == 1


def test_the_tube_bends_and_changes_width(tube):
    held = [z for z in range(64) if tube.labels[z].any()]
    centres = np.array([ndimage.center_of_mass(tube.labels[z]) for z in held])
    travel = np.ptp(centres, axis=0).max()
    areas = tube.labels.reshape(64, -1).sum(axis=1)[held[5:-5]]  # away from the caps
    assert travel > 10  # pixels of a 64-pixel slice
    assert areas.max() > 1.8 * areas.min()


def test_brightness_alone_does_not_segment_it(tube):
    """Decoys as bright as the tube lie outside it: a threshold finds more than the tube."""
    lumen = np.median(tube.image[tube.labels == LABEL_TUBE])
    bright = tube.image > 0.9 * lumen
    assert bright[tube.labels == 0].sum() > 0.3 * bright[tube.labels == LABEL_TUBE].sum()


def test_same_seed_same_volume_other_seed_other_volume():
    a, b, c = (make_tube((16, 48, 48), seed=s) for s in (1, 1, 2))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels)


def test_structure_slices_spread_inside_the_extent(tube):
    held = np.flatnonzero(tube.labels.reshape(64, -1).any(axis=1))
    for k in (1, 3, 5):
        chosen = structure_slices(tube.labels, k)
        assert len(set(chosen)) == k and chosen == sorted(chosen)
        assert held[0] < chosen[0] and chosen[-1] < held[-1]
        assert paint_slices(tube.labels, chosen)[chosen].any(axis=(1, 2)).all()


def test_slices_that_are_not_square_are_made_as_asked():
    """Scans are rarely square (an atrium's crop of 144 x 208); the tube stays inside."""
    tall = make_tube((16, 96, 48), seed=1)
    assert tall.image.shape == tall.labels.shape == (16, 96, 48)
    assert np.all(np.isfinite(tall.image)) and tall.labels.any()


def test_no_structure_and_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="no structure"):
        structure_slices(np.zeros((8, 4, 4), np.uint8), 2)
    with pytest.raises(ValueError, match="y, x >= 48"):
        make_tube((16, 32, 64))
    with pytest.raises(ValueError, match="seed"):
        make_tube(seed=-1)
