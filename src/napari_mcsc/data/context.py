"""Context from neighbouring slices ("2.5D"): each slice with its neighbours as channels.

The networks stay 2D (the paper's), but with ``context_slices`` 3 or 5 they see a slice
together with the 1 or 2 slices on each side of it, so what lies between two painted
slices is seen with what surrounds it along the third axis. At a volume's first and last
slices the missing neighbours repeat the edge slice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def context_stack(volume: np.ndarray, indices: Sequence[int], context: int) -> np.ndarray:
    """(N, C, H, W): slice ``i`` of ``volume`` (Z, H, W) between its ``context // 2``
    neighbours on each side, for each ``i`` of ``indices``; edge slices repeated."""
    half = context // 2
    offsets = np.arange(-half, half + 1)
    rows = np.clip(np.asarray(indices, dtype=int)[:, None] + offsets[None, :], 0, volume.shape[0] - 1)
    return volume[rows]
