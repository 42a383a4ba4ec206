"""Synthetic cardiac short-axis MRI phantom with ground-truth labels.

Why: the demo, the napari sample data and the tests need a small 3D volume that looks
enough like a cine-MRI short-axis stack (ACDC-style) to exercise the whole pipeline -
painting a few slices, training, inference, metrics - without downloading patient data.

The phantom follows ACDC's label convention: 0 background, 1 right-ventricle (RV) blood
pool, 2 left-ventricle (LV) myocardium, 3 LV blood pool. Anatomy, per slice from base
(z = 0) to apex (z = -1):

* LV blood pool: a bright, slightly irregular disc whose radius shrinks towards the apex,
  with two dark papillary muscles inside (labelled LV, as in ACDC);
* myocardium: a dark ring of near-constant thickness around the blood pool;
* RV: a bright crescent hugging part of the ring (cavity labelled 1, thin dark free wall
  unlabelled); it thins and disappears before the apex;
* the heart centre drifts slightly across slices and the RV crescent twists a little;
* background: torso ellipse, dark lungs, epicardial fat and a few random tissue blobs.

Acquisition effects: in-plane partial-volume blur, a smooth multiplicative bias field,
Rician noise, and a per-volume intensity transform (gain, offset, gamma) so volumes
differ in contrast the way scans from different protocols do. ``seed`` and ``variant``
both change anatomy and appearance; ``variant`` additionally selects a distinct
intensity "protocol". Everything is vectorised numpy; the default 12x96x96 volume takes a
few milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "CLASS_NAMES",
    "LABEL_LV",
    "LABEL_MYO",
    "LABEL_RV",
    "Phantom",
    "evenly_spaced_slices",
    "make_phantom",
    "make_phantom_set",
    "paint_slices",
]

LABEL_RV = 1
LABEL_MYO = 2
LABEL_LV = 3
#: Label value -> name (ACDC order).
CLASS_NAMES: dict[int, str] = {LABEL_RV: "RV", LABEL_MYO: "MYO", LABEL_LV: "LV"}

#: Intensity "protocols" selected by ``variant % len``: (gain, offset, gamma). Variant 0
#: is roughly [0, 1]; the others mimic raw scanner ranges and different contrasts.
_PROTOCOLS: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 1.0),
    (180.0, 20.0, 0.85),
    (2.5, 0.3, 1.25),
    (40.0, 5.0, 1.1),
)

#: Reference geometry: a 96x96 in-plane grid at 1.5 mm and 12 slices of 8 mm. Other
#: shapes keep the same physical heart size, so the spacing scales with the grid.
_REF_INPLANE = 96
_REF_INPLANE_MM = 1.5
_REF_HEART_LENGTH_MM = 96.0


@dataclass
class Phantom:
    """A synthetic volume with its ground truth.

    ``image`` float32 (z, y, x); ``labels`` uint8 with 0 background, 1 RV, 2 myocardium,
    3 LV blood pool; ``spacing`` in mm, numpy order (z, y, x); ``name`` identifies the
    seed/variant it was made from.
    """

    image: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, float, float]
    name: str

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the image and of the labels (z, y, x)."""
        return tuple(self.image.shape)


def _validate_shape(shape: Iterable[int]) -> tuple[int, int, int]:
    """Three positive ints with an in-plane size large enough to draw a heart."""
    dims = tuple(int(n) for n in shape)
    if len(dims) != 3:
        raise ValueError(f"shape must be (z, y, x), got {tuple(shape)}")
    nz, ny, nx = dims
    if nz < 1 or ny < 32 or nx < 32:
        raise ValueError(f"shape needs z >= 1 and y, x >= 32, got {dims}")
    return nz, ny, nx


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def _ellipse_q(
    yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ay: float, ax: float, rot: float
) -> np.ndarray:
    """Quadratic form of a rotated ellipse: < 1 inside, > 1 outside."""
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(rot), np.sin(rot)
    u = c * dx + s * dy
    v = -s * dx + c * dy
    return (u / ax) ** 2 + (v / ay) ** 2


