"""Synthetic single-structure volume: a tube that bends and changes width over many slices.

Why: ACDC has about ten slices a volume and the cardiac phantom's LV is a smooth cone,
so neither tells whether a model beats contour interpolation on a small structure seen
over 60+ slices (a vessel, an atrium, a nerve). Here the tube's centre follows two
sinusoids of different periods and its cross-section (an ellipse that turns) swells and
narrows along z, so the slices between two painted ones are not a blend of them; it
starts and ends inside the stack (tapered caps), so the outer slices hold nothing.

The background is not empty: smooth tissue texture, a thin dark wall around the tube and
two unlabelled decoys of the tube's brightness (a second vessel that runs beside it and a
few blobs), so that brightness alone does not segment it. Then in-plane blur, a bias
field and Rician noise. Labels: 0 background, :data:`LABEL_TUBE` the tube's lumen.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_mcsc.data.phantom import Phantom, evenly_spaced_slices

__all__ = ["LABEL_TUBE", "make_tube", "structure_slices"]

LABEL_TUBE = 1


def make_tube(shape: tuple[int, int, int] = (72, 96, 96), seed: int = 0) -> Phantom:
    """A bending tube of varying width (label 1) in a cluttered background.

    Deterministic for a given ``(shape, seed)``; ``shape`` is (z, y, x) with z >= 8 and
    y, x >= 48. The tube occupies roughly the middle 85 % of the slices. Returns a
    :class:`~napari_mcsc.data.phantom.Phantom` (float32 image, uint8 labels, spacing in
    mm: 1 mm slices, 0.8 mm pixels).
    """
    nz, ny, nx = (int(n) for n in shape)
    if nz < 8 or ny < 48 or nx < 48:
        raise ValueError(f"shape needs z >= 8 and y, x >= 48, got {tuple(shape)}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rng = np.random.default_rng([int(seed), 7])
    f32 = np.float32
    size = min(ny, nx)
    t = np.arange(nz, dtype=f32) / (nz - 1)  # 0 .. 1 along the stack
    yy = np.arange(ny, dtype=f32)[None, :, None]
    xx = np.arange(nx, dtype=f32)[None, None, :]

    # ---- the tube: path, width, turning elliptical section, tapered caps ---------------
    start, end = rng.uniform(0.04, 0.1), rng.uniform(0.9, 0.96)
    periods = rng.uniform(0.6, 1.4, size=2)  # sinusoid periods along the stack
    phases = rng.uniform(0.0, 2.0 * np.pi, size=4)
    amp = rng.uniform(0.12, 0.2, size=2) * size
    cy = ny / 2 + amp[0] * np.sin(2 * np.pi * t / periods[0] + phases[0])
    cx = nx / 2 + amp[1] * np.sin(2 * np.pi * t / periods[1] + phases[1])
    r0 = rng.uniform(0.07, 0.09) * size
    swell = 1.0 + 0.4 * np.sin(2 * np.pi * t * rng.uniform(1.5, 2.5) + phases[2])
    inside = np.clip((t - start) / (end - start), 0.0, 1.0)
    caps = np.sqrt(np.clip(np.minimum(inside, 1.0 - inside) / 0.08, 0.0, 1.0)) * ((t >= start) & (t <= end))
    radius = r0 * swell * caps
    ratio = 1.0 + 0.5 * (0.5 + 0.5 * np.sin(2 * np.pi * t * 1.3 + phases[3]))  # long / short axis
    turn = phases[3] + 1.5 * t  # the section turns along the stack
    q = _ellipse(yy, xx, cy, cx, radius * np.sqrt(ratio), radius / np.sqrt(ratio), turn)
    tube = (q < 1.0) & (radius[:, None, None] > 0.5)
    wall = (q < 1.6) & ~tube & (radius[:, None, None] > 0.5)

    # ---- the decoys: a second vessel beside the tube and a few blobs -------------------
    side = rng.choice([-1.0, 1.0])
    dy = cy + side * rng.uniform(0.25, 0.32) * size * np.cos(2 * np.pi * t * 0.7)
    dx = cx + side * rng.uniform(0.2, 0.3) * size
    decoy = _ellipse(yy, xx, dy, dx, 0.6 * r0, 0.6 * r0, 0.0) < 1.0
    for _ in range(int(rng.integers(3, 6))):
        by, bx = rng.uniform(0.15, 0.85, size=2) * (ny, nx)
        zc, zr = rng.uniform(0.0, 1.0), rng.uniform(0.1, 0.3)
        br = rng.uniform(0.05, 0.1) * size * np.sqrt(np.clip(1.0 - ((t - zc) / zr) ** 2, 0.0, None))
        decoy |= _ellipse(yy, xx, by, bx, br + 1e-3, br + 1e-3, 0.0) < 1.0
    decoy &= ~(tube | wall)

    # ---- intensities, then acquisition effects -----------------------------------------
    texture = ndimage.gaussian_filter(rng.standard_normal((nz, ny, nx)).astype(f32), sigma=(2.0, 4.0, 4.0))
    image = rng.uniform(0.35, 0.45) + 2.0 * texture
    lumen = rng.uniform(0.8, 0.9)
    image = np.where(wall, rng.uniform(0.2, 0.25), image)
    image = np.where(decoy, lumen * rng.uniform(0.85, 1.0), image)
    image = np.where(tube, lumen, image).astype(f32)
    image = ndimage.gaussian_filter(image, sigma=(0.0, 0.8, 0.8))
    ramp_y, ramp_x = (np.linspace(-1.0, 1.0, n, dtype=f32) for n in (ny, nx))
    c = rng.normal(0.0, 0.15, size=3)
    bias = np.exp(c[0] * ramp_y[:, None] + c[1] * ramp_x[None, :] + c[2] * (2.0 * t[:, None, None] - 1.0))
    noise = rng.standard_normal((2, nz, ny, nx)).astype(f32) * f32(rng.uniform(0.05, 0.08))
    image = np.sqrt((image * bias + noise[0]) ** 2 + noise[1] ** 2).astype(f32)
    labels = (tube * LABEL_TUBE).astype(np.uint8)
    return Phantom(image=image, labels=labels, spacing=(1.0, 0.8, 0.8), name=f"tube-s{seed}")


def structure_slices(labels: np.ndarray, k: int) -> list[int]:
    """``k`` evenly spaced slices inside the structure's extent along z, as a user paints.

    The extent is the first to the last slice holding a label; the slices are spread as
    :func:`~napari_mcsc.data.phantom.evenly_spaced_slices` spreads them over a stack.
    """
    present = np.flatnonzero(np.asarray(labels).reshape(len(labels), -1).any(axis=1))
    if present.size == 0:
        raise ValueError("the labels hold no structure to paint")
    first, last = int(present[0]), int(present[-1])
    return [first + i for i in evenly_spaced_slices(last - first + 1, k)]


def _ellipse(yy, xx, cy, cx, ay, ax, rot) -> np.ndarray:
    """Per-slice quadratic form of a rotated ellipse (< 1 inside); each parameter is one
    value per z or one value for all."""
    params = np.broadcast_arrays(*(np.asarray(v, dtype=np.float32) for v in (cy, cx, ay, ax, rot)))
    cy, cx, ay, ax, rot = (v[:, None, None] for v in params)
    dy, dx = yy - cy, xx - cx
    u = np.cos(rot) * dx + np.sin(rot) * dy
    v = -np.sin(rot) * dx + np.cos(rot) * dy
    return (u / np.maximum(ax, 1e-3)) ** 2 + (v / np.maximum(ay, 1e-3)) ** 2
