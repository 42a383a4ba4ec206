"""Checkpoints that resume: a stopped or killed run ends where an uninterrupted one would."""

from __future__ import annotations

import pytest
import torch

from napari_mcsc.checkpoint import CheckpointError, load_model, save_model
from napari_mcsc.cli import main
from napari_mcsc.training import Trainer
from napari_mcsc.training.resume import (
    Checkpointing,
    ResumeError,
    checkpoint_path,
    load_resume,
)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    # Bit-for-bit comparisons need the same thread count in both runs (no thread probing).
    monkeypatch.setenv("NAPARI_MCSC_TORCH_THREADS", "1")


def _weights(model):
    return {k: v.detach().clone() for k, v in model.networks.state_dict().items()}


def _assert_same_weights(a, b, atol=1e-5):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=atol, rtol=1e-4, msg=key)


class Crash(Exception):
    pass


def _run_until(trainer, iteration, checkpoint: Checkpointing | None = None):
    for event in trainer.run():
        if checkpoint is not None and checkpoint.due(event.iteration):
            checkpoint.save(trainer, event.iteration)
        if event.iteration == iteration:
            break
    return trainer


def test_a_resumed_run_ends_like_an_uninterrupted_one(tiny_config, tiny_slice_set, tmp_path):
    config = tiny_config.replace(iterations=4)
    whole = Trainer(config, tiny_slice_set)
    events = list(whole.run())
    # The same run, checkpointed every 2 iterations and abandoned after 3 (the work of
    # iteration 3 is lost, as after a kill): the resumed run redoes it.
    first = Trainer(config, tiny_slice_set)
    ckpt = Checkpointing(tmp_path / "run.checkpoint.pt", every=2)
    _run_until(first, 3, ckpt)
    resume = load_resume(ckpt.path)
    assert resume.iteration == 2
    second = Trainer(config, tiny_slice_set, resume=resume)
    resumed_events = list(second.run())
    assert [e.iteration for e in resumed_events] == [3, 4]
    assert second.outcome.done == whole.outcome.done == 4 and second.outcome.complete
    assert second.model.trained_iterations == 4
    assert resumed_events[-1].losses["total"] == pytest.approx(events[-1].losses["total"], rel=1e-4)
    _assert_same_weights(_weights(second.model), _weights(whole.model))
    assert second.model.history[-1]["resumed_at"] == 2 and len(second.model.history) == 1


def test_a_checkpoint_is_a_model_file(tiny_config, tiny_slice_set, tmp_path):
    trainer = Trainer(tiny_config.replace(iterations=2), tiny_slice_set)
    ckpt = Checkpointing(tmp_path / "c.pt", every=1)
    _run_until(trainer, 2, ckpt)
    model = load_model(ckpt.path)
    assert model.trained_iterations == 2 and model.history == []
    assert not any(k.startswith("module.") for k in model.networks.state_dict())
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # nothing left half-written


def test_resuming_with_other_settings_is_refused(tiny_config, tiny_slice_set, tmp_path):
    trainer = Trainer(tiny_config.replace(iterations=2), tiny_slice_set)
    ckpt = Checkpointing(tmp_path / "c.pt", every=1)
    _run_until(trainer, 1, ckpt)
    with pytest.raises(ResumeError, match="iterations 2 then, 5 now"):
        Trainer(tiny_config.replace(iterations=5), tiny_slice_set, resume=load_resume(ckpt.path))


def test_a_plain_model_is_not_a_checkpoint(tiny_config, tiny_slice_set, tmp_path):
    trainer = Trainer(tiny_config.replace(iterations=1), tiny_slice_set)
    list(trainer.run())
    path = save_model(trainer.model, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"no training state.*--init"):
        load_resume(path)


def test_checkpoint_path_sits_next_to_the_model(tmp_path):
    assert checkpoint_path(tmp_path / "model.pt") == tmp_path / "model.checkpoint.pt"
    assert checkpoint_path(tmp_path / "model") == tmp_path / "model.checkpoint.pt"


def test_cli_killed_run_resumes_to_the_same_model(tmp_path, phantoms, monkeypatch, capsys):
    """``train --checkpoint-every 1``, killed after iteration 2 of 3, then ``--resume``."""
    from napari_mcsc.data.phantom import paint_slices
    from napari_mcsc.io import write_volume
    from napari_mcsc.training import resume as resume_module

    image = write_volume(tmp_path / "img.nii.gz", phantoms[0].image)
    labels = write_volume(tmp_path / "lab.nii.gz", paint_slices(phantoms[0].labels, [2, 5]))
    common = [
        "train",
        "--image",
        str(image),
        "--labels",
        str(labels),
        "--iterations",
        "3",
        "--device",
        "cpu",
        "--quiet",
        "--seed",
        "3",
    ]
    assert main([*common, "--out", str(tmp_path / "whole.pt")]) == 0

    out = tmp_path / "model.pt"
    save = resume_module.Checkpointing.save

    def save_then_die(self, trainer, iteration):
        save(self, trainer, iteration)
        if iteration == 2:
            raise Crash("killed")

    monkeypatch.setattr(resume_module.Checkpointing, "save", save_then_die)
    with pytest.raises(Crash):
        main([*common, "--out", str(out), "--checkpoint-every", "1"])
    monkeypatch.setattr(resume_module.Checkpointing, "save", save)
    assert not out.exists() and checkpoint_path(out).is_file()
    capsys.readouterr()
    assert main([*common, "--out", str(out), "--checkpoint-every", "1", "--resume"]) == 0
    assert "resuming" in capsys.readouterr().err
    resumed, whole = load_model(out), load_model(tmp_path / "whole.pt")
    assert resumed.trained_iterations == whole.trained_iterations == 3
    _assert_same_weights(_weights(resumed), _weights(whole))
    assert not checkpoint_path(out).exists()  # a complete run needs its checkpoint no more


def test_cli_resume_refuses_other_settings(tmp_path, phantoms, monkeypatch, capsys):
    from napari_mcsc.data.phantom import paint_slices
    from napari_mcsc.io import write_volume
    from napari_mcsc.training import resume as resume_module

    image = write_volume(tmp_path / "img.nii.gz", phantoms[0].image)
    labels = write_volume(tmp_path / "lab.nii.gz", paint_slices(phantoms[0].labels, [2, 5]))
    common = [
        "train",
        "--image",
        str(image),
        "--labels",
        str(labels),
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(tmp_path / "m.pt"),
    ]
    save = resume_module.Checkpointing.save

    def save_then_die(self, trainer, iteration):
        save(self, trainer, iteration)
        raise Crash("killed")

    monkeypatch.setattr(resume_module.Checkpointing, "save", save_then_die)
    with pytest.raises(Crash):
        main([*common, "--iterations", "2", "--checkpoint-every", "1"])
    monkeypatch.setattr(resume_module.Checkpointing, "save", save)
    capsys.readouterr()
    assert main([*common, "--iterations", "3", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other settings" in err and "iterations 2 then, 3 now" in err
