"""ThreadTuner: measures step times per thread count, keeps the fastest, re-measures."""

from __future__ import annotations

from napari_mcsc.training.threads import ThreadTuner, thread_candidates


class FakeCpu:
    """Step time per thread count, changeable to simulate another process arriving."""

    def __init__(self, seconds: dict[int, float]):
        self.seconds = seconds
        self.applied: list[int] = []

    def run(self, tuner: ThreadTuner, steps: int) -> None:
        for _ in range(steps):
            tuner.record(self.seconds[tuner.current])


def test_candidates_cover_one_and_all_cores():
    assert thread_candidates(1) == [1]
    assert thread_candidates(2) == [1, 2]
    assert thread_candidates(16) == [1, 4, 8, 16]


def test_picks_the_fastest_count(monkeypatch):
    monkeypatch.delenv("NAPARI_MCSC_TORCH_THREADS", raising=False)
    cpu = FakeCpu({1: 0.30, 2: 0.45})
    tuner = ThreadTuner([1, 2], apply=cpu.applied.append, window=3)
    cpu.run(tuner, 12)
    assert not tuner.probing and tuner.current == 1
    assert tuner.summary()["seconds_per_step_by_threads"] == {"1": 0.3, "2": 0.45}


def test_measures_again_when_steps_slow_down(monkeypatch):
    monkeypatch.delenv("NAPARI_MCSC_TORCH_THREADS", raising=False)
    cpu = FakeCpu({1: 0.5, 2: 0.3})
    tuner = ThreadTuner([1, 2], apply=cpu.applied.append, window=3, recheck=1000)
    cpu.run(tuner, 12)
    assert tuner.current == 2
    cpu.seconds = {1: 0.5, 2: 3.0}  # a busy process arrives: 2 threads collapse
    cpu.run(tuner, 20)
    assert tuner.current == 1 and tuner.measured[2] == 3.0


def test_the_environment_pins_the_count(monkeypatch):
    monkeypatch.setenv("NAPARI_MCSC_TORCH_THREADS", "3")
    applied: list[int] = []
    tuner = ThreadTuner([1, 2, 4], apply=applied.append)
    for _ in range(20):
        tuner.record(1.0)
    assert applied == [3] and tuner.current == 3 and not tuner.probing