def make_phantom(shape: tuple[int, int, int] = (12, 96, 96), seed: int = 0, *, variant: int = 0) -> Phantom:
    """Make a cardiac-like short-axis volume and its labels (see the module docstring).

    Deterministic for a given ``(shape, seed, variant)``. ``shape`` is (z, y, x) with
    y, x >= 32; z = 0 is the base and z = -1 the apex (the RV is always absent there when
    z >= 2). Returns a :class:`Phantom` with a float32 image and uint8 labels.
    """
    nz, ny, nx = _validate_shape(shape)
    if int(seed) < 0 or int(variant) < 0:
        raise ValueError(f"seed and variant must be >= 0, got {seed}, {variant}")
    rng = np.random.default_rng([int(seed), int(variant)])
    scale = min(ny, nx) / _REF_INPLANE  # pixels per reference pixel
    f32 = np.float32

    yy = np.arange(ny, dtype=f32)[:, None]  # (ny, 1)
    xx = np.arange(nx, dtype=f32)[None, :]  # (1, nx)
    t = (np.arange(nz, dtype=f32) / max(nz - 1, 1))[:, None, None]  # 0 base -> 1 apex

    # ---- anatomy parameters (drawn in a fixed order: determinism) -------------------
    r0 = rng.uniform(10.0, 13.0) * scale  # basal LV blood-pool radius
    wall = rng.uniform(4.0, 5.5) * scale  # myocardial thickness
    rv_angle = np.deg2rad(200.0) + rng.uniform(-0.6, 0.6)  # RV direction (image angle)
    rv_twist = rng.uniform(-0.25, 0.25)  # twist of the RV from base to apex (rad)
    rv_halfwidth = np.deg2rad(rng.uniform(65.0, 85.0))  # angular half-extent of the crescent
    rv_thick = rng.uniform(0.7, 0.95)  # crescent thickness relative to the epicardial radius
    rv_end = rng.uniform(0.65, 0.85)  # fraction of the stack where the RV disappears
    ecc2, ecc3 = rng.uniform(0.02, 0.06), rng.uniform(0.0, 0.03)  # endocardial harmonics
    psi2, psi3, psi_w = rng.uniform(0.0, 2.0 * np.pi, size=3)
    drift = rng.normal(0.0, 2.0, size=2) * scale  # centre drift base -> apex (y, x)
    centre_jitter = rng.uniform(-5.0, 5.0, size=2) * scale

    # LV centre: image centre, pushed away from the RV so the whole heart fits.
    rv_reach = rv_thick * (r0 + wall)
    cy0 = ny / 2.0 - 0.4 * rv_reach * np.sin(rv_angle) + centre_jitter[0]
    cx0 = nx / 2.0 - 0.4 * rv_reach * np.cos(rv_angle) + centre_jitter[1]
    cy = (cy0 + drift[0] * t).astype(f32)  # (nz, 1, 1)
    cx = (cx0 + drift[1] * t).astype(f32)

    dy, dx = yy[None] - cy, xx[None] - cx  # (nz, ny, nx)
    rho = np.hypot(dy, dx)
    phi = np.arctan2(dy, dx)

    r_lv = r0 * (1.0 - 0.25 * t - 0.4 * t**2)  # shrinks base -> apex (0.35 r0 at apex)
    r_endo = r_lv * (1.0 + ecc2 * np.cos(2.0 * (phi - psi2)) + ecc3 * np.cos(3.0 * (phi - psi3)))
    w = wall * (1.0 - 0.15 * t) * (1.0 + 0.08 * np.cos(phi - psi_w))
    r_epi = r_endo + w

    # RV crescent: thickness profile cos(...) over +-rv_halfwidth around rv_angle(z).
    alpha = _wrap(phi - (rv_angle + rv_twist * t))
    profile = np.cos(np.clip(np.abs(alpha) / rv_halfwidth, 0.0, 1.0) * (np.pi / 2.0)) ** 0.7
    rv_taper = np.clip(1.0 - t / rv_end, 0.0, 1.0) ** 0.8
    r_rv = r_epi + rv_thick * (r0 + wall) * rv_taper * profile
    rv_wall = 1.3 * scale

    lv = rho < r_endo
    myo = (rho >= r_endo) & (rho < r_epi)
    rv = (rho >= r_epi) & (rho < r_rv)
    rv_free_wall = (rho >= r_rv) & (rho < r_rv + rv_wall) & (r_rv - r_epi > 0.5 * scale)
    heart_outer = np.maximum(r_epi, np.where(r_rv - r_epi > 0.5 * scale, r_rv + rv_wall, r_epi))
    fat = (rho < heart_outer + 1.6 * scale) & ~(lv | myo | rv | rv_free_wall)

    # Papillary muscles: two small dark discs inside the LV blood pool, labelled LV.
    papillary = np.zeros_like(lv)
    for offset in (-0.75, 0.75):
        ang = rv_angle + np.pi + offset + rng.uniform(-0.2, 0.2)
        pr = 0.65 * r_lv
        py, px = cy + pr * np.sin(ang), cx + pr * np.cos(ang)
        radius = rng.uniform(0.14, 0.2) * r_lv * (t < 0.85)
        papillary |= (yy[None] - py) ** 2 + (xx[None] - px) ** 2 < radius**2
    papillary &= lv

    labels = np.zeros((nz, ny, nx), dtype=np.uint8)
    labels[rv] = LABEL_RV
    labels[myo] = LABEL_MYO
    labels[lv] = LABEL_LV

    # ---- tissue intensities (before the acquisition effects) ------------------------
    blood = rng.uniform(0.85, 1.0)
    myo_i = rng.uniform(0.22, 0.32)
    tissue = rng.uniform(0.38, 0.5)
    lung = rng.uniform(0.03, 0.08)
    fat_i = rng.uniform(0.65, 0.85)

    # Background (2D where it does not vary along z, broadcast later).
    body_q = _ellipse_q(yy, xx, ny * 0.52, nx * 0.5, ny * 0.44, nx * 0.48, rng.uniform(-0.1, 0.1))
    image = np.where(body_q < 1.0, f32(tissue), f32(0.0)).astype(f32)
    image = np.broadcast_to(image, (nz, ny, nx)).copy()
    # Random tissue blobs: ellipsoids whose cross-section changes along z.
    z_idx = np.arange(nz, dtype=f32)[:, None, None]
    for _ in range(int(rng.integers(3, 7))):
        by, bx = rng.uniform(0.15, 0.85) * ny, rng.uniform(0.15, 0.85) * nx
        ay, ax = rng.uniform(4.0, 14.0, size=2) * scale
        q = _ellipse_q(yy, xx, by, bx, ay, ax, rng.uniform(0.0, np.pi))[None]
        zc, zr = rng.uniform(-0.2, 1.2) * (nz - 1), rng.uniform(0.5, 1.5) * max(nz, 2)
        extent = np.clip(1.0 - ((z_idx - zc) / zr) ** 2, 0.0, None)
        blob = (q < extent) & (body_q < 1.0)[None]
        image[blob] = rng.uniform(0.15, 0.75)
    # Lungs either side of the heart (dark), shrinking slightly towards the apex.
    for side in (-1.0, 1.0):
        q = _ellipse_q(yy, xx, ny * 0.45, nx * (0.5 + side * 0.3), ny * 0.25, nx * 0.13, side * 0.3)
        image[(q[None] < (1.0 - 0.3 * t)) & (body_q < 1.0)[None]] = lung
    image[fat] = fat_i * (0.8 + 0.2 * np.cos(phi[fat] * 3.0 + psi3))
    image[myo | rv_free_wall] = myo_i
    image[lv | rv] = blood
    image[papillary] = myo_i

    # ---- acquisition: blur, bias field, Rician noise, protocol intensity transform ---
    image = ndimage.gaussian_filter(image, sigma=(0.0, 0.7, 0.7), mode="nearest")
    ny_c = np.linspace(-1.0, 1.0, ny, dtype=f32)[:, None]
    nx_c = np.linspace(-1.0, 1.0, nx, dtype=f32)[None, :]
    c = rng.normal(0.0, 0.15, size=6)
    bias2d = c[0] * ny_c + c[1] * nx_c + c[2] * ny_c * nx_c + c[3] * ny_c**2 + c[4] * nx_c**2
    bias = np.exp(bias2d[None] + c[5] * (2.0 * t - 1.0)).astype(f32)
    sigma = rng.uniform(0.03, 0.06)
    noise = rng.standard_normal((2, nz, ny, nx), dtype=f32) * f32(sigma)
    image = np.sqrt((image * bias + noise[0]) ** 2 + noise[1] ** 2)

    gain, offset, gamma = _PROTOCOLS[int(variant) % len(_PROTOCOLS)]
    gain *= rng.uniform(0.85, 1.15)
    offset += rng.uniform(-0.05, 0.05) * gain
    gamma *= rng.uniform(0.95, 1.05)
    image = (gain * image**gamma + offset).astype(f32)

    in_plane = _REF_INPLANE_MM * _REF_INPLANE / min(ny, nx)
    spacing = (round(_REF_HEART_LENGTH_MM / nz, 4), round(in_plane, 4), round(in_plane, 4))
    return Phantom(image=image, labels=labels, spacing=spacing, name=f"phantom-s{seed}-v{variant}")


