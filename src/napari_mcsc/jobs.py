"""Long-running work as generators: train-then-predict, and predict-only.

The napari widget runs these in a worker thread and the command line (``train``,
``demo``) runs them directly; both get the same progress events and the same data
preparation, warm start included. A job only sees numpy arrays copied from layers when
it was made, never the layers, so the user may keep editing while it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.data.normalise import Normalisation
from napari_mcsc.data.slices import AnnotatedVolume, SliceSet, build_slice_set, unlabelled_truth
from napari_mcsc.inference import VolumePrediction, carries_painting, predict_volume
from napari_mcsc.model import SegmentationModel
from napari_mcsc.scan_statistics import first_look
from napari_mcsc.training.config import TrainConfig
from napari_mcsc.training.events import ProgressEvent
from napari_mcsc.training.outcome import RunOutcome
from napari_mcsc.training.trainer import Trainer


@dataclass(frozen=True)
class Status:
    """A phase change worth telling the user ("preparing slices", "predicting 2/3")."""

    text: str


@dataclass(frozen=True)
class TrainingStarted(Status):
    """The slices are ready and the networks built (``TrainingJob.trainer`` is set): the
    first iteration comes next. The counts are of the whole data set, before a
    distributed run deals it out to its processes."""

    num_labelled: int = 0
    num_unlabelled: int = 0


@dataclass
class ImageInput:
    """One image of a run: its data, its sparse labels (None: unlabelled only) and the
    slices marked reviewed."""

    name: str
    image: np.ndarray
    labels: np.ndarray | None = None
    reviewed: Sequence[int] = ()


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

    ``annotated``: images with their labels (``ImageInput``, or ``AnnotatedVolume`` from
    any iterable, lazy ones such as ``data.folders.LazyVolumes`` included: the slices are
    made one volume at a time); ``unlabelled``: images without labels (``ImageInput`` or
    arrays). A warm start from ``init`` keeps its image size, network shape, intensity
    normalisation and classes (new label values are added). ``mapping``: the data's
    classes when known beforehand (otherwise read from the labels); ``normalisation``:
    the intensity normalisation of a new model (default: the MRI one).

    ``predict=False`` ends after training (the command line saves the model instead);
    otherwise every image is predicted after training, so give them as ``ImageInput``
    (``consistent``: masks made 3D-consistent, ``postprocess.consistent_mask``).
    ``resume``, ``distributed`` and ``carry`` go to the ``Trainer`` (``training.resume``,
    ``training.distributed``, ``training.state``); a distributed run trains each process
    on its shard.

    ``request_stop()`` (from any thread) ends training after the current iteration; the
    job still predicts with the model trained so far and returns normally.

    Benchmarks run through the same job: ``validation`` (a ``training.selection.
    BestCheckpoint``) keeps the best of several evaluations; ``truths`` and
    ``extra_truths``, the whole truth of each annotated and each unlabelled image, let
    the trainer measure its pseudo-labels (never trained on).
    """

    def __init__(
        self,
        config: TrainConfig,
        annotated: Iterable[ImageInput | AnnotatedVolume],
        unlabelled: Iterable[ImageInput | np.ndarray] = (),
        *,
        axis: int = 0,
        init: SegmentationModel | None = None,
        preview_request: Callable[[], tuple[int, int] | None] | None = None,
        mapping: LabelMapping | None = None,
        normalisation: Normalisation | None = None,
        predict: bool = True,
        resume=None,
        distributed=None,
        carry=None,
        validation=None,
        truths: Sequence[np.ndarray] | None = None,
        extra_truths: Sequence[np.ndarray] = (),
        consistent: bool = False,
        focus: str | None = None,
    ) -> None:
        self.config = config
        # Lists are copied; lazy sequences and generators are read when the slices are made.
        self.annotated = list(annotated) if isinstance(annotated, (list, tuple)) else annotated
        self.unlabelled = list(unlabelled) if isinstance(unlabelled, (list, tuple)) else unlabelled
        self.axis = axis
        self.init = init if (init is not None and init.axis == axis) else None
        self.preview_request = preview_request
        self.mapping = mapping
        self.normalisation = normalisation
        self.predict = predict
        self.resume = resume
        self.distributed = distributed
        self.carry = carry
        self.validation = validation
        self.consistent = consistent
        self.truths = truths
        self.extra_truths = extra_truths
        self.focus = focus
        self._names: list[str | None] = []  # the annotated images' names, in order, once read
        self._trainer: Trainer | None = None
        self._prepared: tuple[TrainConfig, SliceSet] | None = None
        self._stop_requested = False

    @property
    def trainer(self) -> Trainer | None:
        """The trainer, once the slices are ready (``TrainingStarted``); None before."""
        return self._trainer

    @property
    def model(self) -> SegmentationModel | None:
        """The model being trained (usable at any time), or None before training starts."""
        return self._trainer.model if self._trainer is not None else None

    def request_stop(self) -> None:
        self._stop_requested = True
        if self._trainer is not None:
            self._trainer.request_stop()

    def prepare(self) -> tuple[TrainConfig, SliceSet]:
        """The run's settings and its slices: the one place where a warm start from
        ``init`` fixes the image size, classes and normalisation of the data. Made once:
        a caller may look at the slices (their classes, counts) before ``run``."""
        if self._prepared is not None:
            return self._prepared
        config, mapping, normalisation = self.config, self.mapping, self.normalisation
        volumes = (self._named(item) for item in self.annotated)
        if mapping is None or self.truths is not None:
            volumes = list(volumes)
            mapping = LabelMapping.from_label_volumes(v.labels for v in volumes)
        if self.init is not None:
            config = config.with_architecture_of(self.init.settings)
            mapping = self.init.mapping.merged(mapping)
            normalisation = self.init.normalisation
        data = build_slice_set(
            volumes,
            axis=self.axis,
            image_size=config.image_size,
            image_interpolation=config.image_interpolation,
            mapping=mapping,
            normalisation=normalisation,
            unlabelled=(_as_image(item) for item in self.unlabelled),
            keep_volumes=self.preview_request is not None,  # the preview's native slices
            crop_margin=config.crop_margin,
            context=config.network.context_slices,
        )
        if self.truths is not None:
            data.unlabelled_truth = unlabelled_truth(volumes, self.truths, self.extra_truths, data)
        self._prepared = config, data
        return config, data

    def _named(self, item) -> AnnotatedVolume:
        self._names.append(getattr(item, "name", None))
        return _as_volume(item)

    def _focus_slices(self, data: SliceSet) -> list[int]:
        """The labelled slices of the ``focus`` image (empty without one)."""
        if self.focus is None or self.distributed is not None:
            return []
        if self.focus not in self._names:
            raise ValueError(f"the focus {self.focus!r} is not one of the painted images {self._names}")
        volume = self._names.index(self.focus)
        return [i for i, (v, _) in enumerate(data.labelled_sources) if v == volume]

    def run(self) -> Generator[ProgressEvent | Status, None, TrainResult]:
        start = time.perf_counter()
        yield Status("preparing slices")
        config, data = self.prepare()
        counts = data.num_labelled, data.num_unlabelled
        if self.distributed is not None:
            data = self.distributed.shard(data, config.seed)
        self._trainer = Trainer(
            config,
            data,
            init=self.init,
            preview_request=self.preview_request,
            resume=self.resume,
            distributed=self.distributed,
            carry=self.carry,
            validation=self.validation,
            focus=self._focus_slices(data),
        )
        if self._stop_requested:
            self._trainer.request_stop()
        yield TrainingStarted(f"training on {counts[0]} painted and {counts[1]} unlabelled slices", *counts)
        before = self._trainer.model.trained_iterations
        yield from self._trainer.run()
        model = self._trainer.model
        result = TrainResult(
            model,
            stopped_early=self._stop_requested,
            iterations=model.trained_iterations - before,
            outcome=self._trainer.outcome,
        )
        images = [*self.annotated, *self.unlabelled] if self.predict else []
        for index, item in enumerate(images):
            painted = getattr(item, "labels", None)  # a painted scan is predicted in its field of view
            reviewed = getattr(item, "reviewed", ())
            yield Status(predicting_status(item.name, index, len(images), painted, self.consistent))
            result.predictions.append(
                predict_volume(
                    model,
                    item.image,
                    uncertainty=True,
                    device=self._trainer.device,
                    painted=painted,
                    consistent=self.consistent,
                    reviewed=reviewed,
                    scan_statistics=first_look(painted, reviewed),
                )
            )
        result.seconds = time.perf_counter() - start
        return result


