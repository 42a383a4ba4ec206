"""Terminal progress: a tqdm bar on a terminal, plain periodic lines in logs."""

from __future__ import annotations

import io

from napari_mcsc.commands.progress import ProgressLine
from napari_mcsc.training.events import ProgressEvent


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _event(iteration: int, total: int = 10) -> ProgressEvent:
    return ProgressEvent(
        iteration=iteration,
        total=total,
        progress=iteration / total,
        losses={"total": 0.5 / iteration},
        learning_rates={},
        seconds_per_iteration=0.25,
        elapsed=0.25 * iteration,
        eta_seconds=0.25 * (total - iteration),
    )


def test_a_log_gets_plain_lines_at_most_every_log_every_seconds():
    log = io.StringIO()
    bar = ProgressLine(log, log_every=3600.0)
    for i in range(1, 11):
        bar.update(_event(i))
    bar.update(_event(10), force=True)
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines == [
        "it 1/10  loss 0.500  0.25 s/it  ETA    2 s",
        "it 10/10  loss 0.050  0.25 s/it  ETA    0 s",
    ]
    assert "\r" not in log.getvalue()


def test_a_terminal_gets_a_tqdm_bar_with_the_trainers_numbers():
    terminal = _Terminal()
    bar = ProgressLine(terminal, per_second=1e9)  # redraw on every update
    for i in range(1, 4):
        bar.update(_event(i))
    bar.update(_event(6, total=12))  # with a time budget the total is an estimate
    bar.update(_event(6, total=12), force=True)
    bar.close()
    text = terminal.getvalue()
    assert "\r" in text and text.endswith("\n")
    last = [part for part in text.replace("\n", "\r").split("\r") if part.strip()][-1]
    assert "6/12" in last and "loss 0.083" in last and "ETA    2 s" in last and "50%" in last


def test_close_without_updates_writes_nothing():
    terminal = _Terminal()
    ProgressLine(terminal).close()
    assert terminal.getvalue() == ""
