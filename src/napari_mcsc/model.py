"""A trained segmentation model: both networks plus everything needed to use them again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation
from napari_mcsc.networks import Networks

if TYPE_CHECKING:  # training imports this module (its trainer makes models): no cycle at run time
    from napari_mcsc.training.config import TrainConfig


@dataclass
class SegmentationModel:
    """Networks (CNN, Swin-UNet, projection heads) with their class mapping, intensity
    normalisation, slice axis and the configuration they were trained with."""

    networks: Networks
    mapping: LabelMapping
    normalisation: Normalisation
    config: TrainConfig
    axis: int = 0
    trained_iterations: int = 0
    history: list[dict] = field(default_factory=list)

    @classmethod
    def create(
        cls, config: TrainConfig, mapping: LabelMapping, normalisation: Normalisation, axis: int = 0
    ) -> SegmentationModel:
        """Fresh, untrained networks for ``config`` and ``mapping``."""
        networks = config.network.build(mapping.num_classes, config.image_size)
        return cls(networks, mapping, normalisation, config, axis)

    @property
    def num_classes(self) -> int:
        return self.mapping.num_classes

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def has_trained_transformer(self) -> bool:
        """False for supervised-only models, whose Swin-UNet was never trained; true from
        the first iteration of a two-network run (a curve scored during it uses both)."""
        in_progress = self.config.method != "sup" and self.trained_iterations > 0
        return in_progress or any(run.get("method") != "sup" for run in self.history)
