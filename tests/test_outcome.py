"""training/outcome.py: a run that ends short of its iterations (time cap, Stop) says so."""

from __future__ import annotations

from napari_mcsc.training import Trainer
from napari_mcsc.training.outcome import RunOutcome


def test_complete_run_reports_no_warning(tiny_config, tiny_slice_set):
    trainer = Trainer(tiny_config.replace(iterations=2), tiny_slice_set)
    list(trainer.run())
    assert trainer.outcome.complete and trainer.outcome.warning() is None
    entry = trainer.model.history[-1]
    assert entry["complete"] is True and entry["planned_iterations"] == 2
    assert entry["ended_by"] == "iterations"


def test_time_cap_ends_the_run_and_warns(tiny_config, tiny_slice_set):
    trainer = Trainer(tiny_config.replace(iterations=10_000, max_seconds=0.5), tiny_slice_set)
    events = list(trainer.run())
    assert 1 <= len(events) < 10_000
    assert events[-1].total == 10_000  # the plan is not rescaled to the cap
    outcome = trainer.outcome
    assert not outcome.complete and outcome.ended_by == "time cap"
    text = outcome.warning()
    assert f"{outcome.done} of the 10000 iterations" in text and "time cap" in text
    assert trainer.model.history[-1]["complete"] is False


def test_stop_warns(tiny_config, tiny_slice_set):
    trainer = Trainer(tiny_config.replace(iterations=50), tiny_slice_set)
    for event in trainer.run():
        if event.iteration == 2:
            trainer.request_stop()
    assert trainer.outcome.ended_by == "stop" and trainer.outcome.done == 2
    assert "stopped after 2 of the 50 iterations" in trainer.outcome.warning()


def test_outcome_dict_has_the_fields_summaries_use():
    row = RunOutcome(planned=10, done=4, ended_by="stop", seconds=1.0).to_dict()
    assert row["complete"] is False and row["iterations"] == 4 and row["planned_iterations"] == 10
