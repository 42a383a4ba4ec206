"""napari layers in and out: the input volumes, the layers results go to, the slice in view.

Every layer made here carries the image's scale, translate and geometry metadata, so it
lies over the image and the plugin's writer saves it in the scan's own geometry, plus its
``LayerRole`` and the image's name (``metadata[METADATA_KEY]``, ``ROLE_KEY`` and
``IMAGE_KEY``): the plugin finds its own layers by those, never by their names. No Qt here.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Labels

from napari_mcsc.constants import IMAGE_KEY, METADATA_KEY, ROLE_KEY, LayerRole, plugin_entry
from napari_mcsc.review import is_output_of, slice_view

_LAYER_TYPE = {LayerRole.PREDICTION: Labels, LayerRole.PREVIEW: Labels, LayerRole.UNCERTAINTY: Image}


def input_volumes(viewer, kind: type) -> list:
    """3D, non-RGB layers of type ``kind`` (Image or Labels) that the plugin did not make."""
    return [
        layer
        for layer in viewer.layers
        if isinstance(layer, kind)
        and layer.ndim == 3
        and not getattr(layer, "rgb", False)
        and LayerRole.of(layer) is None
    ]


def find_layer(viewer, image, role: LayerRole):
    """The layer of ``role`` made over ``image`` (as its metadata say; of the image's
    shape), or None."""
    shape = tuple(image.data.shape)
    for layer in viewer.layers:
        if (
            isinstance(layer, _LAYER_TYPE[role])
            and LayerRole.of(layer) is role
            and is_output_of(layer, image)
            and tuple(layer.data.shape) == shape
        ):
            return layer
    return None


def _placement(image, role: LayerRole) -> dict:
    return {
        "name": role.layer_name(image.name),
        "scale": tuple(image.scale),
        "translate": tuple(image.translate),
        "metadata": {METADATA_KEY: {**plugin_entry(image), ROLE_KEY: role.value, IMAGE_KEY: image.name}},
    }


def show_labels(viewer, image, data: np.ndarray, role: LayerRole) -> Labels:
    """Add or update the Labels layer ``"<image> <role>"`` placed over ``image``."""
    layer = find_layer(viewer, image, role)
    if layer is not None:
        layer.data = data
        return layer
    return viewer.add_labels(data, opacity=0.6, **_placement(image, role))


def show_uncertainty(viewer, image, data: np.ndarray) -> Image:
    """Add or update the Image layer ``"<image> uncertainty"`` (0..1, inferno, additive)."""
    layer = find_layer(viewer, image, LayerRole.UNCERTAINTY)
    if layer is not None:
        layer.data = data
        return layer
    layer = viewer.add_image(
        data,
        colormap="inferno",
        blending="additive",
        contrast_limits=(0.0, 1.0),
        opacity=0.7,
        **_placement(image, LayerRole.UNCERTAINTY),
    )
    layer.visible = True
    return layer


def show_preview(viewer, image, axis: int, index: int, labels: np.ndarray) -> Labels:
    """Write one predicted slice into the ``"<image> preview"`` layer (other slices cleared)."""
    shape = tuple(image.data.shape)
    layer = find_layer(viewer, image, LayerRole.PREVIEW)
    if layer is None:
        layer = show_labels(viewer, image, np.zeros(shape, np.uint8), LayerRole.PREVIEW)
    data = np.zeros(shape, dtype=np.result_type(labels.dtype, np.uint8))
    data[slice_view(axis, index)] = labels
    layer.data = data
    return layer


def show_results(viewer, predictions) -> list[str]:
    """Put each (image, prediction) into the image's prediction and uncertainty layers (the
    training preview goes, also where the image went). Returns the names of the images no
    longer in the viewer."""
    removed = []
    for image, prediction in predictions:
        preview = find_layer(viewer, image, LayerRole.PREVIEW)
        if preview is not None:
            viewer.layers.remove(preview)
        if image not in viewer.layers:
            removed.append(image.name)  # nothing to show it over
            continue
        show_uncertainty(viewer, image, prediction.uncertainty)
        show_labels(viewer, image, prediction.labels, LayerRole.PREDICTION)
    return removed


def slice_in_view(viewer, image, axis: int) -> int:
    """Index, in the data of ``image`` (None: the viewer's own step), of the slice shown
    along ``axis``."""
    if image is None:
        step = viewer.dims.current_step
        return int(step[axis]) if len(step) == 3 else 0
    coords = image.world_to_data(viewer.dims.point)
    index = round(float(np.asarray(coords)[-3:][axis]))
    return int(np.clip(index, 0, image.data.shape[axis] - 1))


def go_to_slice(viewer, image, axis: int, index: int) -> None:
    """Show slice ``index`` (along ``axis``) of ``image``."""
    point = np.zeros(image.ndim)
    point[axis] = index
    world = image.data_to_world(point)
    viewer.dims.set_point(axis + viewer.dims.ndim - 3, float(np.asarray(world)[axis]))