def make_phantom_set(n: int = 3, shape: tuple[int, int, int] = (12, 96, 96), seed: int = 0) -> list[Phantom]:
    """``n`` phantoms with variants 0..n-1 (different anatomy and intensity protocol)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [make_phantom(shape, seed, variant=i) for i in range(n)]


def paint_slices(labels: np.ndarray, slice_indices: Iterable[int], axis: int = 0) -> np.ndarray:
    """Sparse labels: zeros everywhere except the listed slices, copied from ``labels``.

    This simulates a user who painted only a few slices (along ``axis``). Negative
    indices count from the end like numpy; out-of-range indices raise IndexError.
    """
    labels = np.asarray(labels)
    if not -labels.ndim <= axis < labels.ndim:
        raise ValueError(f"axis {axis} out of range for a {labels.ndim}D array")
    axis %= labels.ndim
    n = labels.shape[axis]
    sparse = np.zeros_like(labels)
    for index in slice_indices:
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"slice {i} out of range for axis {axis} of size {n}")
        sel = (slice(None),) * axis + (i,)
        sparse[sel] = labels[sel]
    return sparse


def evenly_spaced_slices(n_slices: int, k: int) -> list[int]:
    """The benchmark's ``k`` evenly spaced slice indices among ``n_slices``.

    ``[round_half_up((i + 1) * (n_slices - 1) / (k + 1)) for i in range(k)]`` where
    round-half-up is ``floor(x + 0.5)`` (not Python's banker's ``round``), e.g.
    ``evenly_spaced_slices(10, 3) == [2, 5, 7]`` because 4.5 rounds to 5. Computed in
    integer arithmetic so exact halves are never mis-rounded. Indices are strictly
    increasing and exclude the first and last slice while ``k < n_slices - 1``; beyond
    that they may repeat.
    """
    n_slices, k = int(n_slices), int(k)
    if n_slices < 1 or k < 0:
        raise ValueError(f"need n_slices >= 1 and k >= 0, got {n_slices}, {k}")
    den = k + 1
    return [(2 * (i + 1) * (n_slices - 1) + den) // (2 * den) for i in range(k)]
