"""DistributedDataParallel on the CPU: 2 processes with gloo, a few iterations on phantoms."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from napari_mcsc.training import distributed
from tiny import tiny_mcsc_config

pytestmark = pytest.mark.skipif(
    not distributed.available(), reason="torch.distributed with gloo is not available here"
)

WORLD = 2
TIMEOUT_S = 240


def _slice_set():
    from napari_mcsc.data.phantom import make_phantom_set, paint_slices
    from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set

    phantoms = make_phantom_set(3, shape=(8, 64, 64), seed=3)
    p = phantoms[0]
    return build_slice_set(
        [AnnotatedVolume(p.image, paint_slices(p.labels, [2, 5]), name="p0")],
        image_size=64,
        unlabelled=[phantoms[1].image],
    )


def _worker(rank: int, store: str, out: str, resume_from: str | None) -> None:
    """One process: train 3 iterations (checkpoint at 2), report what the test checks."""
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(WORLD),
        NAPARI_MCSC_TORCH_THREADS="1",
    )
    from napari_mcsc.training import Trainer
    from napari_mcsc.training.distributed import DistributedRun
    from napari_mcsc.training.resume import Checkpointing, load_resume

    run = DistributedRun.from_environment()
    run.start("cpu", init_method=f"file://{store}", timeout_s=TIMEOUT_S)
    try:
        config = run.split_batch(tiny_mcsc_config())
        data = run.shard(_slice_set(), config.seed)
        resume = load_resume(resume_from) if resume_from else None
        trainer = Trainer(config, data, distributed=run, resume=resume)
        ckpt = Checkpointing(os.path.join(out, "run.checkpoint.pt"), every=2, writer=run.is_main)
        events = []
        for event in trainer.run():
            events.append(event)
            if not resume_from and ckpt.due(event.iteration):
                ckpt.save(trainer, event.iteration)
        params = torch.cat([p.detach().flatten() for p in trainer.model.networks.parameters()])
        everyone = run.gather(params)
        if run.is_main:
            from napari_mcsc.checkpoint import save_model

            save_model(trainer.model, os.path.join(out, "final.pt"))
        torch.save(
            {
                "iterations": [e.iteration for e in events],
                "first_losses": events[0].losses if events else None,
                "max_param_difference": max(float((everyone[0] - p).abs().max()) for p in everyone),
                "labelled_shard": data.num_labelled,
                "batch": config.batch_size,
                "outcome": trainer.outcome.to_dict(),
                "params": params,
            },
            os.path.join(out, f"rank{rank}.pt"),
        )
    finally:
        run.close()


def _spawn(tmp_path, name: str, resume_from=None) -> list[dict]:
    import torch.multiprocessing as mp

    out = tmp_path / name
    out.mkdir()
    context = mp.start_processes(
        _worker,
        args=(str(out / "store"), str(out), resume_from),
        nprocs=WORLD,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + TIMEOUT_S
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"2-process training did not finish in {TIMEOUT_S} s")
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)], out


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    return _spawn(tmp_path_factory.mktemp("ddp"), "first")


def test_both_processes_step_together_and_stay_identical(two_processes):
    results, _ = two_processes
    assert [r["iterations"] for r in results] == [[1, 2, 3]] * WORLD
    assert all(r["outcome"]["complete"] for r in results)
    assert results[0]["max_param_difference"] == 0.0
    torch.testing.assert_close(results[0]["params"], results[1]["params"], atol=0, rtol=0)
    # Each process holds its own shard (2 painted slices: one each) and half the batch.
    assert [r["labelled_shard"] for r in results] == [1, 1] and results[0]["batch"] == 2
    # The losses reported are the mean over the processes: the same on both.
    assert results[0]["first_losses"] == results[1]["first_losses"]


def test_the_checkpoint_predicts_in_one_process(two_processes, phantoms):
    from napari_mcsc.checkpoint import load_model
    from napari_mcsc.inference import predict_volume

    results, out = two_processes
    payload = torch.load(out / "final.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in payload["state_dict"])
    model = load_model(out / "final.pt")
    assert model.trained_iterations == 3
    assert model.history[-1]["processes"] == WORLD and model.history[-1]["global_batch"] == 4
    assert model.history[-1]["labelled_slices"] == 2  # all processes together
    torch.testing.assert_close(
        torch.cat([p.flatten() for p in model.networks.parameters()]), results[0]["params"]
    )
    prediction = predict_volume(model, phantoms[1].image)
    assert prediction.labels.shape == phantoms[1].image.shape
    assert set(np.unique(prediction.labels)) <= set(model.mapping.values)
    assert load_model(out / "run.checkpoint.pt").trained_iterations == 2


def test_a_resumed_distributed_run_ends_like_the_uninterrupted_one(two_processes, tmp_path):
    results, out = two_processes
    resumed, _ = _spawn(tmp_path, "resumed", resume_from=str(out / "run.checkpoint.pt"))
    assert [r["iterations"] for r in resumed] == [[3]] * WORLD
    assert resumed[0]["outcome"]["iterations"] == 3
    torch.testing.assert_close(resumed[0]["params"], results[0]["params"], atol=1e-5, rtol=1e-4)


def test_first_loss_matches_one_process_at_the_same_global_batch(two_processes, monkeypatch):
    from napari_mcsc.training import Trainer

    monkeypatch.setenv("NAPARI_MCSC_TORCH_THREADS", "1")
    results, _ = two_processes
    single = next(iter(Trainer(tiny_mcsc_config(), _slice_set()).run()))
    # Same initial weights (rank 0's seed), same global batch; different slices and
    # augmentations per process, so the value agrees only within noise.
    assert results[0]["first_losses"]["sup_cnn"] == pytest.approx(single.losses["sup_cnn"], rel=0.25)
    assert results[0]["first_losses"]["total"] == pytest.approx(single.losses["total"], rel=0.25)


def test_shards_are_disjoint_and_cover_everything():
    shards = [distributed.shard_indices(7, r, 3, seed=5) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(7))
    assert {len(s) for s in shards} <= {2, 3}
    assert distributed.shard_indices(1, 1, 2, seed=5) == [0]  # too few: shared


def test_batch_split_over_processes():
    run = distributed.DistributedRun(rank=0, world_size=2)
    config = run.split_batch(tiny_mcsc_config())
    assert (config.batch_size, config.labelled_batch_size) == (2, 1)
    with pytest.raises(ValueError, match=r"cannot be split evenly over 4 processes.*--per-process-batch"):
        distributed.DistributedRun(rank=0, world_size=4).split_batch(
            tiny_mcsc_config(batch_size=6, labelled_batch_size=4)
        )
    whole = distributed.DistributedRun(rank=0, world_size=4).split_batch(tiny_mcsc_config(), per_process=True)
    assert whole.batch_size == 4


def test_not_started_by_torchrun():
    assert distributed.DistributedRun.from_environment({}) is None
    assert distributed.DistributedRun.from_environment({"WORLD_SIZE": "1", "RANK": "0"}) is None
    run = distributed.DistributedRun.from_environment(
        {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    )
    assert (run.rank, run.world_size, run.local_rank, run.is_main) == (3, 4, 1, False)


@pytest.mark.slow
def test_torchrun_train_writes_one_model_from_rank_0(tmp_path, phantoms):
    from napari_mcsc.checkpoint import load_model
    from napari_mcsc.data.phantom import paint_slices
    from napari_mcsc.io import write_volume

    image = write_volume(tmp_path / "img.nii.gz", phantoms[0].image)
    labels = write_volume(tmp_path / "lab.nii.gz", paint_slices(phantoms[0].labels, [2, 5]))
    out = tmp_path / "model.pt"
    env = {**os.environ, "NAPARI_MCSC_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(WORLD),
            "--standalone",
            "-m",
            "napari_mcsc",
            "train",
            "--image",
            str(image),
            "--labels",
            str(labels),
            "--unlabelled",
            str(image),
            "--out",
            str(out),
            "--iterations",
            "2",
            "--device",
            "cpu",
            "--quiet",
            "--checkpoint-every",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("model written to") == 1
    assert "in 2 processes (gloo" in done.stderr
    model = load_model(out)
    assert model.trained_iterations == 2 and model.history[-1]["processes"] == WORLD
    assert not (tmp_path / "model.checkpoint.pt").exists()  # complete: no checkpoint left
