"""Long-running work as generators: train-then-predict, and predict-only.

The napari widget runs these in a worker thread and the command line runs them
directly; both get the same progress events. A job only sees numpy arrays copied from
layers when it was made, never the layers, so the user may keep editing while it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

import numpy as np

from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set
from napari_mcsc.inference import VolumePrediction, predict_volume
from napari_mcsc.model import SegmentationModel
from napari_mcsc.training.config import TrainConfig
from napari_mcsc.training.events import ProgressEvent
from napari_mcsc.training.outcome import RunOutcome


@dataclass(frozen=True)
class Status:
    """A phase change worth telling the user ("preparing slices", "predicting 2/3")."""

    text: str


@dataclass
class ImageInput:
    """One image of a run: its data, its sparse labels (None: unlabelled only) and the
    slices marked reviewed. ``key`` is the caller's handle (e.g. a layer id)."""

    name: str
    image: np.ndarray
    labels: np.ndarray | None = None
    reviewed: Sequence[int] = ()
    key: object = None


@dataclass
class TrainResult:
    """What a training job leaves: the model and one prediction per input image."""

    model: SegmentationModel
    predictions: list[VolumePrediction] = field(default_factory=list)
    stopped_early: bool = False
    iterations: int = 0
    seconds: float = 0.0
    outcome: RunOutcome | None = None

    @property
    def warning(self) -> str | None:
        """What the user must know when the run ended short of its iterations."""
        return self.outcome.warning() if self.outcome is not None else None


class TrainingJob:
    """Prepare slices, train (warm-starting from ``init`` when given), predict every image.

    ``request_stop()`` (from any thread) ends training after the current iteration; the
    job still predicts with the model trained so far and returns normally.
    """

    def __init__(
        self,
        config: TrainConfig,
        annotated: Sequence[ImageInput],
        unlabelled: Sequence[ImageInput] = (),
        *,
        axis: int = 0,
        init: SegmentationModel | None = None,
        preview_request: Callable[[], tuple[int, int] | None] | None = None,
    ) -> None:
        self.config = config
        self.annotated = list(annotated)
        self.unlabelled = list(unlabelled)
        self.axis = axis
        self.init = init if (init is not None and init.axis == axis) else None
        self.preview_request = preview_request
        self._trainer = None
        self._stop_requested = False

    @property
    def model(self) -> SegmentationModel | None:
        """The model being trained (usable at any time), or None before training starts."""
        return self._trainer.model if self._trainer is not None else None

    def request_stop(self) -> None:
        self._stop_requested = True
        if self._trainer is not None:
            self._trainer.request_stop()

    def run(self) -> Generator[ProgressEvent | Status, None, TrainResult]:
        from napari_mcsc.training.trainer import Trainer

        start = time.perf_counter()
        yield Status("preparing slices")
        volumes = [AnnotatedVolume(i.image, i.labels, i.reviewed, i.name) for i in self.annotated]
        mapping = LabelMapping.from_label_volumes(v.labels for v in volumes)
        config = self.config
        if self.init is not None:
            mapping = self.init.mapping.merged(mapping)
            config = config.replace(image_size=self.init.image_size)
        data = build_slice_set(
            volumes, axis=self.axis, image_size=config.image_size,
            image_interpolation=config.image_interpolation, mapping=mapping,
            normalisation=self.init.normalisation if self.init is not None else None,
            unlabelled=[u.image for u in self.unlabelled],
        )
        yield Status(f"training on {data.num_labelled} painted and {data.num_unlabelled} unlabelled slices")
        self._trainer = Trainer(config, data, init=self.init, preview_request=self.preview_request)
        if self._stop_requested:
            self._trainer.request_stop()
        before = self._trainer.model.trained_iterations
        yield from self._trainer.run()
        model = self._trainer.model
        result = TrainResult(model, stopped_early=self._stop_requested,
                             iterations=model.trained_iterations - before,
                             outcome=self._trainer.outcome)
        images = [*self.annotated, *self.unlabelled]
        for index, item in enumerate(images):
            yield Status(f"predicting {item.name} ({index + 1}/{len(images)})")
            result.predictions.append(
                predict_volume(model, item.image, uncertainty=True, device=self._trainer.device)
            )
        result.seconds = time.perf_counter() - start
        return result


def prediction_job(
    model: SegmentationModel, images: Sequence[ImageInput], *, ensemble: bool = False
) -> Generator[Status, None, list[VolumePrediction]]:
    """Predict each image with ``model`` (labels and uncertainty), reporting progress."""
    results = []
    for index, item in enumerate(images):
        yield Status(f"predicting {item.name} ({index + 1}/{len(images)})")
        results.append(predict_volume(model, item.image, ensemble=ensemble, uncertainty=True))
    return results
