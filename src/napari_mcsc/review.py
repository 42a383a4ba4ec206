"""The correction loop without Qt: its state, and which slice the user should look at next.

After a training round the user corrects slices and retrains. :class:`CorrectionLoop` holds
that loop's state (the model, the images the last run started with, each image's slice
ranking) and its actions: start a run, take its results, the next uncertain slice, accept a
predicted slice, mark a slice reviewed. It works on any objects with ``name``, ``data`` and
``metadata`` (napari layers in the widget, plain namespaces in tests); the napari dock
widget only wires buttons to it. Which slice to correct is the decision that makes the
loop converge fast, so it lives here, once: the widget's "Next uncertain slice" and the
loop benchmark (a simulated user) both call :func:`next_uncertain_slice`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_mcsc import postprocess
from napari_mcsc.constants import IMAGE_KEY, METADATA_KEY, REVIEWED_KEY, LayerRole, plugin_entry
from napari_mcsc.data.slices import labelled_slice_indices
from napari_mcsc.inference import put_changed_first, structure_areas
from napari_mcsc.jobs import ImageInput, TrainingJob, TrainResult


def next_uncertain_slice(ranking: Sequence[int], annotated: Iterable[int]) -> int | None:
    """The first slice of ``ranking`` (``inference.slice_scores``, highest first) not yet annotated."""
    done = {int(s) for s in annotated}
    return next((int(s) for s in ranking if int(s) not in done), None)


def annotated_slices(labels: np.ndarray | None, reviewed: Sequence[int], axis: int) -> list[int]:
    """Painted or reviewed slice indices of a label volume (None: nothing annotated)."""
    if labels is None:
        return sorted({int(s) for s in reviewed})
    return labelled_slice_indices(labels, reviewed, axis)


def largest_gap_slice(n_slices: int, annotated: Iterable[int]) -> int | None:
    """The slice a user without an uncertainty map would paint next: the middle of the
    longest run of unannotated slices (the volume's ends count as run boundaries)."""
    done = sorted({int(s) for s in annotated if 0 <= int(s) < n_slices})
    best, best_length = None, 0
    edges = [-1, *done, n_slices]
    for low, high in itertools.pairwise(edges):
        length = high - low - 1
        if length > best_length:
            best_length = length
            first, last = low + 1, high - 1
            best = (first + last + 1) // 2
    return best


def uncertain_gap_slice(scores: Sequence[float], annotated: Iterable[int]) -> int | None:
    """A third slice choice the benchmarks compare with the two above: the middle (as
    ``largest_gap_slice``'s) of the run of unannotated slices whose uncertainty ``scores``
    sum highest, the first on a tie. The model says where it is unsure; the middle of that
    run is carried farthest both ways. Level with the most uncertain slice on the train
    split's studies (docs/benchmarks.md, section 35), so not the tool's suggestion."""
    n_slices = len(scores)
    values = np.asarray(scores, dtype=np.float64)
    done = sorted({int(s) for s in annotated if 0 <= int(s) < n_slices})
    best, best_sum = None, -1.0
    for low, high in itertools.pairwise([-1, *done, n_slices]):
        total = float(values[low + 1 : high].sum())
        if high - low > 1 and total > best_sum:
            best, best_sum = (low + high + 1) // 2, total
    return best


def slice_to_paint(
    choice: str,
    n_slices: int,
    annotated: Iterable[int],
    *,
    ranking: Sequence[int] | None = None,
    scores: Sequence[float] | None = None,
) -> int | None:
    """The next slice to paint by a benchmark's ``choice``: ``"uncertain"`` the first of
    ``ranking`` not annotated (``next_uncertain_slice``), ``"gap"`` the middle of the most
    uncertain unannotated run of ``scores`` (``uncertain_gap_slice``); any other choice,
    or one without what it needs, the middle of the largest unannotated gap."""
    annotated = list(annotated)
    if choice == "uncertain" and ranking is not None:
        return next_uncertain_slice(ranking, annotated)
    if choice == "gap" and scores is not None:
        return uncertain_gap_slice(scores, annotated)
    return largest_gap_slice(n_slices, annotated)


def reviewed_slices(labels: Any) -> list[int]:
    """The slices of a Labels layer (or any object with ``metadata``) marked reviewed."""
    return list(plugin_entry(labels).get(REVIEWED_KEY, []))


def mark_reviewed(labels: Any, index: int) -> list[int]:
    """Record slice ``index`` as reviewed in ``labels.metadata``; returns all reviewed slices."""
    entry = labels.metadata.setdefault(METADATA_KEY, {})
    entry[REVIEWED_KEY] = sorted(set(entry.get(REVIEWED_KEY, [])) | {int(index)})
    return entry[REVIEWED_KEY]


def is_output_of(layer: Any, image: Any) -> bool:
    """Whether ``layer`` is one the widget made over ``image`` (prediction, uncertainty,
    preview): its metadata say so, whatever its name."""
    return LayerRole.of(layer) is not None and plugin_entry(layer).get(IMAGE_KEY) == image.name


def slice_view(axis: int, index: int) -> tuple:
    """The index expression of slice ``index`` along ``axis`` of a 3D array."""
    view: list = [slice(None)] * 3
    view[axis] = index
    return tuple(view)


@dataclass(frozen=True)
class _Look:
    """What the loop keeps of an image's last prediction to compare the next one with."""

    areas: dict[int, np.ndarray]  # inference.structure_areas along ``axis``
    axis: int
    taught: bool  # its model had trained on the image's painting
    changed: frozenset[int] = frozenset()  # slices where a structure came or went at it


@dataclass
class RunState:
    """The images a run started with, so results land there whatever happens meanwhile."""

    annotated: list[tuple[Any, Any]]  # [(image, labels)]
    unlabelled: list[Any] = field(default_factory=list)  # [image]
    axis: int = 0

    @property
    def images(self) -> list:
        return [img for img, _ in self.annotated] + list(self.unlabelled)

    def labels_of(self, image: Any) -> Any | None:
        return next((lab for img, lab in self.annotated if img is image), None)


class CorrectionLoop:
    """The paint-train-correct-retrain loop's state and actions (no Qt, no napari)."""

    def __init__(self) -> None:
        self.model = None  # SegmentationModel of the last run or load
        self.run: RunState | None = None
        self.job: TrainingJob | None = None  # the training running now
        self.last_result: TrainResult | None = None
        self.rankings: dict[int, list[int]] = {}  # id(image) -> slices, most uncertain first
        self._last_looks: dict[int, _Look] = {}  # id(image) -> its last prediction, in brief
        # Predictions made 3D-consistent (postprocess.py); the default follows
        # docs/benchmarks.md, section 15.
        self.consistent_mask = postprocess.ON_BY_DEFAULT

    @property
    def has_prediction(self) -> bool:
        """Whether a run has predicted its images (the correction tools have work)."""
        return self.run is not None and self.last_result is not None

    # ------------------------------------------------------------------ runs
    def start_training(
        self,
        config,
        annotated: Sequence[tuple[Any, Any]],
        unlabelled: Sequence[Any],
        axis: int,
        preview_request: Callable[[], tuple[int, int] | None] | None = None,
    ) -> TrainingJob:
        """The job training on ``annotated`` (image, labels) pairs and ``unlabelled`` images,
        with their arrays copied now; it fine-tunes the current model when its axis fits."""
        inputs = [
            ImageInput(img.name, np.asarray(img.data), np.array(lab.data, copy=True), reviewed_slices(lab))
            for img, lab in annotated
        ]
        extra = [ImageInput(img.name, np.asarray(img.data)) for img in unlabelled]
        self.run = RunState(list(annotated), list(unlabelled), axis)
        self.job = TrainingJob(
            config,
            inputs,
            extra,
            axis=axis,
            init=self.warm_start(axis),
            preview_request=preview_request,
            consistent=self.consistent_mask,
        )
        return self.job

    def warm_start(self, axis: int):
        """The model a run along ``axis`` fine-tunes (None: it starts from scratch)."""
        return self.model if (self.model is not None and self.model.axis == axis) else None

    def training_done(self, result: TrainResult) -> list[tuple[Any, Any]]:
        """Take a run's result; returns (image, prediction) for every image of the run."""
        self.model = result.model
        self.last_result = result
        pairs = list(zip(self.run.images, result.predictions, strict=True))
        for image, prediction in pairs:
            self.predicted(image, prediction)
        return pairs

    def predicted(self, image: Any, prediction) -> None:
        """Keep the slice ranking of a prediction of ``image``. When this prediction and the
        image's last one both come from models taught its painting, the slices where a
        structure came or went between them are ranked first (``inference.put_changed_first``),
        as a study's rounds do: the new painting changed the network's mind there."""
        axis = self.run.axis if self.run is not None else 0
        taught = self.labels_of(image) is not None
        last = self._last_looks.get(id(image))
        if taught and last is not None and last.taught and last.axis == axis:
            put_changed_first(prediction, last.areas, axis)
        changed = frozenset(prediction.changed or [])
        self._last_looks[id(image)] = _Look(structure_areas(prediction.labels, axis), axis, taught, changed)
        self.rankings[id(image)] = prediction.ranking or []

    def run_ended(self) -> None:
        """The worker is done (returned, stopped or failed): no job runs any more."""
        self.job = None

    def keep_partial_model(self) -> bool:
        """After an error: keep what the job trained before it, if anything."""
        trained = self.job.model if self.job is not None else None
        if trained is not None and trained.trained_iterations:
            self.model = trained
            return True
        return False

    def request_stop(self) -> bool:
        if self.job is None:
            return False
        self.job.request_stop()
        return True

    # ----------------------------------------------------------- corrections
    def ranking(self, image: Any) -> list[int]:
        return self.rankings.get(id(image), []) if image is not None else []

    def labels_of(self, image: Any) -> Any | None:
        """The Labels layer the last run trained ``image`` with (None: not annotated in it)."""
        return self.run.labels_of(image) if self.run is not None else None

    def focus_image(self, active: Any, candidates: Sequence[Any] = ()) -> Any | None:
        """The image the correction tools act on: the one ``active`` (the selected layer)
        belongs to if it is in the last run, else the run's first annotated image (before
        any run: the first of ``candidates``)."""
        if self.run is None:
            return candidates[0] if candidates else None
        for image, labels in self.run.annotated:
            if active is not None and (active is image or active is labels or is_output_of(active, image)):
                return image
        return self.run.annotated[0][0] if self.run.annotated else None

    def annotated(self, image: Any) -> list[int]:
        """Slices of ``image`` painted or reviewed in its run's Labels layer."""
        labels = self.labels_of(image)
        if labels is None:
            return []
        return annotated_slices(np.asarray(labels.data), reviewed_slices(labels), self.run.axis)

    def next_slice(self, image: Any) -> int | None:
        """The most uncertain slice of ``image`` not painted or reviewed yet."""
        return next_uncertain_slice(self.ranking(image), self.annotated(image))

    def came_or_went(self, image: Any, index: int) -> bool:
        """Whether a structure came or went on slice ``index`` of ``image`` at its last prediction."""
        look = self._last_looks.get(id(image)) if image is not None else None
        return look is not None and int(index) in look.changed

    def accept_slice(self, labels: Any, prediction: np.ndarray, index: int) -> int:
        """Copy slice ``index`` of ``prediction`` into ``labels.data`` along the run's axis.
        Voxels painted on that slice stay; returns how many there were."""
        view = slice_view(self.run.axis, index)
        painted = np.array(labels.data[view], copy=True)  # a view would see the write below
        labels.data[view] = np.where(painted != 0, painted, np.asarray(prediction)[view])
        return int(np.count_nonzero(painted))
