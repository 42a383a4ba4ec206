"""Training: settings, schedules, progress events and the MCSC trainer."""

from napari_mcsc.training.config import PROFILES, TrainConfig, profile
from napari_mcsc.training.events import Preview, ProgressEvent

__all__ = ["PROFILES", "Preview", "ProgressEvent", "TrainConfig", "Trainer", "profile", "train"]


def __getattr__(name: str):
    # The trainer imports the model, which imports this package's config: load it lazily.
    if name in ("Trainer", "train"):
        from napari_mcsc.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
