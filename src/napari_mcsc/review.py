"""The correction loop's choices, without Qt: which slice the user should look at next.

After a training round the user corrects slices and retrains. Which slice to correct is
the decision that makes the loop converge fast, so it lives here, once: the napari
widget's "Next uncertain slice" and the loop benchmark (a simulated user) both call it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np

from napari_mcsc.data.slices import labelled_slice_indices


def next_uncertain_slice(ranking: Sequence[int], annotated: Iterable[int]) -> int | None:
    """The most uncertain slice (``ranking``: most uncertain first) not yet annotated."""
    done = {int(s) for s in annotated}
    return next((int(s) for s in ranking if int(s) not in done), None)


def annotated_slices(labels: np.ndarray | None, reviewed: Sequence[int], axis: int) -> list[int]:
    """Painted or reviewed slice indices of a label volume (None: nothing annotated)."""
    if labels is None:
        return sorted({int(s) for s in reviewed})
    return labelled_slice_indices(labels, reviewed, axis)


def largest_gap_slice(n_slices: int, annotated: Iterable[int]) -> int | None:
    """The slice a user without an uncertainty map would paint next: the middle of the
    longest run of unannotated slices (the volume's ends count as run boundaries)."""
    done = sorted({int(s) for s in annotated if 0 <= int(s) < n_slices})
    best, best_length = None, 0
    edges = [-1, *done, n_slices]
    for low, high in itertools.pairwise(edges):
        length = high - low - 1
        if length > best_length:
            best_length = length
            first, last = low + 1, high - 1
            best = (first + last + 1) // 2
    return best
