"""A 3D-consistent mask from slice-by-slice predictions.

The networks are 2D: each slice is predicted on its own and the slices are stacked. A
structure the user segments is, almost always, one piece in 3D with no holes; islands
far from it and holes inside it are the networks' mistakes. ``consistent_mask`` keeps,
per class, the largest 3D connected piece and every piece that touches a voxel the user
painted with that class, and fills each slice's holes: background enclosed by one class
only (a ring around another class, such as the myocardium around the left ventricle,
keeps that class inside). Painted voxels are never changed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Whether the widget makes predictions 3D-consistent unless its user unticks it: what the
#: figures of docs/benchmarks.md, section 15, justify.
ON_BY_DEFAULT = True

#: 26-connectivity: pieces touching by a corner are one (slices are far apart in z).
_NEIGHBOURS = np.ones((3, 3, 3), dtype=bool)


def consistent_mask(labels: np.ndarray, painted: np.ndarray | None = None, *, axis: int = 0) -> np.ndarray:
    """``labels`` (a 3D label volume) with each class's stray pieces removed and its
    in-slice holes filled (slices along ``axis``); voxels painted in ``painted`` (0:
    nothing painted) keep their painted value."""
    labels = np.asarray(labels)
    out = labels.copy()
    for value in np.unique(labels):
        if value == 0:
            continue
        mask = labels == value
        pieces, count = ndimage.label(mask, structure=_NEIGHBOURS)
        if count > 1:
            sizes = np.bincount(pieces.ravel())
            sizes[0] = 0
            keep = {int(np.argmax(sizes))}
            if painted is not None:
                keep |= {int(p) for p in np.unique(pieces[(painted == value) & mask]) if p}
            out[mask & ~np.isin(pieces, sorted(keep))] = 0
    out = _fill_holes_per_slice(out, axis)
    if painted is not None:
        out = np.where(painted != 0, painted, out).astype(labels.dtype, copy=False)
    return out


def _fill_holes_per_slice(labels: np.ndarray, axis: int) -> np.ndarray:
    """Each slice's background pieces that do not reach the slice's edge and touch one
    class only, given that class (a hole in a structure, not the gap between two)."""
    stack = np.moveaxis(labels, axis, 0).copy()
    for plane in stack:
        holes, count = ndimage.label(plane == 0)
        if count < 2:
            continue
        edge = set(np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]])).tolist())
        for index, found in enumerate(ndimage.find_objects(holes), start=1):
            if index in edge or found is None:
                continue
            grown = tuple(slice(max(0, s.start - 1), s.stop + 1) for s in found)
            hole = holes[grown] == index
            around = plane[grown][ndimage.binary_dilation(hole) & ~hole]
            classes = np.unique(around[around != 0])
            if len(classes) == 1:
                plane[grown][hole] = classes[0]
    return np.moveaxis(stack, 0, axis)
