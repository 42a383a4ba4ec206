"""A study: many scans of one protocol, one model carried from scan to scan.

One folder holds the whole session and reopens where it stopped:

    study.json            the settings, the scans (state, painted and reviewed slices,
                          uncertainty) and the rounds trained so far
    labels/NAME.npz       each scan's painted voxels and reviewed slices
    predictions/NAME.npz  each scan's latest prediction, uncertainty and slice ranking
    model.pt, state.pt    the study's model and its training state (training/state.py)
    images/NAME.nii.gz    images that came from napari layers rather than from files
    masks/NAME.nii.gz     the masks of accepted scans, in the scan's geometry
    accepted/NAME.npz     the same masks as the study keeps them (what later rounds learn
                          from, when the settings say so)

Every file is written atomically and study.json last, so a process killed at any moment
leaves either the previous complete session or the new one: nothing painted before the
last save is lost. The study knows nothing of Qt; the widget, ``napari-mcsc study`` and
the study benchmark drive this same object.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_mcsc.atomic import atomic_write
from napari_mcsc.constants import STUDY_FILE, ScanState
from napari_mcsc.data.slices import labelled_slice_indices
from napari_mcsc.review import slice_view
from napari_mcsc.study.settings import StudySettings

FORMAT = "napari-mcsc-study"
VERSION = 1


class StudyError(ValueError):
    """A study folder or an action on it that cannot work; the message says what to do."""


@dataclass
class ScanRecord:
    """One scan of a study: where its image is and how far it got."""

    name: str
    source: str  # the image's path (file or DICOM folder); relative: inside the study folder
    state: ScanState = ScanState.NEW
    painted: list[int] = field(default_factory=list)  # slices holding painted voxels
    reviewed: list[int] = field(default_factory=list)  # slices confirmed as background
    slices: int | None = None  # along the study's axis, once read
    uncertainty: float | None = None  # mean score of its unannotated slices, last prediction
    predicted_round: int | None = None  # the round whose model made its prediction
    slice_scores: list[float] | None = None  # each slice's uncertainty, last prediction
    # slices where a structure came or went at the last prediction: suggested first
    changed: list[int] = field(default_factory=list)

    @property
    def annotated(self) -> list[int]:
        return sorted(set(self.painted) | set(self.reviewed))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "state": self.state.value,
            "painted": self.painted,
            "reviewed": self.reviewed,
            "slices": self.slices,
            "uncertainty": self.uncertainty,
            "predicted_round": self.predicted_round,
            "slice_scores": self.slice_scores,
            "changed": self.changed,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ScanRecord:
        return cls(
            name=str(data["name"]),
            source=str(data["source"]),
            state=ScanState(data.get("state", ScanState.NEW.value)),
            painted=[int(i) for i in data.get("painted", [])],
            reviewed=[int(i) for i in data.get("reviewed", [])],
            slices=data.get("slices"),
            uncertainty=data.get("uncertainty"),
            predicted_round=data.get("predicted_round"),
            slice_scores=data.get("slice_scores"),
            changed=[int(i) for i in data.get("changed", [])],
        )


@dataclass
class StoredPrediction:
    """A scan's latest prediction as the study keeps it."""

    labels: np.ndarray
    uncertainty: np.ndarray | None
    slice_scores: np.ndarray | None
    ranking: list[int]
    round: int
    # the scan's painted and reviewed slices when it was made (None: a file of an older
    # version): an empty list means a model that had not been taught this scan yet
    annotated: list[int] | None = None


