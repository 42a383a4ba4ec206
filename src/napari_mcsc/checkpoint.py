"""One self-describing checkpoint file per model, written atomically, loaded safely.

The file holds both networks and projection heads, the class mapping, the intensity
normalisation, the slice axis, the training configuration, the training history and the
package version. Everything is plain Python or tensors, so ``torch.load`` runs with
``weights_only=True`` (no pickled code from a file someone sent you).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from napari_mcsc import __version__
from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation
from napari_mcsc.model import SegmentationModel
from napari_mcsc.training.config import TrainConfig

FORMAT = "napari-mcsc"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """The file is not a napari-mcsc model, or is damaged."""


def save_model(model: SegmentationModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` (temporary file in the same folder, then rename)."""
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
        "config": model.config.to_dict(),
        "trained_iterations": int(model.trained_iterations),
        "history": list(model.history),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> SegmentationModel:
    """Read a model written by ``save_model``; raise ``CheckpointError`` for other files."""
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
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer napari-mcsc ({payload.get('package_version')}); "
            f"upgrade napari-mcsc (this is {__version__})"
        )
    try:
        model = SegmentationModel.create(
            TrainConfig.from_dict(payload["config"]),
            LabelMapping(tuple(payload["label_values"])),
            Normalisation.from_dict(payload["normalisation"]),
            int(payload["axis"]),
        )
        model.networks.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path} is a damaged or incompatible napari-mcsc model: {exc}") from exc
    model.networks.to(device).eval()
    model.trained_iterations = int(payload.get("trained_iterations", 0))
    model.history = list(payload.get("history", []))
    return model
