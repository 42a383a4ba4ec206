"""Per-volume intensity normalisation to [0, 1] (MRI: percentile min-max; CT: a window)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Normalisation:
    """How a volume's intensities are mapped to [0, 1]; stored in checkpoints.

    ``mode="mri"``: clip to the ``percentiles`` of the volume, then min-max.
    ``mode="ct"``: clip to the fixed ``window`` (low, high) in the image's units
    (e.g. Hounsfield units (-125, 275) for abdominal CT), then scale.
    """

    mode: str = "mri"
    percentiles: tuple[float, float] = (0.5, 99.5)
    window: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("mri", "ct"):
            raise ValueError(f"normalisation mode must be 'mri' or 'ct', got {self.mode!r}")
        if self.mode == "ct" and self.window is None:
            raise ValueError("CT normalisation needs a window (low, high), e.g. (-125, 275)")
        if self.window is not None and not self.window[0] < self.window[1]:
            raise ValueError(f"window low must be below high, got {self.window}")
        lo, hi = self.percentiles
        if not 0.0 <= lo < hi <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["percentiles"] = list(self.percentiles)
        data["window"] = list(self.window) if self.window is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Normalisation:
        window = data.get("window")
        return cls(
            mode=data.get("mode", "mri"),
            percentiles=tuple(data.get("percentiles", (0.5, 99.5))),
            window=tuple(window) if window is not None else None,
        )

    def __call__(self, volume: np.ndarray) -> np.ndarray:
        return normalise_volume(volume, self)


def normalise_volume(volume: np.ndarray, normalisation: Normalisation | None = None) -> np.ndarray:
    """Return a float32 copy of ``volume`` in [0, 1].

    Non-finite voxels (NaN, inf) are ignored when computing the range and set to 0;
    a constant volume becomes all zeros instead of a division by zero.
    """
    norm = normalisation or Normalisation()
    data = np.asarray(volume, dtype=np.float32)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(data.shape, dtype=np.float32)
    if norm.mode == "ct":
        low, high = norm.window  # type: ignore[misc]
    else:
        values = data[finite]
        if values.size > 2_000_000:  # percentiles of a subsample: same answer, much faster
            values = values[:: values.size // 1_000_000]
        low, high = np.percentile(values, norm.percentiles)
    out = np.where(finite, data, low).astype(np.float32)
    if not high > low:
        return np.zeros(data.shape, dtype=np.float32)
    out = (np.clip(out, low, high) - low) / (high - low)
    out[~finite] = 0.0
    return out.astype(np.float32)
