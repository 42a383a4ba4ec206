"""postprocess.py: one 3D piece per structure, no holes, painted voxels kept."""

import numpy as np

from napari_mcsc.postprocess import consistent_mask


def _ball(shape, centre, radius):
    zz, yy, xx = np.indices(shape)
    return (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 < radius**2


def test_stray_pieces_go_and_the_largest_stays_per_class():
    labels = np.zeros((10, 40, 40), np.uint8)
    labels[_ball(labels.shape, (5, 20, 20), 6)] = 1
    labels[2, 2:4, 2:4] = 1  # an island of class 1
    labels[_ball(labels.shape, (5, 8, 32), 3)] = 2  # class 2: one piece, kept
    out = consistent_mask(labels)
    assert out[2, 2:4, 2:4].sum() == 0
    assert (out[labels == 2] == 2).all()
    assert (out[_ball(labels.shape, (5, 20, 20), 6)] == 1).all()


def test_a_piece_touching_a_painted_voxel_of_its_class_stays_and_painted_voxels_never_change():
    labels = np.zeros((6, 30, 30), np.uint8)
    labels[:, 5:15, 5:15] = 1  # largest
    labels[:, 20:24, 20:24] = 1  # smaller, painted by the user
    labels[3, 0, 29] = 1  # smaller, not painted
    painted = np.zeros_like(labels)
    painted[1, 21, 21] = 1
    painted[4, 0, 0] = 2  # the user painted class 2 where the networks saw background
    out = consistent_mask(labels, painted)
    assert (out[:, 20:24, 20:24] == 1).all()
    assert out[3, 0, 29] == 0
    assert out[4, 0, 0] == 2


def test_holes_are_filled_in_each_slice_but_a_class_inside_a_ring_stays():
    labels = np.zeros((3, 30, 30), np.uint8)
    labels[:, 5:25, 5:25] = 2  # a ring of class 2 (myocardium) ...
    labels[:, 10:20, 10:20] = 3  # ... around class 3 (left ventricle)
    labels[1, 14:16, 14:16] = 0  # a hole inside class 3
    labels[0, 7, 7] = 0  # a hole inside the ring itself
    out = consistent_mask(labels, axis=0)
    assert (out[:, 10:20, 10:20] == 3).all()  # the hole filled with 3, the ventricle kept
    assert out[0, 7, 7] == 2
    assert out.dtype == labels.dtype and out.shape == labels.shape


def _painted_slices(labels, slices):
    painted = np.zeros_like(labels)
    painted[slices] = labels[slices]
    return painted


def test_beyond_the_outermost_painted_slices_a_structure_may_only_grow_a_few_pixels_a_slice():
    labels = np.zeros((8, 40, 40), np.uint8)
    labels[:, 15:25, 15:25] = 1  # one column of class 1, painted on slices 2 and 4
    labels[6, 15:25, 25:38] = 1  # beyond the painted slices it spreads 13 px sideways at once
    labels[0, 15:25, 10:15] = 1  # and, below them, 5 px: more than the limit of 4
    painted = _painted_slices(labels, [2, 4])
    out = consistent_mask(labels, painted, growth=4)
    assert (out[6, 15:25, 15:29] == 1).all()  # within 4 px of the slice before: kept
    assert (out[6, 15:25, 29:38] == 0).all()  # the rest of the spread: gone
    assert (out[0, 15:25, 11:15] == 1).all() and (out[0, 15:25, 10] == 0).all()
    assert (out[7, 15:25, 15:25] == 1).all()  # the column itself stays all the way
    unlimited = consistent_mask(labels, painted, growth=None)
    assert (unlimited[6, 15:25, 25:38] == 1).all()


def test_the_growth_limit_follows_the_structure_slice_by_slice_and_spares_the_painted_range():
    labels = np.zeros((9, 40, 40), np.uint8)
    for z in range(9):
        labels[z, 10:20, 5 + 3 * z : 15 + 3 * z] = 2  # a tube moving 3 px a slice
    labels[4, 20:40, 0:40] = 2  # between the painted slices it may widen at once
    painted = _painted_slices(labels, [2, 5])
    out = consistent_mask(labels, painted, growth=4)
    for z in range(9):
        assert (out[z, 10:20, 5 + 3 * z : 15 + 3 * z] == 2).all()  # the tube, every slice
    assert (out[4, 20:40, 0:40] == 2).all()
    assert (painted[painted > 0] == out[painted > 0]).all()


def test_a_structure_not_painted_on_the_outermost_slice_is_left_free_on_that_side():
    labels = np.zeros((6, 30, 30), np.uint8)
    labels[:, 5:15, 5:15] = 1
    labels[4:, 18:28, 18:28] = 3  # class 3 starts beyond the last painted slice
    painted = _painted_slices(labels, [1, 3])
    out = consistent_mask(labels, painted, growth=0)
    assert (out[4:, 18:28, 18:28] == 3).all()
    assert (out[:, 5:15, 5:15] == 1).all()  # growth 0: the same outline is allowed


def test_the_growth_limit_works_along_any_axis():
    labels = np.zeros((8, 40, 40), np.uint8)
    labels[:, 15:25, 15:25] = 1
    labels[6, 15:25, 25:38] = 1
    painted = _painted_slices(labels, [2, 4])
    along_x = consistent_mask(np.moveaxis(labels, 0, 2), np.moveaxis(painted, 0, 2), axis=2, growth=4)
    assert (np.moveaxis(along_x, 2, 0) == consistent_mask(labels, painted, growth=4)).all()


def test_a_large_structure_may_move_more_pixels_a_slice_than_a_small_one():
    labels = np.zeros((6, 120, 120), np.uint8)
    labels[:, 10:70, 10:70] = 1  # 60 px wide: a fifth of its width is 14 px
    labels[:, 90:100, 90:100] = 2  # 10 px wide: the floor of 4 px applies
    labels[5, 10:70, 70:80] = 1  # both spread 10 px beyond the last painted slice
    labels[5, 90:100, 100:110] = 2
    painted = _painted_slices(labels, [1, 3])
    out = consistent_mask(labels, painted, growth=4, growth_share=0.2)
    assert (out[5, 10:70, 10:80] == 1).all()
    assert (out[5, 90:100, 90:104] == 2).all() and (out[5, 90:100, 104:110] == 0).all()
    fixed = consistent_mask(labels, painted, growth=4, growth_share=0.0)
    assert (fixed[5, 10:70, 74:80] == 0).all()


def test_a_reviewed_slice_holds_its_painting_alone_and_nothing_grows_past_an_empty_one():
    labels = np.zeros((7, 30, 30), np.uint8)
    labels[:, 5:15, 5:15] = 1  # the networks see the structure on every slice
    labels[2, 20:25, 20:25] = 2  # and a second one on a slice the user painted in full
    painted = _painted_slices(labels, [1])
    painted[2, 6:14, 6:14] = 1
    out = consistent_mask(labels, painted, reviewed=[2, 5])
    assert np.array_equal(out[2], painted[2])  # complete: what is painted, background elsewhere
    assert not out[5:].any()  # reviewed empty: nothing there, nor beyond it
    assert (out[3:5, 5:15, 5:15] == 1).all()
    assert np.array_equal(consistent_mask(labels, painted, reviewed=[], growth=None)[5], labels[5])
    along_x = consistent_mask(np.moveaxis(labels, 0, 2), np.moveaxis(painted, 0, 2), axis=2, reviewed=[2, 5])
    assert np.array_equal(np.moveaxis(along_x, 2, 0), out)