class Study:
    """The session of a study (see the module docstring). Make one with ``create`` or
    ``create_from_arrays``, reopen it with ``open``."""

    def __init__(self, folder: Path, settings: StudySettings, scans: list[ScanRecord]) -> None:
        self.folder = Path(folder)
        self.settings = settings
        self.scans = scans
        self.rounds: list[dict] = []
        self.current: str | None = scans[0].name if scans else None
        self._model = None
        self._state = None

    # ------------------------------------------------------------ create / open
    @classmethod
    def create(cls, folder: str | os.PathLike, sources, settings: StudySettings | None = None) -> Study:
        """A new study in ``folder`` (made if needed; it must not hold a study yet) over the
        scans ``sources`` stand for: files, DICOM folders, folders of volumes, patterns, a
        Decathlon folder (its imagesTr, then imagesTs)."""
        from napari_mcsc.data.folders import scans_of
        from napari_mcsc.io.volumes import volume_name

        folder = _new_study_folder(folder)
        scans, taken = [], set()
        for path in scans_of(list(sources)):
            name = _unique(volume_name(path), taken)
            scans.append(ScanRecord(name, str(Path(path).resolve())))
        return cls._first_save(folder, settings, scans)

    @classmethod
    def create_from_arrays(
        cls, folder: str | os.PathLike, images, settings: StudySettings | None = None
    ) -> Study:
        """A new study over in-memory scans (napari layers): ``images`` are (name, array,
        geometry or None) triples, written once to ``images/NAME.nii.gz``."""
        from napari_mcsc.io.volumes import write_volume

        folder = _new_study_folder(folder)
        scans, taken = [], set()
        for name, array, geometry in images:
            name = _unique(name, taken)
            relative = f"images/{name}.nii.gz"
            write_volume(folder / relative, np.asarray(array), geometry)
            scans.append(ScanRecord(name, relative))
        return cls._first_save(folder, settings, scans)

    @classmethod
    def _first_save(cls, folder: Path, settings: StudySettings | None, scans: list[ScanRecord]) -> Study:
        if not scans:
            raise StudyError("a study needs at least one scan")
        study = cls(folder, settings or StudySettings(), scans)
        study.save()
        return study

    @classmethod
    def open(cls, folder: str | os.PathLike) -> Study:
        """The study saved in ``folder``, as it was at its last save."""
        folder = Path(folder)
        path = folder / STUDY_FILE
        if not path.is_file():
            raise StudyError(f"{folder} holds no study ({STUDY_FILE} not found): create one first")
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise StudyError(f"{path} cannot be read ({error}); it is not a study file") from error
        if data.get("format") != FORMAT:
            raise StudyError(f"{path} is not a napari-mcsc study file")
        if int(data.get("version", 0)) > VERSION:
            raise StudyError(f"{path} was written by a newer napari-mcsc: update the plugin to open it")
        study = cls(
            folder,
            StudySettings.from_dict(data.get("settings", {})),
            [ScanRecord.from_dict(s) for s in data.get("scans", [])],
        )
        study.rounds = list(data.get("rounds", []))
        study.current = data.get("current", study.current)
        return study

    def save(self) -> None:
        """Write study.json (atomically; every other file is written before it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {
            "format": FORMAT,
            "version": VERSION,
            "settings": self.settings.to_dict(),
            "current": self.current,
            "scans": [s.to_dict() for s in self.scans],
            "rounds": self.rounds,
        }
        text = json.dumps(data, indent=1)
        atomic_write(self.folder / STUDY_FILE, lambda tmp: Path(tmp).write_text(text))

    # --------------------------------------------------------------------- scans
    def scan(self, name: str) -> ScanRecord:
        for scan in self.scans:
            if scan.name == name:
                return scan
        raise StudyError(f"no scan named {name!r} in this study; it has {[s.name for s in self.scans]}")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scans]

    def source_path(self, name: str) -> Path:
        source = Path(self.scan(name).source)
        return source if source.is_absolute() else self.folder / source

    def read_image(self, name: str):
        """The scan's image as an ``io.Volume`` (array and geometry), read from its source."""
        from napari_mcsc.io.volumes import read_volume

        path = self.source_path(name)
        if not path.exists():
            raise StudyError(
                f"the image of scan {name!r} is no longer at {path}: put it back there, or "
                "start a new study with the scans where they are now"
            )
        volume = read_volume(path)
        if volume.ndim != 3:
            raise StudyError(f"scan {name!r} ({path}) is not a 3D volume (shape {volume.shape})")
        record = self.scan(name)
        if record.slices is None:
            record.slices = int(volume.shape[self.settings.axis])
        return volume

    def labels(self, name: str) -> np.ndarray | None:
        """The scan's painted voxels (a full volume, 0 where nothing is painted), or None."""
        return _stored_labels(self._labels_path(name))

    def set_labels(self, name: str, labels: np.ndarray | None, reviewed=()) -> ScanRecord:
        """Record what the user painted on scan ``name`` (and the slices reviewed as
        background), then save the session."""
        record = self.scan(name)
        axis = self.settings.axis
        reviewed = sorted({int(i) for i in reviewed})
        if labels is None or not np.any(labels):
            painted = []
            self._labels_path(name).unlink(missing_ok=True)
        else:
            labels = np.asarray(labels)
            painted = labelled_slice_indices(labels, (), axis, name)
            self._write_npz(self._labels_path(name), labels=_compact(labels))
        if labels is not None:
            record.slices = int(np.shape(labels)[axis])
        record.painted, record.reviewed = painted, reviewed
        record.uncertainty = _scan_uncertainty(record.slice_scores, record.annotated)
        if record.annotated and record.state != ScanState.ACCEPTED:
            record.state = ScanState.CORRECTED
        self.save()
        return record

    def annotated_scans(self) -> list[str]:
        """Scans with painted or reviewed slices."""
        return [s.name for s in self.scans if s.annotated]

    def training_scans(self) -> list[str]:
        """What a round trains on: the annotated scans, and the accepted ones when the
        settings learn from accepted masks."""
        return [s.name for s in self.scans if s.annotated or self.learns_from_mask(s.name)]

    def learns_from_mask(self, name: str) -> bool:
        """Whether rounds learn every slice of scan ``name``'s accepted mask."""
        return (
            self.settings.learn_from_accepted
            and self.scan(name).state == ScanState.ACCEPTED
            and self._accepted_path(name).is_file()
        )

    def training_labels(self, name: str) -> tuple[np.ndarray | None, list[int]]:
        """What a round learns from scan ``name``: its painted voxels and reviewed slices;
        or, for an accepted scan when the settings learn from accepted masks, every slice of
        the mask the user accepted (slices painted since win; empty slices are reviewed
        background). A user accepts a mask because it is right: from then on it is as good
        as painted, and it teaches the model the whole extent of the structures."""
        if not self.learns_from_mask(name):
            return self.labels(name), list(self.scan(name).reviewed)
        mask = self._annotated_over(name, self.accepted_mask(name), self.labels(name))
        axis = self.settings.axis
        other = tuple(i for i in range(mask.ndim) if i != axis)
        empty = np.flatnonzero(~np.any(mask != 0, axis=other)).tolist()
        return mask, empty

    def accepted_mask(self, name: str) -> np.ndarray | None:
        """The mask the user accepted for scan ``name`` (as ``mask`` gave it then), or None."""
        return _stored_labels(self._accepted_path(name))

    # --------------------------------------------------------------- predictions
    def prediction(self, name: str) -> StoredPrediction | None:
        path = self._prediction_path(name)
        if not path.is_file():
            return None
        with np.load(path) as stored:
            return StoredPrediction(
                labels=stored["labels"],
                uncertainty=stored.get("uncertainty", None),
                slice_scores=stored.get("slice_scores", None),
                ranking=[int(i) for i in stored["ranking"]],
                round=int(stored["round"]),
                annotated=[int(i) for i in stored["annotated"]] if "annotated" in stored else None,
            )

    def set_prediction(self, name: str, prediction) -> ScanRecord:
        """Keep a ``VolumePrediction`` of scan ``name`` made by the current model."""
        arrays = {
            "labels": _compact(prediction.labels),
            "ranking": np.asarray(prediction.ranking or [], dtype=np.int64),
            "round": np.asarray(len(self.rounds)),
            "annotated": np.asarray(self.scan(name).annotated, dtype=np.int64),
        }
        if prediction.uncertainty is not None:
            arrays["uncertainty"] = prediction.uncertainty.astype(np.float16)
        if prediction.slice_scores is not None:
            arrays["slice_scores"] = np.asarray(prediction.slice_scores, dtype=np.float32)
        self._write_npz(self._prediction_path(name), **arrays)
        record = self.scan(name)
        record.slices = int(prediction.labels.shape[self.settings.axis])
        record.predicted_round = len(self.rounds)
        scores = prediction.slice_scores
        record.slice_scores = None if scores is None else [round(float(v), 5) for v in scores]
        record.changed = [int(i) for i in prediction.changed or []]
        record.uncertainty = _scan_uncertainty(record.slice_scores, record.annotated)
        if record.state == ScanState.NEW:
            record.state = ScanState.PREDICTED
        self.save()
        return record

    def mask(self, name: str) -> np.ndarray:
        """The scan's mask: its painted voxels over its latest prediction (painted voxels
        always win; a reviewed slice is background)."""
        prediction, labels = self.prediction(name), self.labels(name)
        if prediction is None and labels is None:
            raise StudyError(
                f"scan {name!r} has neither a prediction nor painted slices: train or predict first"
            )
        return self._annotated_over(name, prediction.labels if prediction is not None else None, labels)

    def _annotated_over(self, name: str, base: np.ndarray | None, labels: np.ndarray | None) -> np.ndarray:
        """``base`` (a copy; the painted voxels ``labels`` when None) with scan ``name``'s
        reviewed slices made background and its painted slices put back over it."""
        mask = np.array(base if base is not None else labels, copy=True)
        axis = self.settings.axis
        for index in self.scan(name).reviewed:
            mask[slice_view(axis, index)] = 0
        if labels is not None:
            for index in self.scan(name).painted:
                mask[slice_view(axis, index)] = labels[slice_view(axis, index)]
        return mask

    def accept(self, name: str, out: str | os.PathLike | None = None) -> Path:
        """Mark scan ``name`` done and write its mask in the scan's geometry (default
        ``masks/NAME.nii.gz`` in the study folder); returns the path written."""
        from napari_mcsc.io.volumes import write_volume

        mask = self.mask(name)
        geometry = self.read_image(name).geometry
        self._write_npz(self._accepted_path(name), labels=_compact(mask))
        path = Path(out) if out is not None else self.folder / "masks" / f"{name}.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_volume(path, mask, geometry)
        self.scan(name).state = ScanState.ACCEPTED
        self.save()
        return path

    # ----------------------------------------------------------------- the model
    @property
    def model(self):
        """The study's model (None before the first round)."""
        if self._model is None and self._model_path.is_file():
            from napari_mcsc.checkpoint import load_model

            self._model = load_model(self._model_path)
        return self._model

    @property
    def train_state(self):
        """The training state the next round continues (None before the first round)."""
        if self._state is None and self._state_path.is_file():
            from napari_mcsc.training.state import TrainState

            self._state = TrainState.load(self._state_path)
        return self._state

    def set_model(self, model, state, round_record: dict) -> None:
        """Keep the model and training state a round ended with, and the round's record."""
        from napari_mcsc.checkpoint import save_model

        save_model(model, self._model_path)
        state.save(self._state_path)
        self._model, self._state = model, state
        self.rounds.append(round_record)
        self.save()

    # --------------------------------------------------------------------- files
    @property
    def _model_path(self) -> Path:
        return self.folder / "model.pt"

    @property
    def _state_path(self) -> Path:
        return self.folder / "state.pt"

    def _labels_path(self, name: str) -> Path:
        return self.folder / "labels" / f"{name}.npz"

    def _accepted_path(self, name: str) -> Path:
        return self.folder / "accepted" / f"{name}.npz"

    def _prediction_path(self, name: str) -> Path:
        return self.folder / "predictions" / f"{name}.npz"

    @staticmethod
    def _write_npz(path: Path, **arrays) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)

        atomic_write(path, write)


