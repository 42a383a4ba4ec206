"""A study's training round and its predictions, as generators (see ``jobs``).

A round fine-tunes the study's model on every slice painted so far in any scan (with
``learn_from_accepted``, on every slice of the accepted scans' masks too; and, for ct and
mcsc, on some other scans of the study as unlabelled data), continuing the optimisers and
the schedules where the last round left them (``training.state``). The
first round trains from scratch. The model and its state are saved when the round ends,
stopped or not, then the scans asked for are predicted. The widget runs these in a
worker thread, ``napari-mcsc study`` and the study benchmark run them directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

from napari_mcsc.data.labels import LabelMapping
from napari_mcsc.inference import predict_volume, put_changed_first, structure_areas
from napari_mcsc.jobs import ImageInput, Status, TrainingJob, predicting_status
from napari_mcsc.study.session import Study, StudyError
from napari_mcsc.training.config import TrainConfig
from napari_mcsc.training.events import ProgressEvent
from napari_mcsc.training.methods import method_named
from napari_mcsc.training.outcome import RunOutcome
from napari_mcsc.training.state import TrainState


@dataclass
class RoundResult:
    """What a round did: its number, length, time, outcome and the scans it predicted."""

    index: int
    iterations: int
    seconds: float
    outcome: RunOutcome | None
    predicted: list[str]


class StudyRound:
    """One training round of ``study``, then a prediction of each scan in ``predict``.

    ``iterations`` overrides the round's length (default: the study's settings). The
    study's current scan, if painted, is the round's focus (``TrainConfig.focus_share``).
    ``request_stop()`` ends training after the current iteration (the model so far is
    kept and the predictions still run).
    """

    def __init__(
        self,
        study: Study,
        *,
        predict: Sequence[str] = (),
        iterations: int | None = None,
        preview_request: Callable[[], tuple[int, int] | None] | None = None,
    ) -> None:
        self.study = study
        self.predict = list(predict)
        self.iterations = iterations
        self.preview_request = preview_request
        self.job: TrainingJob | None = None
        self._stop = False

    @property
    def trainer(self):
        return self.job.trainer if self.job is not None else None

    def request_stop(self) -> None:
        self._stop = True
        if self.job is not None:
            self.job.request_stop()

    def config(self) -> TrainConfig:
        """The round's training configuration: the first round's (from scratch) until the
        study has a model, a later round's after."""
        overrides = {"iterations": self.iterations} if self.iterations else {}
        return self.study.settings.train_config(first=self.study.model is None, **overrides)

    def describe(self) -> str:
        """What the user is about to wait for: 'Round 3 on 2 scan(s): 200 iterations, about
        4 min here (...)', from the speed an earlier run of these settings measured here."""
        from napari_mcsc.devices import pick_device
        from napari_mcsc.training.speed_memory import describe_run_length

        config = self.config()
        scans = len(self.study.annotated_scans())
        try:
            length = describe_run_length(config, pick_device(config.device).type)
        except (ValueError, RuntimeError):  # a device not here: the round itself will say so
            length = f"{config.iterations} iterations"
        return f"Round {len(self.study.rounds) + 1} on {scans} scan(s): {length}"

    def run(self) -> Generator[ProgressEvent | Status, None, RoundResult]:
        study, settings = self.study, self.study.settings
        start = time.perf_counter()
        names = study.training_scans()
        if not names:
            raise StudyError(
                "nothing painted yet: paint at least one slice of a scan (or mark an "
                "all-background slice reviewed) before training"
            )
        model, first = study.model, study.model is None
        config = self.config()
        yield Status(f"reading {len(names)} painted scan(s)")
        # Scans are read one at a time while the slices are made (a study may be large);
        # the classes come from the painted voxels (and accepted masks) alone.
        mapping = LabelMapping.from_label_volumes(study.training_labels(name)[0] for name in names)
        inputs = (
            ImageInput(name, study.read_image(name).array, *study.training_labels(name)) for name in names
        )
        unlabelled = self._unlabelled_scans(names) if method_named(config.method).uses_unlabelled else []
        extra = (ImageInput(n, study.read_image(n).array) for n in unlabelled)
        self.job = TrainingJob(
            config,
            inputs,
            extra,
            axis=settings.axis,
            mapping=mapping,
            init=model,
            carry=None if first else study.train_state,
            preview_request=self.preview_request,
            predict=False,
            focus=study.current if study.current in names else None,
        )
        if self._stop:
            self.job.request_stop()
        result = yield from self.job.run()
        state = TrainState.capture(self.job.trainer)
        outcome = result.outcome
        record = {
            "round": len(study.rounds) + 1,
            "method": config.method,
            "scans": names,
            "painted_slices": sum(len(study.scan(n).annotated) for n in names),
            "accepted_masks": [n for n in names if study.learns_from_mask(n)],
            "unlabelled_scans": unlabelled,
            "iterations": result.iterations,
            "position": state.position,
            "seconds": round(time.perf_counter() - start, 2),
            "complete": bool(outcome.complete) if outcome is not None else False,
        }
        study.set_model(result.model, state, record)
        yield from predict_scans(study, self.predict, device=self.job.trainer.device)
        return RoundResult(
            index=record["round"],
            iterations=result.iterations,
            seconds=round(time.perf_counter() - start, 2),
            outcome=outcome,
            predicted=list(self.predict),
        )

    def _unlabelled_scans(self, annotated: list[str]) -> list[str]:
        """Up to ``unlabelled_scans`` scans without annotations, the next ones after the
        current scan in study order first (those the user is about to see)."""
        study = self.study
        names = study.names
        start = names.index(study.current) + 1 if study.current in names else 0
        order = names[start:] + names[:start]
        free = [n for n in order if n not in annotated]
        return free[: study.settings.unlabelled_scans]


def predict_scans(
    study: Study, names: Sequence[str], *, device=None, images=None
) -> Generator[Status, None, list]:
    """Predict each scan of ``names`` with the study's model and keep the predictions;
    ``images``: arrays already in memory by name (not read again)."""
    model = study.model
    if model is None:
        raise StudyError("the study has no model yet: paint a few slices and train a round first")
    predictions = []
    for index, name in enumerate(names):
        painted, consistent = study.labels(name), study.settings.consistent_mask
        yield Status(predicting_status(name, index, len(names), painted, consistent))
        image = images[name] if images and name in images else study.read_image(name).array
        before = study.prediction(name)
        prediction = predict_volume(
            model,
            image,
            uncertainty=True,
            device=device,
            painted=painted,
            consistent=consistent,
            reviewed=study.scan(name).reviewed,
            # a scan nothing of which the model was taught: seen with its own statistics
            scan_statistics=study.settings.scan_statistics and not study.scan(name).annotated,
        )
        if before is not None and before.annotated:
            # not after the scan's first painting: the look before it came from a model
            # that had not been taught the scan, so most slices change (section 42)
            axis = study.settings.axis
            put_changed_first(prediction, structure_areas(before.labels, axis), axis)
        study.set_prediction(name, prediction)
        predictions.append(prediction)
    return predictions
