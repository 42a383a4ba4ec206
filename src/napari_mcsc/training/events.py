"""What the trainer reports each iteration (immutable, plain Python and numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Preview:
    """Prediction of one slice during training: label values at the slice's own size."""

    volume_index: int
    slice_index: int
    labels: np.ndarray


@dataclass(frozen=True)
class ProgressEvent:
    """One training iteration's report.

    ``total`` is the planned number of iterations; with a time budget it is an estimate
    that settles as the speed is measured. ``progress`` is the fraction of the run done.
    """

    iteration: int
    total: int
    progress: float
    losses: dict[str, float]
    learning_rates: dict[str, float]
    seconds_per_iteration: float
    elapsed: float
    eta_seconds: float
    preview: Preview | None = None