def _new_study_folder(folder: str | os.PathLike) -> Path:
    """``folder`` as a Path, refused when it holds a study already."""
    folder = Path(folder)
    if (folder / STUDY_FILE).exists():
        raise StudyError(f"{folder} already holds a study: open it instead, or choose another folder")
    return folder


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... if taken; recorded as taken."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    taken.add(candidate)
    return candidate


def _stored_labels(path: Path) -> np.ndarray | None:
    """The label volume kept in ``path`` (an ``.npz``), or None when there is none."""
    if not path.is_file():
        return None
    with np.load(path) as stored:
        return stored["labels"]


def _compact(labels: np.ndarray) -> np.ndarray:
    """Label values in the smallest unsigned type that holds them (labels are >= 0)."""
    labels = np.asarray(labels)
    top = int(labels.max()) if labels.size else 0
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return labels.astype(dtype)
    return labels.astype(np.int64)


def _scan_uncertainty(slice_scores, annotated) -> float | None:
    """Mean score of the slices not annotated yet (None without scores)."""
    if slice_scores is None:
        return None
    scores = np.asarray(slice_scores, dtype=float)
    keep = np.ones(len(scores), dtype=bool)
    keep[[i for i in annotated if 0 <= i < len(scores)]] = False
    return round(float(scores[keep].mean()), 5) if keep.any() else 0.0
