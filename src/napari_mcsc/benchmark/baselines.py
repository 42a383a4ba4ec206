"""What a user would do instead of training: morphological contour interpolation.

ITK's MorphologicalContourInterpolator (the "fill between slices" of 3D Slicer and
ITK-SNAP) from the optional package ``itk-morphologicalcontourinterpolation``. It fills
slices between painted ones and cannot extrapolate beyond the outermost painted slices.

ITK runs in a child process: loaded next to SimpleITK and torch, its libraries corrupted
the heap at interpreter exit here (``malloc(): ... corrupted``), after the results were
written but with a failing exit status.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

_CHILD = """
import sys
import itk
import numpy as np
labels = np.load(sys.argv[1])
filled = itk.morphological_contour_interpolator(itk.image_from_array(labels), axis=int(sys.argv[3]))
np.save(sys.argv[2], np.asarray(itk.array_from_image(filled)))
"""


def contour_interpolation_available() -> bool:
    probe = "import itk, sys; sys.exit(0 if hasattr(itk, 'MorphologicalContourInterpolator') else 1)"
    try:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=300).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def interpolate_contours(sparse_labels: np.ndarray, axis: int = 0) -> np.ndarray:
    """Fill unpainted slices along ``axis`` from the painted ones (all labels at once)."""
    labels = np.ascontiguousarray(sparse_labels.astype(np.uint8))
    itk_axis = labels.ndim - 1 - axis  # ITK's axes are reversed relative to numpy's
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npy", Path(tmp) / "out.npy"
        np.save(src, labels)
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(dst), str(itk_axis)],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not dst.is_file():
            raise RuntimeError(f"contour interpolation failed: {proc.stderr.strip()[-500:]}")
        return np.load(dst).astype(sparse_labels.dtype)
