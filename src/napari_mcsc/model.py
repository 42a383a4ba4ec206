"""A trained segmentation model: both networks plus everything needed to use them again.

A model knows how to predict, not how it was trained: its ``ModelSettings`` (network
shape, slice size, resize mode) are all that inference, saving and loading need, so none
of them imports the training side. How a model was trained is in its ``history``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation
from napari_mcsc.networks import Networks
from napari_mcsc.networks.config import NETWORK_FIELDS, NetworkConfig

#: The networks a model holds; ``trained_networks`` names those some run has trained.
NETWORK_NAMES = ("cnn", "swin", "projector")


@dataclass(frozen=True)
class ModelSettings:
    """What fixes a model's weights and its input: the networks' shape, the square slice
    size they see, and how slices are resized to it. ``crop_margin``: the networks saw
    the square around the painted structures grown by this share of its side on each side
    (``data.field_of_view``; None: whole slices); ``field_share``: that square's mean
    side as a share of the slice, the scale a scan without painting is seen at (None:
    whole slices)."""

    network: NetworkConfig = field(default_factory=NetworkConfig)
    image_size: int = 128
    image_interpolation: str = "bilinear"
    crop_margin: float | None = None
    field_share: float | None = None

    def to_dict(self) -> dict:
        """Flat (network fields at the top level), as model files have always spelt them."""
        return {
            **self.network.to_dict(),
            "image_size": self.image_size,
            "image_interpolation": self.image_interpolation,
            "crop_margin": self.crop_margin,
            "field_share": self.field_share,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ModelSettings:
        """The settings in a ``to_dict`` result, or in a whole training configuration saved
        by an older version (its other keys are left out)."""
        network = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in NETWORK_FIELDS}
        defaults = cls()
        return cls(
            network=NetworkConfig(**network),
            image_size=int(data.get("image_size", defaults.image_size)),
            image_interpolation=str(data.get("image_interpolation", defaults.image_interpolation)),
            crop_margin=_optional_float(data.get("crop_margin")),
            field_share=_optional_float(data.get("field_share")),
        )


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


@dataclass
class SegmentationModel:
    """Networks (CNN, Swin-UNet, projection heads) with their class mapping, intensity
    normalisation, slice axis and the settings they predict with. ``trained_networks``:
    the networks some run has trained (a supervised run leaves the Swin-UNet untrained)."""

    networks: Networks
    mapping: LabelMapping
    normalisation: Normalisation
    settings: ModelSettings
    axis: int = 0
    trained_iterations: int = 0
    history: list[dict] = field(default_factory=list)
    trained_networks: frozenset[str] = frozenset()

    @classmethod
    def create(
        cls, settings: ModelSettings, mapping: LabelMapping, normalisation: Normalisation, axis: int = 0
    ) -> SegmentationModel:
        """Fresh, untrained networks for ``settings`` and ``mapping``."""
        networks = settings.network.build(mapping.num_classes, settings.image_size)
        return cls(networks, mapping, normalisation, settings, axis)

    @property
    def num_classes(self) -> int:
        return self.mapping.num_classes

    @property
    def image_size(self) -> int:
        return self.settings.image_size

    @property
    def has_trained_transformer(self) -> bool:
        """False for supervised-only models, whose Swin-UNet was never trained; true from
        the first iteration of a two-network run (a curve scored during it uses both)."""
        return "swin" in self.trained_networks
