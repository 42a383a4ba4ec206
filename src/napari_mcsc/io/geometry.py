"""Where a voxel grid sits in space: :class:`Geometry` (spacing, origin, direction in
SimpleITK's x, y, z order), :func:`geometry_of` and :func:`geometry_mismatch`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

if TYPE_CHECKING:
    from napari_mcsc.io.volumes import Volume

__all__ = ["Geometry", "geometry_mismatch", "geometry_of"]


def _float_tuple(values: Iterable[Any], what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Geometry {what} must be a sequence of numbers, got {values!r}.") from exc
    if not all(np.isfinite(out)):
        raise ValueError(f"Geometry {what} must contain finite numbers, got {out}.")
    return out


@dataclass(frozen=True)
class Geometry:
    """Where a voxel grid sits in physical (patient/world) space.

    All three fields use SimpleITK's ``(x, y, z)`` order. ``direction`` is the
    direction-cosine matrix flattened row-major (``ndim * ndim`` numbers), i.e. what
    ``sitk.Image.GetDirection()`` returns; its *columns* are the physical directions
    of the x, y and z index axes.
    """

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    def __post_init__(self) -> None:
        spacing = _float_tuple(self.spacing, "spacing")
        origin = _float_tuple(self.origin, "origin")
        direction = _float_tuple(self.direction, "direction")
        ndim = len(spacing)
        if ndim < 1:
            raise ValueError("Geometry needs at least one axis; spacing is empty.")
        if len(origin) != ndim:
            raise ValueError(
                f"Geometry origin has {len(origin)} values but spacing has {ndim}; "
                "give one origin coordinate per axis."
            )
        if len(direction) != ndim * ndim:
            raise ValueError(
                f"Geometry direction has {len(direction)} values; a {ndim}-D image needs "
                f"{ndim * ndim} (the {ndim}x{ndim} matrix flattened row-major)."
            )
        if any(s <= 0 for s in spacing):
            raise ValueError(f"Geometry spacing must be positive, got {spacing}.")
        # Frozen dataclass: normalise the field types (lists, numpy scalars -> tuples of float).
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)

    # -- constructors -------------------------------------------------------------

    @classmethod
    def identity(cls, ndim: int) -> Geometry:
        """Unit spacing, zero origin and identity direction for an ``ndim``-D image."""
        if ndim < 1:
            raise ValueError(f"ndim must be >= 1, got {ndim}.")
        return cls(
            spacing=(1.0,) * ndim,
            origin=(0.0,) * ndim,
            direction=tuple(np.eye(ndim).ravel().tolist()),
        )

    @classmethod
    def from_zyx(
        cls,
        spacing_zyx: Sequence[float] | None = None,
        origin_zyx: Sequence[float] | None = None,
        *,
        ndim: int | None = None,
    ) -> Geometry:
        """Build an axis-aligned geometry from spacing/origin given in numpy order.

        This is how napari's ``scale`` / ``translate`` map back to an image geometry
        (napari has no notion of direction cosines, so the direction is the identity).
        Missing values default to unit spacing / zero origin; ``ndim`` is needed only
        when both are missing.
        """
        if ndim is None:
            if spacing_zyx is not None:
                ndim = len(spacing_zyx)
            elif origin_zyx is not None:
                ndim = len(origin_zyx)
            else:
                raise ValueError("Give spacing_zyx, origin_zyx or ndim to build a Geometry.")
        spacing = tuple(spacing_zyx) if spacing_zyx is not None else (1.0,) * ndim
        origin = tuple(origin_zyx) if origin_zyx is not None else (0.0,) * ndim
        if len(spacing) != ndim or len(origin) != ndim:
            raise ValueError(
                f"spacing ({len(spacing)} values) and origin ({len(origin)} values) must "
                f"both have {ndim} values, one per array axis."
            )
        return cls(
            spacing=tuple(reversed(spacing)),
            origin=tuple(reversed(origin)),
            direction=tuple(np.eye(ndim).ravel().tolist()),
        )

    @classmethod
    def from_image(cls, image: sitk.Image) -> Geometry:
        """The geometry of a SimpleITK image."""
        return cls(
            spacing=tuple(image.GetSpacing()),
            origin=tuple(image.GetOrigin()),
            direction=tuple(image.GetDirection()),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Geometry:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on malformed input."""
        if not isinstance(data, Mapping):
            raise ValueError(
                f"A geometry must be a mapping with 'spacing', 'origin' and 'direction', "
                f"got {type(data).__name__}."
            )
        missing = [k for k in ("spacing", "origin", "direction") if k not in data]
        if missing:
            raise ValueError(
                f"Geometry dictionary is missing {', '.join(missing)}; it needs "
                "'spacing', 'origin' and 'direction' (as written by Geometry.to_dict())."
            )
        return cls(spacing=data["spacing"], origin=data["origin"], direction=data["direction"])

    # -- views --------------------------------------------------------------------

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-safe form (plain lists of floats), e.g. for layer metadata or checkpoints."""
        return {
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": list(self.direction),
        }

    @property
    def ndim(self) -> int:
        """Number of image axes."""
        return len(self.spacing)

    @property
    def spacing_zyx(self) -> tuple[float, ...]:
        """Spacing in numpy axis order (reversed from SimpleITK's x, y, z)."""
        return tuple(reversed(self.spacing))

    @property
    def origin_zyx(self) -> tuple[float, ...]:
        """Origin in numpy axis order (reversed from SimpleITK's x, y, z)."""
        return tuple(reversed(self.origin))

    @property
    def direction_matrix(self) -> np.ndarray:
        """The direction cosines as an ``(ndim, ndim)`` array (SimpleITK order)."""
        return np.asarray(self.direction, dtype=float).reshape(self.ndim, self.ndim)

    @property
    def is_axis_aligned(self) -> bool:
        """True when the direction is the identity (napari can show it without loss)."""
        return bool(np.allclose(self.direction_matrix, np.eye(self.ndim), atol=1e-6))

    def isclose(self, other: Geometry, *, rtol: float = 1e-5, atol: float = 1e-5) -> bool:
        """Equality up to float noise (NIfTI stores spacing as float32, for example)."""
        return (
            self.ndim == other.ndim
            and np.allclose(self.spacing, other.spacing, rtol=rtol, atol=atol)
            and np.allclose(self.origin, other.origin, rtol=rtol, atol=atol)
            and np.allclose(self.direction, other.direction, rtol=rtol, atol=atol)
        )

    def apply_to(self, image: sitk.Image) -> sitk.Image:
        """Set this geometry on ``image`` (in place) and return it for chaining."""
        if image.GetDimension() != self.ndim:
            raise ValueError(
                f"Cannot apply a {self.ndim}-D geometry to a {image.GetDimension()}-D image; "
                "the geometry must come from an image with the same number of axes."
            )
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        try:
            image.SetDirection(self.direction)
        except RuntimeError as exc:  # ITK refuses singular direction matrices
            raise ValueError(
                f"The geometry direction {self.direction} is not a valid (invertible) "
                "direction-cosine matrix."
            ) from exc
        return image


def geometry_of(volume_or_image: Volume | sitk.Image | Geometry) -> Geometry:
    """The :class:`Geometry` of a :class:`Volume`, a SimpleITK image or a Geometry."""
    from napari_mcsc.io.volumes import Volume  # here: volumes imports this module

    if isinstance(volume_or_image, Geometry):
        return volume_or_image
    if isinstance(volume_or_image, Volume):
        return volume_or_image.geometry
    if isinstance(volume_or_image, sitk.Image):
        return Geometry.from_image(volume_or_image)
    raise TypeError(
        f"geometry_of() takes a Volume, a SimpleITK Image or a Geometry, "
        f"got {type(volume_or_image).__name__}."
    )


def _numbers(values: Sequence[float]) -> str:
    return " x ".join(f"{v:g}" for v in values)


def geometry_mismatch(
    first: Geometry,
    second: Geometry,
    *,
    spacing_rtol: float = 1e-4,
    origin_voxels: float = 1e-3,
    direction_atol: float = 1e-4,
) -> str | None:
    """Say how two geometries differ beyond float noise, or return ``None`` if they agree.

    Tolerances: spacing relative ``spacing_rtol``; origin ``origin_voxels`` of the smallest
    voxel side; direction cosines ``direction_atol``. These absorb what NIfTI's float32
    header fields do to a geometry, and nothing a person would call a different grid.
    The text names values in SimpleITK's (x, y, z) order.
    """
    if first.ndim != second.ndim:
        return f"{first.ndim}-D vs {second.ndim}-D"
    differences = []
    if not np.allclose(first.spacing, second.spacing, rtol=spacing_rtol, atol=0.0):
        differences.append(f"spacing {_numbers(first.spacing)} vs {_numbers(second.spacing)} mm")
    atol = origin_voxels * min(min(first.spacing), min(second.spacing))
    if not np.allclose(first.origin, second.origin, rtol=0.0, atol=atol):
        differences.append(f"origin ({_numbers(first.origin)}) vs ({_numbers(second.origin)}) mm")
    if not np.allclose(first.direction, second.direction, rtol=0.0, atol=direction_atol):
        differences.append(
            f"direction {_numbers(np.round(first.direction, 4))} vs {_numbers(np.round(second.direction, 4))}"
        )
    return "; ".join(differences) or None
