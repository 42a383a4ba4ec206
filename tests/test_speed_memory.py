"""The measured speed of a profile is remembered, so the next run's length is told in time."""

from __future__ import annotations

from napari_mcsc._torch_env import TORCH_THREADS_ENV
from napari_mcsc.training import profile
from napari_mcsc.training.speed_memory import (
    describe_run_length,
    expected_seconds_per_iteration,
    remember_speed,
)


def test_unmeasured_settings_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_MCSC_CACHE", str(tmp_path))
    text = describe_run_length(profile("fast", iterations=300), "cpu")
    assert text.startswith("300 iterations") and "not yet measured" in text


def test_a_measured_speed_gives_the_duration(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_MCSC_CACHE", str(tmp_path))
    cfg = profile("fast", iterations=300)
    remember_speed(cfg, "cpu", 0.4)
    assert expected_seconds_per_iteration(cfg, "cpu") == 0.4
    assert "about 2 min here" in describe_run_length(cfg, "cpu")
    assert expected_seconds_per_iteration(cfg.replace(method="mcsc"), "cpu") is None  # another method
    assert expected_seconds_per_iteration(cfg, "cuda") is None
    assert expected_seconds_per_iteration(cfg.replace(amp=False), "cpu") is None  # full precision


def test_a_broken_cache_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_MCSC_CACHE", str(tmp_path))
    (tmp_path / "speed.json").write_text("{not json")
    assert expected_seconds_per_iteration(profile("fast"), "cpu") is None
    remember_speed(profile("fast"), "cpu", 0.5)
    assert expected_seconds_per_iteration(profile("fast"), "cpu") == 0.5


def test_a_speed_measured_with_a_pinned_thread_count_is_not_told_for_another(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_MCSC_CACHE", str(tmp_path))
    monkeypatch.delenv(TORCH_THREADS_ENV, raising=False)
    cfg = profile("fast", iterations=200)
    remember_speed(cfg, "cpu", 0.15)  # the thread count tuned while training
    monkeypatch.setenv(TORCH_THREADS_ENV, "1")
    assert expected_seconds_per_iteration(cfg, "cpu") is None  # one thread: not measured yet
    remember_speed(cfg, "cpu", 0.27)
    assert expected_seconds_per_iteration(cfg, "cpu") == 0.27
    monkeypatch.delenv(TORCH_THREADS_ENV)
    assert expected_seconds_per_iteration(cfg, "cpu") == 0.15
