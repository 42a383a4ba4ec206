"""The study panel's state without Qt: the open study, the scan in view, the running job.

``StudyWorkspace`` is to the study panel what ``review.CorrectionLoop`` is to the dock
widget: the widget only wires buttons to it. It offers the small interface the run panel
uses for any job (``job``, ``last_result``, ``keep_partial_model``, ``run_ended``).
"""

from __future__ import annotations

import dataclasses

from napari_mcsc.study.ranking import next_scan, suggestions
from napari_mcsc.study.rounds import StudyRound, predict_scans
from napari_mcsc.study.session import Study, StudyError


class StudyWorkspace:
    """The open study and what the user is doing with it."""

    def __init__(self) -> None:
        self.study: Study | None = None
        self.job: StudyRound | None = None
        self.last_result = None

    @property
    def current(self) -> str | None:
        return self.study.current if self.study is not None else None

    def open(self, study: Study) -> None:
        self.study, self.job, self.last_result = study, None, None

    def set_current(self, name: str) -> None:
        self.study.scan(name)  # a StudyError names the scans there are
        self.study.current = name
        self.study.save()

    def upcoming(self) -> str | None:
        """The scan after the current one that the user will open next."""
        return next_scan(self.study, self.current) if self.study is not None else None

    def start_round(self, preview_request=None) -> StudyRound:
        """A round predicting the current scan and, in the same worker, the next one, so
        that "Next scan" opens it already predicted."""
        predict = [n for n in (self.current, self.upcoming()) if n is not None]
        self.job = StudyRound(
            self.study, predict=list(dict.fromkeys(predict)), preview_request=preview_request
        )
        return self.job

    def set_consistent_mask(self, on: bool) -> list[str]:
        """Make the study's next predictions 3D-consistent (or raw CNN masks) and save the
        choice. Returns the scan in view when it has a prediction, to predict again so that
        it shows the choice (the other scans follow at their next prediction)."""
        self.study.settings.consistent_mask = bool(on)
        self.study.save()
        current = self.current
        predicted = current is not None and self.study.scan(current).predicted_round is not None
        return [current] if predicted else []

    def set_round_iterations(self, iterations: int) -> None:
        """The length of every round after the first, saved with the study. Shorter rounds
        wait less and teach less from each painted slice (docs/benchmarks.md, sections 26
        and 49), a trade the user makes on a slow machine."""
        try:  # the settings check their own values
            settings = dataclasses.replace(self.study.settings, round_iterations=int(iterations))
        except ValueError as error:
            raise StudyError(str(error)) from error
        self.study.settings = settings
        self.study.save()

    def prediction_run(self, names):
        """A generator function predicting ``names`` (the background prediction of scans
        the model has not seen yet)."""
        return lambda: predict_scans(self.study, names)

    def next_suggestion(self):
        """The most uncertain (scan, slice) not annotated yet, across the study, or None."""
        found = suggestions(self.study, 1) if self.study is not None else []
        return found[0] if found else None

    # The run panel's interface.
    def keep_partial_model(self) -> bool:
        return False  # a round saves its model itself, stopped or not

    def run_ended(self) -> None:
        self.job = None
