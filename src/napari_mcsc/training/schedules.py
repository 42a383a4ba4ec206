"""Learning-rate and loss-weight schedules as functions of training progress in [0, 1]."""

from __future__ import annotations

import math


def poly_lr(base: float, progress: float, power: float = 0.9, floor: float = 0.0) -> float:
    """Polynomial decay base * (1 - progress)^power (method.md §5), never below
    ``floor * base`` (a study's rounds keep learning after the horizon)."""
    return base * max(floor, max(0.0, 1.0 - min(progress, 1.0)) ** power)


def warmup_poly_lr(
    base: float, progress: float, warmup: float, start_factor: float = 1e-3, floor: float = 0.0
) -> float:
    """Linear warm-up from ``start_factor * base`` over ``warmup``, then poly decay to
    ``floor * base``."""
    if warmup > 0 and progress < warmup:
        return base * (start_factor + (1.0 - start_factor) * progress / warmup)
    remaining = (progress - warmup) / max(1e-12, 1.0 - warmup)
    return poly_lr(base, remaining, floor=floor)


def sigmoid_rampup(progress: float, rampup: float) -> float:
    """exp(-5 (1 - t)^2) with t = progress / rampup clipped to [0, 1] (Laine & Aila)."""
    if rampup <= 0:
        return 1.0
    t = min(max(progress / rampup, 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)
