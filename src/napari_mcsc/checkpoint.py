"""One self-describing checkpoint file per model, written atomically, loaded safely.

The file holds both networks and projection heads, the class mapping, the intensity
normalisation, the slice axis, the model's settings (network shape, slice size), the
networks trained so far, the training history and the package version. Files of format 1
held the whole training configuration instead of the model's settings: they still load.
Everything is plain Python or tensors, so ``torch.load`` runs with ``weights_only=True``
(no pickled code from a file someone sent you).
"""

from __future__ import annotations

import os
from numbers import Integral
from pathlib import Path

import torch

from napari_mcsc import __version__
from napari_mcsc.atomic import atomic_write
from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation
from napari_mcsc.model import NETWORK_NAMES, ModelSettings, SegmentationModel

FORMAT = "napari-mcsc"
FORMAT_VERSION = 2
# Format 1 said which networks were trained through the methods in the history.
_NETWORKS_OF_FORMAT_1_METHODS = {"sup": ("cnn",), "ct": ("cnn", "swin"), "mcsc": NETWORK_NAMES}


class CheckpointError(ValueError):
    """The file is not a napari-mcsc model, or is damaged."""


def save_model(
    model: SegmentationModel, path: str | os.PathLike, *, training_state: dict | None = None
) -> Path:
    """Write ``model`` to ``path`` (temporary file in the same folder, then rename).

    ``training_state`` (optimisers, random state, position; see ``training.resume``) makes
    the file a resumable checkpoint; it stays a model file that ``load_model`` reads.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "state_dict": {k: v.detach().cpu() for k, v in model.networks.state_dict().items()},
        "label_values": list(model.mapping.values),
        "normalisation": model.normalisation.to_dict(),
        "axis": int(model.axis),
        "model": model.settings.to_dict(),
        "trained_networks": sorted(model.trained_networks),
        "trained_iterations": int(model.trained_iterations),
        "history": list(model.history),
    }
    if training_state is not None:
        payload["training_state"] = training_state
    atomic_write(path, lambda tmp: torch.save(payload, tmp))
    return path


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> SegmentationModel:
    """Read a model written by ``save_model``; raise ``CheckpointError`` for other files."""
    return model_from_payload(read_payload(path, device), path, device)


def read_payload(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """The checked contents of a file written by ``save_model`` (plain data and tensors)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a napari-mcsc model file (it could not be read as one: {exc.__class__.__name__})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a napari-mcsc model file; train one with 'napari-mcsc train' "
            "or the plugin's Save model button"
        )
    version = payload.get("format_version", 0)
    if not isinstance(version, Integral) or isinstance(version, bool):
        raise CheckpointError(f"{path} is a damaged napari-mcsc model: its format version is {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer napari-mcsc ({payload.get('package_version')}); "
            f"upgrade napari-mcsc (this is {__version__})"
        )
    return payload


def model_from_payload(
    payload: dict, path: str | os.PathLike, device: str | torch.device = "cpu"
) -> SegmentationModel:
    """The model in a ``read_payload`` result (``path`` only names the file in errors)."""
    try:
        axis = _integer(payload["axis"], "axis", 0, 2)
        trained_iterations = _integer(payload.get("trained_iterations", 0), "trained_iterations", 0)
        history = payload.get("history", [])
        if not isinstance(history, list) or not all(isinstance(run, dict) for run in history):
            raise TypeError(f"history must be a list of dicts, got {type(history).__name__}")
        labels = payload["label_values"]
        if not isinstance(labels, (list, tuple)):
            raise TypeError(f"label_values must be a list, got {type(labels).__name__}")
        settings_key = "model" if "model" in payload else "config"  # format 1: "config"
        for name in (settings_key, "normalisation", "state_dict"):
            if not isinstance(payload[name], dict):
                raise TypeError(f"{name} must be a dict, got {type(payload[name]).__name__}")
        trained = payload.get("trained_networks")
        if trained is None:
            trained = _format_1_trained_networks(payload[settings_key], history, trained_iterations)
        if not isinstance(trained, (list, tuple)) or not set(trained) <= set(NETWORK_NAMES):
            raise TypeError(f"trained_networks must be a list of {NETWORK_NAMES}, got {trained!r}")
        model = SegmentationModel.create(
            ModelSettings.from_dict(payload[settings_key]),
            LabelMapping(tuple(_integer(v, "label value", 0) for v in labels)),
            Normalisation.from_dict(payload["normalisation"]),
            axis,
        )
        model.networks.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path} is a damaged or incompatible napari-mcsc model: {exc}") from exc
    model.networks.to(device).eval()
    model.trained_iterations = trained_iterations
    model.history = list(history)
    model.trained_networks = frozenset(trained)
    return model


def _format_1_trained_networks(config: dict, history: list[dict], trained_iterations: int) -> list[str]:
    """A format-1 file's trained networks, from the methods of its runs (and of its own
    configuration once it has trained: a checkpoint saved during its run)."""
    methods = [run.get("method") for run in history]
    if trained_iterations > 0:
        methods.append(config.get("method"))
    return sorted(
        {name for method in methods for name in _NETWORKS_OF_FORMAT_1_METHODS.get(method, ("cnn",))}
    )


def _integer(value: object, what: str, low: int, high: int | None = None) -> int:
    """``value`` as an int within [low, high], or a TypeError/ValueError saying why not."""
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{what} must be {bounds}, got {value}")
    return int(value)
