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
