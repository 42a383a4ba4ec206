"""The field of view the networks see: where the painted structures are, not the whole slice.

A scan's slices are resized to the networks' input size (128 px in the fast profile). When
the structures fill a small part of the slice (a heart of 70 px in a 256 px cardiac MRI,
a liver lesion in a 512 px CT), the whole slice at 128 px leaves them a few dozen pixels.
``painted_box`` is the square around everything painted on a scan's painted slices, grown
by a margin on each side and carried to all its slices: the networks learn and predict
inside it, at a finer scale, and the prediction is pasted back into the whole slice
(background outside). When the grown square would cover most of the slice, the whole slice
is kept.

A scan nobody painted has no box: it is seen at the scale the model was trained at
(``Box.side`` as a share of the slice, ``field_share``), in overlapping tiles
(``tile_boxes``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A grown box covering more than this share of the slice's shorter side: whole slice.
WHOLE_SLICE_SHARE = 0.8
#: The smallest box side, in pixels (a few painted pixels still get context).
MIN_SIDE = 32


@dataclass(frozen=True)
class Box:
    """Rows ``y0:y1`` and columns ``x0:x1`` of a slice (end excluded)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    def cut(self, slices: np.ndarray) -> np.ndarray:
        """The box of each slice of a (N, H, W) stack (or of one (H, W) slice)."""
        return slices[..., self.y0 : self.y1, self.x0 : self.x1]


def painted_box(painted: np.ndarray, margin: float) -> Box | None:
    """The square around the foreground of ``painted`` (N, H, W: the painted slices'
    classes, 0 background), grown by ``margin`` x its side on each side and kept inside
    the slice; the whole slice when that square would cover most of it; None when nothing
    is painted."""
    height, width = painted.shape[-2:]
    rows = np.flatnonzero(np.asarray(painted).any(axis=(0, 2)))
    cols = np.flatnonzero(np.asarray(painted).any(axis=(0, 1)))
    if not len(rows):
        return None
    side = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    side = max(MIN_SIDE, round(side * (1 + 2 * margin)))
    if side >= WHOLE_SLICE_SHARE * min(height, width):
        return whole_slice((height, width))
    centre_y = (rows[0] + rows[-1] + 1) / 2
    centre_x = (cols[0] + cols[-1] + 1) / 2
    y0 = _start(centre_y, side, height)
    x0 = _start(centre_x, side, width)
    return Box(y0, y0 + side, x0, x0 + side)


def whole_slice(slice_shape: tuple[int, int]) -> Box:
    return Box(0, slice_shape[0], 0, slice_shape[1])


def is_whole(box: Box, slice_shape: tuple[int, int]) -> bool:
    return (box.height, box.width) == tuple(slice_shape)


def box_of_painting(labels: np.ndarray, axis: int, margin: float) -> Box | None:
    """``painted_box`` of a scan's sparse label volume (slices along ``axis``); None when
    nothing is painted."""
    stack = np.moveaxis(np.asarray(labels) != 0, axis, 0)
    painted = stack[stack.any(axis=(1, 2))]
    return painted_box(painted, margin) if len(painted) else None


def field_share(boxes: list[Box], slice_shapes: list[tuple[int, int]]) -> float | None:
    """The mean side of the boxes that are not whole slices, as a share of their slice's
    shorter side: the scale a scan without painting is seen at. None: no box is smaller
    than its slice (the model sees whole slices)."""
    shares = [b.height / min(s) for b, s in zip(boxes, slice_shapes, strict=True) if not is_whole(b, s)]
    return float(np.mean(shares)) if shares else None


def tile_boxes(slice_shape: tuple[int, int], share: float, overlap: float = 0.5) -> list[Box]:
    """Squares of ``share`` x the shorter side that cover the whole slice, overlapping by
    about ``overlap`` of their side: how a scan without painting is seen at the scale of
    a model trained on painted boxes."""
    height, width = slice_shape
    side = min(height, width, max(MIN_SIDE, round(share * min(height, width))))
    step = max(1, round(side * (1 - overlap)))
    return [
        Box(y, y + side, x, x + side) for y in _starts(height, side, step) for x in _starts(width, side, step)
    ]


def paste(values: np.ndarray, box: Box, slice_shape: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """``values`` (..., h, w) of ``box`` placed into slices of ``slice_shape`` (``fill``
    outside the box)."""
    out = np.full((*values.shape[:-2], *slice_shape), fill, dtype=values.dtype)
    out[..., box.y0 : box.y1, box.x0 : box.x1] = values
    return out


def _start(centre: float, side: int, length: int) -> int:
    """The first index of a run of ``side`` centred on ``centre``, moved inside [0, length)."""
    if side >= length:
        return 0
    return int(min(max(0, round(centre - side / 2)), length - side))


def _starts(length: int, side: int, step: int) -> list[int]:
    starts = list(range(0, max(1, length - side + 1), step))
    if starts[-1] + side < length:
        starts.append(length - side)
    return starts
