"""Seconds per iteration measured on this machine, remembered between runs.

Why: before a run starts, the widget and the command line tell the user how long the
profile's iterations will take here. The only honest source is a run of the same
settings on the same machine, so each completed run stores its median step time in the
user's cache folder (``NAPARI_MCSC_CACHE`` overrides the place). Losing the file only
loses the estimate.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from napari_mcsc.atomic import atomic_write
from napari_mcsc.training.config import TrainConfig
from napari_mcsc.training.threads import pinned_threads

CACHE_ENV = "NAPARI_MCSC_CACHE"


def _cache_file() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "napari-mcsc"
    )
    return Path(root) / "speed.json"


def _key(config: TrainConfig, device_type: str) -> str:
    shape = (
        config.method,
        config.image_size,
        config.batch_size,
        config.network.swin_embed_dim,
        config.network.unet_channels,
        config.max_pixels_per_set,
        config.amp,  # mixed precision changes the speed (devices.mixed_precision_dtype)
    )
    threads = pinned_threads() or "auto"  # NAPARI_MCSC_TORCH_THREADS=1 may halve the speed
    return f"{platform.node()}|{os.cpu_count()}|{device_type}|{shape}|threads={threads}"


def _read() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def remember_speed(config: TrainConfig, device_type: str, seconds_per_iteration: float | None) -> None:
    """Store the measured speed of ``config`` on this device (best effort, never raises)."""
    if not seconds_per_iteration:
        return
    data = _read()
    data[_key(config, device_type)] = round(float(seconds_per_iteration), 4)
    try:
        path = _cache_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))
    except OSError:
        pass


def expected_seconds_per_iteration(config: TrainConfig, device_type: str) -> float | None:
    """The speed measured by an earlier complete run of these settings here, or None."""
    value = _read().get(_key(config, device_type))
    return float(value) if value else None


def describe_run_length(config: TrainConfig, device_type: str) -> str:
    """'400 iterations, about 3 min here' (or 'not yet measured here')."""
    per_iteration = expected_seconds_per_iteration(config, device_type)
    text = f"{config.iterations} iterations"
    if per_iteration is None:
        return text + " (time not yet measured on this machine)"
    seconds = per_iteration * config.iterations
    return text + f", about {format_duration(seconds)} here ({per_iteration:.2f} s/iteration measured)"


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
