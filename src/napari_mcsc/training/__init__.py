"""Training: settings, schedules, progress events and the MCSC trainer."""

from napari_mcsc.training.config import PROFILES, TrainConfig, profile
from napari_mcsc.training.events import Preview, ProgressEvent
from napari_mcsc.training.trainer import Trainer

__all__ = ["PROFILES", "Preview", "ProgressEvent", "TrainConfig", "Trainer", "profile"]