def run_to_end(job: Generator, on_progress: Callable[[ProgressEvent], None] | None = None):
    """Drive a job's generator to its end; its return value. ``on_progress`` sees each
    training iteration's event (a benchmark scores its curve there)."""
    try:
        while True:
            event = next(job)
            if on_progress is not None and isinstance(event, ProgressEvent):
                on_progress(event)
    except StopIteration as done:
        return done.value


def predicting_status(name: str, index: int, total: int, painted: np.ndarray | None, consistent: bool) -> str:
    """The status while a scan is predicted; it says when its painted slices are carried
    to the others (``propagation``), which takes longer than the prediction itself."""
    text = f"predicting {name} ({index + 1}/{total})"
    if carries_painting(painted, consistent):
        text += ", carrying its painted slices to the others"
    return text


def _as_volume(item: ImageInput | AnnotatedVolume) -> AnnotatedVolume:
    if isinstance(item, AnnotatedVolume):
        return item
    return AnnotatedVolume(item.image, item.labels, item.reviewed, item.name)


def _as_image(item: ImageInput | np.ndarray) -> np.ndarray:
    return item.image if isinstance(item, ImageInput) else item


def prediction_job(
    model: SegmentationModel,
    images: Sequence[ImageInput],
    *,
    ensemble: bool = False,
    consistent: bool = False,
) -> Generator[Status, None, list[VolumePrediction]]:
    """Predict each image with ``model`` (labels and uncertainty), reporting progress; an
    image with nothing painted is seen with its own batch-norm statistics (``first_look``)."""
    results = []
    for index, item in enumerate(images):
        yield Status(predicting_status(item.name, index, len(images), item.labels, consistent))
        results.append(
            predict_volume(
                model,
                item.image,
                ensemble=ensemble,
                uncertainty=True,
                painted=item.labels,
                consistent=consistent,
                reviewed=item.reviewed,
                scan_statistics=first_look(item.labels, item.reviewed),
            )
        )
    return results
