"""Putting arrays into napari layers: predictions, uncertainty, previews.

Every layer made here carries the image's scale, translate and geometry metadata, so it
lies over the image and the plugin's writer saves it in the scan's own geometry.
"""

from __future__ import annotations

import numpy as np

from napari_mcsc._reader import METADATA_KEY

ROLE_KEY = "role"  # metadata[METADATA_KEY][ROLE_KEY]: "prediction" | "uncertainty" | "preview"


def _placement(image) -> dict:
    meta = dict(image.metadata.get(METADATA_KEY, {})) if image.metadata else {}
    return {"scale": tuple(image.scale), "translate": tuple(image.translate), "metadata": meta}


def _find(viewer, name: str, kind: str, shape: tuple) -> object | None:
    for layer in viewer.layers:
        if layer.name == name and layer._type_string == kind and tuple(layer.data.shape) == shape:
            return layer
    return None


def show_labels(viewer, image, data: np.ndarray, role: str) -> object:
    """Add or update the Labels layer ``"<image> <role>"`` placed over ``image``."""
    name = f"{image.name} {role}"
    layer = _find(viewer, name, "labels", tuple(data.shape))
    if layer is not None:
        layer.data = data
        return layer
    placement = _placement(image)
    placement["metadata"] = {METADATA_KEY: {**placement["metadata"].get(METADATA_KEY, {}),
                                            **_meta_of(image), ROLE_KEY: role}}
    return viewer.add_labels(data, name=name, **{k: v for k, v in placement.items()},
                             opacity=0.6)


def show_uncertainty(viewer, image, data: np.ndarray) -> object:
    """Add or update the Image layer ``"<image> uncertainty"`` (0..1, inferno, additive)."""
    name = f"{image.name} uncertainty"
    layer = _find(viewer, name, "image", tuple(data.shape))
    if layer is not None:
        layer.data = data
        return layer
    placement = _placement(image)
    placement["metadata"] = {METADATA_KEY: {**_meta_of(image), ROLE_KEY: "uncertainty"}}
    layer = viewer.add_image(data, name=name, colormap="inferno", blending="additive",
                             contrast_limits=(0.0, 1.0), opacity=0.7, **placement)
    layer.visible = True
    return layer


def _meta_of(image) -> dict:
    return dict(image.metadata.get(METADATA_KEY, {})) if image.metadata else {}


def show_preview(viewer, image, axis: int, index: int, labels: np.ndarray) -> object:
    """Write one predicted slice into the ``"<image> preview"`` layer (other slices cleared)."""
    shape = tuple(image.data.shape)
    layer = _find(viewer, f"{image.name} preview", "labels", shape)
    if layer is None:
        layer = show_labels(viewer, image, np.zeros(shape, np.uint8), "preview")
    data = np.zeros(shape, dtype=np.result_type(labels.dtype, np.uint8))
    view = [slice(None)] * 3
    view[axis] = index
    data[tuple(view)] = labels
    layer.data = data
    return layer


def remove_role(viewer, image, role: str) -> None:
    layer = _find(viewer, f"{image.name} {role}", "labels", tuple(image.data.shape))
    if layer is not None:
        viewer.layers.remove(layer)
