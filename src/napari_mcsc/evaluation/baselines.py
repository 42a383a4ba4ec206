"""What a user would do instead of training: morphological contour interpolation.

ITK's MorphologicalContourInterpolator (the "fill between slices" of 3D Slicer and
ITK-SNAP) from the optional package ``itk-morphologicalcontourinterpolation``. It fills
slices between painted ones and cannot extrapolate beyond the outermost painted slices.

ITK runs in a child process: loaded next to SimpleITK and torch, its libraries corrupted
the heap at interpreter exit here (``malloc(): ... corrupted``, once
``malloc_consolidate(): unaligned fastbin chunk detected``), after the results were
written but with a failing exit status. So the child writes its result atomically and
leaves with ``os._exit`` (no teardown of ITK's globals), the parent accepts a complete
result whatever the exit status, and a child that died before writing is run once more.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

_CHILD = """
import os, sys
import itk
import numpy as np
labels = np.load(sys.argv[1])
filled = itk.morphological_contour_interpolator(itk.image_from_array(labels), axis=int(sys.argv[3]))
partial = sys.argv[2] + ".partial.npy"
np.save(partial, np.asarray(itk.array_from_image(filled)))
os.replace(partial, sys.argv[2])
sys.stdout.flush()
os._exit(0)
"""
_TRIES = 2


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
        errors = []
        for _ in range(_TRIES):
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, str(src), str(dst), str(itk_axis)],
                capture_output=True,
                text=True,
            )
            if dst.is_file():  # written atomically: complete even if the child died after
                filled = np.load(dst)
                if filled.shape == labels.shape:
                    return filled.astype(sparse_labels.dtype)
            errors.append(f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        raise RuntimeError(f"contour interpolation failed {_TRIES} times: {' | '.join(errors)}")
