"""What a user would do instead of training: morphological contour interpolation.

ITK's MorphologicalContourInterpolator (the "fill between slices" of 3D Slicer and
ITK-SNAP) from the optional package ``itk-morphologicalcontourinterpolation``. It fills
slices between painted ones and cannot extrapolate beyond the outermost painted slices.
"""

from __future__ import annotations

import numpy as np


def contour_interpolation_available() -> bool:
    try:
        import itk  # noqa: F401

        return hasattr(itk, "MorphologicalContourInterpolator")
    except ImportError:
        return False


def interpolate_contours(sparse_labels: np.ndarray, axis: int = 0) -> np.ndarray:
    """Fill unpainted slices along ``axis`` from the painted ones (all labels at once)."""
    import itk

    labels = np.ascontiguousarray(sparse_labels.astype(np.uint8))
    image = itk.image_view_from_array(labels)
    # ITK's axes are reversed relative to numpy's.
    itk_axis = labels.ndim - 1 - axis
    filled = itk.morphological_contour_interpolator(image, axis=itk_axis)
    return np.asarray(itk.array_from_image(filled)).astype(sparse_labels.dtype)
