"""A 3D-consistent mask from slice-by-slice predictions.

The networks are 2D: each slice is predicted on its own and the slices are stacked. A
structure the user segments is, almost always, one piece in 3D with no holes; islands
far from it and holes inside it are the networks' mistakes. ``consistent_mask`` keeps,
per class, the largest 3D connected piece and every piece that touches a voxel the user
painted with that class, and fills each slice's holes: background enclosed by one class
only (a ring around another class, such as the myocardium around the left ventricle,
keeps that class inside). Painted voxels are never changed, and a slice the user marked
reviewed (annotated in full) holds its painting alone: one reviewed as empty stays empty.

Beyond the outermost painted slices the networks extrapolate: with two painted slices
that is most of the volume, and three quarters of the wrong voxels (docs/benchmarks.md,
section 31), among them the worst slices, such as ventricles found in the atria above the
heart's base. There a structure may only grow slice by slice: its outline on a slice stays
within a few pixels of its outline on the slice before (``growth`` pixels, or a share of
the structure's width there when that is more: a large structure, or a fine pixel grid,
moves more pixels a slice), starting from what the user painted on the outermost painted
slice. A structure the user did not paint on that slice is left free on that side; one
painted there passes no slice reviewed as empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

#: Whether the widget makes predictions 3D-consistent unless its user unticks it: what the
#: figures of docs/benchmarks.md, section 15, justify.
ON_BY_DEFAULT = True

#: How far a structure's outline may move from one slice to the next beyond the outermost
#: painted slices: at least this many pixels, ``GROWTH_SHARE`` of the structure's width
#: (the diameter of a disc of its area) on the slice before when that is more. Chosen on
#: the train split (docs/benchmarks.md, section 31).
GROWTH_PER_SLICE = 4
GROWTH_SHARE = 0.2

#: 26-connectivity: pieces touching by a corner are one (slices are far apart in z).
_NEIGHBOURS = np.ones((3, 3, 3), dtype=bool)

#: One pixel of growth in a slice: the 8 neighbours.
_SQUARE = np.ones((3, 3), dtype=bool)


def consistent_mask(
    labels: np.ndarray,
    painted: np.ndarray | None = None,
    *,
    axis: int = 0,
    growth: int | None = GROWTH_PER_SLICE,
    growth_share: float = GROWTH_SHARE,
    reviewed: Sequence[int] = (),
) -> np.ndarray:
    """``labels`` (a 3D label volume) with each class's stray pieces removed and its
    in-slice holes filled (slices along ``axis``); voxels painted in ``painted`` (0:
    nothing painted) keep their painted value, and the ``reviewed`` slices (marked
    complete by the user) hold what is painted there and background elsewhere. Beyond
    the outermost painted slices each class moves at most ``growth`` pixels a slice, or
    ``growth_share`` of its width when that is more (``growth=None``: no limit), so
    nothing passes a slice reviewed as empty there."""
    labels = np.asarray(labels)
    out = labels.copy()
    if len(reviewed):
        stack = np.moveaxis(out, axis, 0)  # a view: edits reach ``out``
        complete = sorted({int(i) for i in reviewed if 0 <= int(i) < stack.shape[0]})
        stack[complete] = 0 if painted is None else np.moveaxis(np.asarray(painted), axis, 0)[complete]
    if painted is not None and growth is not None:
        out = _limit_growth(out, np.asarray(painted), axis, growth, growth_share)
    for value in np.unique(out):
        if value == 0:
            continue
        mask = out == value
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


def _limit_growth(
    labels: np.ndarray, painted: np.ndarray, axis: int, growth: int, share: float
) -> np.ndarray:
    """``labels`` where, walking away from the outermost painted slices, each class keeps
    only what lies within reach of itself on the slice before (the painted slice first;
    ``_reach``); a class absent from that painted slice is left as it is on that side."""
    if growth < 0 or share < 0:
        raise ValueError(f"growth (pixels) and growth_share must be >= 0, got {growth} and {share}")
    stack = np.moveaxis(labels, axis, 0)  # a view: edits reach ``labels``
    paint = np.moveaxis(painted, axis, 0)
    painted_slices = np.flatnonzero(paint.reshape(paint.shape[0], -1).any(axis=1))
    if len(painted_slices) == 0:
        return labels
    first, last = int(painted_slices[0]), int(painted_slices[-1])
    for anchor, walk in ((last, range(last + 1, len(stack))), (first, range(first - 1, -1, -1))):
        for value in np.unique(paint[anchor]):
            if value == 0:
                continue
            before = paint[anchor] == value
            for index in walk:
                here = stack[index] == value
                reach = _reach(before, growth, share)
                stack[index][here & ~reach] = 0
                before = here & reach
    return labels


def _reach(mask: np.ndarray, growth: int, share: float) -> np.ndarray:
    """``mask`` grown by ``growth`` pixels, or by ``share`` of its width if that is more."""
    width = 2.0 * float(np.sqrt(np.count_nonzero(mask) / np.pi))
    steps = max(int(growth), round(share * width))
    if steps == 0 or not mask.any():
        return mask
    return ndimage.binary_dilation(mask, _SQUARE, iterations=steps)


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
