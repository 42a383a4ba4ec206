"""The layers of the study's scan in view: its image, the Labels layer the user paints,
its prediction and uncertainty. Only one scan's layers are in the viewer at a time; its
painted voxels are written to the study before they go. No Qt here."""

from __future__ import annotations

import numpy as np

from napari_mcsc._qt.layers import show_results
from napari_mcsc.constants import IMAGE_KEY, METADATA_KEY, REVIEWED_KEY, ROLE_KEY, plugin_entry
from napari_mcsc.inference import VolumePrediction
from napari_mcsc.review import reviewed_slices

STUDY_ROLE = "study-labels"  # the Labels layer the user paints on the scan in view


class ScanLayers:
    """Adds, saves and removes the layers of one scan of ``study`` in ``viewer``."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.image = None
        self.labels = None

    @property
    def name(self) -> str | None:
        return self.image.name if self.image is not None else None

    def show(self, study, name: str) -> None:
        """Replace the layers in view by those of scan ``name`` (the last scan's painting
        is saved to the study first)."""
        from napari_mcsc._reader import volume_to_layer_data

        self.close(study)
        volume = study.read_image(name)
        volume.name = name
        data, kwargs, _ = volume_to_layer_data(volume, str(study.source_path(name)))
        self.image = self.viewer.add_image(data.astype(np.float32, copy=False), **kwargs)
        painted = study.labels(name)
        if painted is None:
            painted = np.zeros(data.shape, dtype=np.uint8)
        entry = {**kwargs["metadata"][METADATA_KEY], ROLE_KEY: STUDY_ROLE, IMAGE_KEY: name}
        entry[REVIEWED_KEY] = list(study.scan(name).reviewed)
        self.labels = self.viewer.add_labels(
            painted,
            name=f"{name} labels",
            scale=kwargs["scale"],
            translate=kwargs["translate"],
            metadata={METADATA_KEY: entry},
        )
        self.show_prediction(study)
        self.viewer.layers.selection.active = self.labels

    def show_prediction(self, study) -> None:
        """Show the study's stored prediction of the scan in view, if it has one."""
        stored = study.prediction(self.name) if self.image is not None else None
        if stored is None:
            return
        prediction = VolumePrediction(
            stored.labels, stored.uncertainty, slice_scores=stored.slice_scores, ranking=stored.ranking
        )
        show_results(self.viewer, [(self.image, prediction)])
        self.viewer.layers.selection.active = self.labels

    def save(self, study) -> None:
        """Write what is painted on the scan in view (and its reviewed slices) to the study."""
        if self.labels is None or self.labels not in self.viewer.layers:
            return
        study.set_labels(self.name, np.asarray(self.labels.data), reviewed_slices(self.labels))

    def close(self, study) -> None:
        """Save, then remove every layer of the scan in view (the memory goes with them)."""
        if self.image is None:
            return
        self.save(study)
        name = self.name
        for layer in list(self.viewer.layers):
            if layer is self.image or layer is self.labels or plugin_entry(layer).get(IMAGE_KEY) == name:
                self.viewer.layers.remove(layer)
        self.image = self.labels = None
