"""Names the plugin's layers carry, in one place: the metadata keys and the layer roles.

A layer this plugin reads or makes keeps its own entry in ``layer.metadata[METADATA_KEY]``:
the scan's geometry and source (reader), the reviewed slices (Labels layers painted on),
and for the layers the widget makes, their role and the image they belong to. The reader,
the writer and the widget all take the names from here. This module imports neither napari nor Qt.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = [
    "GEOMETRY_KEY",
    "IMAGE_KEY",
    "METADATA_KEY",
    "REVIEWED_KEY",
    "ROLE_KEY",
    "SOURCE_KEY",
    "ImageRole",
    "LayerRole",
    "plugin_entry",
]

#: Key of this plugin's entry in a layer's ``metadata`` dictionary.
METADATA_KEY = "napari_mcsc"
#: ``metadata[METADATA_KEY][GEOMETRY_KEY]``: the scan's full geometry (``Geometry.to_dict()``).
GEOMETRY_KEY = "geometry"
#: ``metadata[METADATA_KEY][SOURCE_KEY]``: the path the layer was read from.
SOURCE_KEY = "source"
#: ``metadata[METADATA_KEY][REVIEWED_KEY]``: slices of a Labels layer marked reviewed.
REVIEWED_KEY = "reviewed"
#: ``metadata[METADATA_KEY][ROLE_KEY]``: a ``LayerRole`` value, on the layers the widget makes.
ROLE_KEY = "role"
#: ``metadata[METADATA_KEY][IMAGE_KEY]``: on the layers the widget makes, the name of their image.
IMAGE_KEY = "image"


def plugin_entry(layer: Any) -> dict:
    """A copy of the plugin's metadata entry of ``layer`` (empty when it has none)."""
    metadata = getattr(layer, "metadata", None) or {}
    entry = metadata.get(METADATA_KEY)
    return dict(entry) if isinstance(entry, dict) else {}


class LayerRole(str, Enum):
    """What a layer made by the widget shows about its image."""

    PREDICTION = "prediction"  # Labels: the model's segmentation
    UNCERTAINTY = "uncertainty"  # Image: entropy, 0..1
    PREVIEW = "preview"  # Labels: the slice in view, refreshed during training

    def layer_name(self, image_name: str) -> str:
        """The name the layer of this role gets over the image ``image_name``."""
        return f"{image_name} {self.value}"

    @classmethod
    def of(cls, layer: Any) -> LayerRole | None:
        """The role stored in ``layer``'s metadata; None for layers the widget did not make."""
        try:
            return cls(plugin_entry(layer).get(ROLE_KEY))
        except ValueError:
            return None


class ImageRole(str, Enum):
    """What a training run does with an image (the layer table's choices)."""

    TRAIN = "Train"  # its painted slices are labelled data, the others unlabelled
    UNLABELLED = "Unlabelled"  # every slice is unlabelled data
    IGNORE = "Ignore"  # not used


class ScanState(str, Enum):
    """Where a scan of a study stands (``study.Study``)."""

    NEW = "new"  # not predicted yet by the study's model
    PREDICTED = "predicted"  # the model's mask is there, nothing painted on the scan
    CORRECTED = "corrected"  # slices painted or reviewed on it
    ACCEPTED = "accepted"  # its mask is final and written


#: The session file of a study, in its folder.
STUDY_FILE = "study.json"
