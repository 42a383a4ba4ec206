"""A trained segmentation model: both networks plus everything needed to use them again."""

from __future__ import annotations

from dataclasses import dataclass, field

from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation
from napari_mcsc.models import Networks, build_networks
from napari_mcsc.training.config import TrainConfig

# Fields of TrainConfig that fix the networks' shapes: a warm start must keep them.
ARCHITECTURE_FIELDS = (
    "image_size",
    "unet_channels",
    "swin_embed_dim",
    "swin_depths",
    "swin_heads",
    "swin_window",
    "swin_patch",
    "projection_dim",
)


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
        networks = build_networks(
            mapping.num_classes,
            config.image_size,
            unet_channels=tuple(config.unet_channels),
            swin_embed_dim=config.swin_embed_dim,
            swin_depths=tuple(config.swin_depths),
            swin_heads=tuple(config.swin_heads),
            swin_window=config.swin_window,
            swin_patch=config.swin_patch,
            drop_path_rate=config.swin_drop_path,
            projection_dim=config.projection_dim,
        )
        return cls(networks, mapping, normalisation, config, axis)

    @property
    def num_classes(self) -> int:
        return self.mapping.num_classes

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def has_trained_transformer(self) -> bool:
        """False for supervised-only models, whose Swin-UNet was never trained."""
        return any(run.get("method") != "sup" for run in self.history)

    def architecture(self) -> dict:
        return {name: getattr(self.config, name) for name in ARCHITECTURE_FIELDS}
