"""The run specification: a profile plus a person's choices, checked, as a ``TrainConfig``.

Every front end builds its runs here (the widget, ``train``, ``demo``, a study's rounds
and every benchmark scenario), so they share one reading of each choice: a time cap of 0
is no cap; a batch size other than the profile's keeps the profile's share of painted
slices; Swin weights go with a method that trains the Swin-UNet; the device must exist
here. A wrong choice raises ``RunSpecError`` saying what to change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_mcsc.training.config import DEFAULT_PROFILE, PROFILES, TrainConfig, profile
from napari_mcsc.training.methods import method_named

#: Swin weights that name a source rather than a file.
WEIGHT_SOURCES = ("timm", "imagenet")


class RunSpecError(ValueError):
    """A choice that makes no run; the message says what to change. ``choice``: the
    ``RunChoices`` field at fault (a front end names its own control), or None."""

    def __init__(self, message: str, choice: str | None = None) -> None:
        super().__init__(message)
        self.choice = choice


@dataclass(frozen=True)
class RunChoices:
    """What a person chooses; None leaves the profile's value. ``settings``: any other
    ``TrainConfig`` field (the widget's advanced knobs, the targets on unlabelled slices,
    a study's schedule), by name."""

    profile: str = DEFAULT_PROFILE
    method: str | None = None
    iterations: int | None = None
    max_seconds: float | None = None  # None or 0: no cap
    seed: int | None = None
    device: str | None = None  # None or "auto": CUDA, then MPS, then CPU
    batch_size: int | None = None
    swin_weights: str | None = None  # a weights file, "timm" or "imagenet"
    settings: Mapping[str, Any] = field(default_factory=dict)


def run_config(choices: RunChoices) -> TrainConfig:
    """The checked configuration of the run ``choices`` describe (``RunSpecError`` if none)."""
    if choices.profile not in PROFILES:
        raise RunSpecError(
            f"unknown profile {choices.profile!r}; choose one of {sorted(PROFILES)}", "profile"
        )
    base = profile(choices.profile)
    values: dict[str, Any] = dict(choices.settings)
    if choices.method is not None:
        values["method"] = choices.method
    if choices.iterations is not None:
        if choices.iterations < 1:
            raise RunSpecError(f"iterations must be at least 1, got {choices.iterations}", "iterations")
        values["iterations"] = int(choices.iterations)
    values["max_seconds"] = _time_cap(choices.max_seconds)
    if choices.seed is not None:
        values["seed"] = int(choices.seed)
    if choices.device is not None:
        values["device"] = choices.device
    if choices.batch_size is not None and choices.batch_size != base.batch_size:
        values.update(_batch_with_profile_share(choices.batch_size, base))
    try:
        config = profile(choices.profile, **values)
    except (ValueError, TypeError) as error:
        raise RunSpecError(str(error)) from error
    config = config.with_pretrained_swin(_checked_weights(choices.swin_weights, config))
    _check_device(config.device)
    return config


def profile_config(name: str = DEFAULT_PROFILE) -> TrainConfig:
    """A profile's own values (what a form shows before any choice)."""
    return run_config(RunChoices(profile=name))


def profile_method(name: str = DEFAULT_PROFILE) -> str:
    """The method a profile runs when none is chosen."""
    return profile_config(name).method


def _time_cap(seconds: float | None) -> float | None:
    if seconds is None or seconds == 0:
        return None
    if not (0 < seconds < math.inf):
        raise RunSpecError(
            f"the time cap must be a number of seconds >= 0 (0: no cap), got {seconds}", "max_seconds"
        )
    return float(seconds)


def _batch_with_profile_share(batch: int, base: TrainConfig) -> dict:
    """``batch`` slices per step, with the profile's share of painted ones (at least one
    painted and one other)."""
    if batch < 2:
        raise RunSpecError(
            f"the batch needs at least 2 slices (painted and others), got {batch}", "batch_size"
        )
    share = base.labelled_batch_size / base.batch_size
    return {"batch_size": batch, "labelled_batch_size": max(1, min(batch - 1, round(batch * share)))}


def _checked_weights(source: str | None, config: TrainConfig) -> str | None:
    """The Swin weights to load, or None; refused when the method does not train the
    Swin-UNet, when the file is missing, or when timm's weights are not cached here."""
    source = (source or "").strip() or None
    if source is None:
        return None
    if not method_named(config.method).trains_transformer:
        raise RunSpecError(
            f"Swin weights are for the Swin-UNet, which method {config.method} (the {config.profile} "
            "profile's default) does not train: choose method mcsc (or ct)",
            "swin_weights",
        )
    if source == "timm":
        from napari_mcsc.networks.imagenet_weights import timm_weights_in_cache

        if timm_weights_in_cache() is None:
            raise RunSpecError(
                "Swin weights 'timm': timm's Swin-T weights are not in the local Hugging Face "
                "cache (nothing is downloaded at run time); download a Swin-T checkpoint and give "
                "its file instead",
                "swin_weights",
            )
    elif source not in WEIGHT_SOURCES and not Path(source).expanduser().is_file():
        raise RunSpecError(f"Swin weights file not found: {source}", "swin_weights")
    return source


def _check_device(device: str | None) -> None:
    from napari_mcsc.devices import DeviceError, pick_device

    try:
        pick_device(device)
    except DeviceError as error:
        raise RunSpecError(str(error), "device") from error
