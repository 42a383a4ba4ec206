"""napari sample data: the synthetic cardiac phantom with two painted slices."""

from __future__ import annotations

from napari_mcsc.constants import GEOMETRY_KEY, METADATA_KEY, SOURCE_KEY
from napari_mcsc.data.phantom import evenly_spaced_slices, make_phantom, paint_slices
from napari_mcsc.io.geometry import Geometry

PHANTOM_SHAPE = (12, 96, 96)


def make_sample_layers(seed: int = 0) -> list[tuple]:
    """An Image layer and a Labels layer in which 2 slices are painted."""
    phantom = make_phantom(PHANTOM_SHAPE, seed=seed)
    painted = evenly_spaced_slices(PHANTOM_SHAPE[0], 2)
    geometry = Geometry.from_zyx(spacing_zyx=phantom.spacing)
    meta = {METADATA_KEY: {GEOMETRY_KEY: geometry.to_dict(), SOURCE_KEY: "phantom"}}
    scale = tuple(float(s) for s in phantom.spacing)
    return [
        (phantom.image, {"name": "phantom", "scale": scale, "metadata": meta}, "image"),
        (
            paint_slices(phantom.labels, painted),
            {"name": "phantom annotations", "scale": scale, "metadata": dict(meta)},
            "labels",
        ),
    ]
