"""evaluation/baselines.py: contour interpolation between painted slices."""

from __future__ import annotations

import numpy as np
import pytest


def test_contour_interpolation_fills_between_painted_slices():
    from napari_mcsc.evaluation.baselines import contour_interpolation_available, interpolate_contours

    if not contour_interpolation_available():
        pytest.skip("itk-morphologicalcontourinterpolation is not installed (benchmark extra)")
    sparse = np.zeros((7, 20, 20), np.uint8)
    sparse[1, 5:15, 5:15] = 1
    sparse[5, 8:12, 8:12] = 1
    filled = interpolate_contours(sparse)
    areas = filled.sum(axis=(1, 2))
    assert areas[0] == 0 and areas[6] == 0  # no extrapolation
    assert areas[1] == 100 and areas[5] == 16
    assert 100 > areas[2] > areas[3] > areas[4] > 16
