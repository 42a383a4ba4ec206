"""Training on several processes with torchrun: PyTorch's DistributedDataParallel.

``torchrun --nproc_per_node N -m napari_mcsc train ...`` starts N copies of the command;
``DistributedRun.from_environment()`` recognises them by torchrun's ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` and joins them in one process group (NCCL on CUDA
GPUs, one GPU per process; gloo on the CPU). The trainer then needs four hooks:

- ``wrap``: the forward pass (both networks, all losses) runs inside a
  ``DistributedDataParallel`` module, so gradients are averaged over the processes during
  the backward pass. ``find_unused_parameters`` is on because a step may leave some
  parameters out (the Swin-UNet in ``sup``, the projection heads in ``ct``, a contrastive
  scale with no foreground set). The networks themselves are not wrapped: the model
  saved is the plain one (no ``module.`` prefixes), loadable by one process.
- ``agree``: before each iteration the processes agree whether to go on. Rank 0 alone
  applies the time cap (its clock decides); a Stop (Ctrl-C, SIGTERM) on any process ends
  the run for all; the iteration count is the same everywhere. So every process runs the
  same number of steps and none waits forever in a collective.
- ``average``: the losses reported (progress bar, history) are the mean over processes.
- ``gather``: a checkpoint holds every process's random state (``training.resume``).

Data: every process builds the slice set, then keeps its own shard of the labelled and
of the unlabelled slices (``shard``: a seeded permutation dealt out like cards, as
``DistributedSampler`` does), and each draws its batches and augmentations from its own
generator (seed + rank). By default the profile's batch is the *global* batch, split over
the processes (``split_batch``): the same method as one process, each iteration faster.

Contrastive loss: per process. Each process contrasts the pixel sets sampled from its
own batch; DDP averages the gradients. Why not gather the sampled embeddings: (1) the
sets are the k-th block of every slice of the batch, capped at ``max_pixels_per_set``
pixels: with the paper profile (block 16, 1024 pixels per set) one process's half batch
(2 slices x 2 networks x 256 pixels) already fills a set, so a set's size, hence its
number of negatives and its loss scale, is the same as in one process; only the slices
a set mixes come from 2 instead of 4 slices. (2) Each process samples up to ``max_sets``
sets, so N processes contrast N times as many sets per iteration: more pairs, not fewer.
(3) Gathering needs a differentiable all_gather of the embeddings every iteration (and
bigger similarity matrices), extra communication and memory for no pair the paper's
loss would have had. Batch norm statistics are likewise per process (DDP's default;
running statistics follow rank 0).

Only rank 0 prints, shows progress and writes files; the others run quietly.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from napari_mcsc._torch_env import TORCH_THREADS_ENV
from napari_mcsc.data.slices import SliceSet
from napari_mcsc.devices import DeviceError, pick_device
from napari_mcsc.training.config import TrainConfig

VERDICTS = (None, "stop", "time cap")


def available() -> bool:
    """Whether this torch can run a CPU process group (gloo)."""
    return dist.is_available() and dist.is_gloo_available()


class _ForwardPass(nn.Module):
    """The module DDP wraps: its forward runs the trainer's loss computation."""

    def __init__(self, networks: nn.Module) -> None:
        super().__init__()
        self.networks = networks

    def forward(self, compute):
        return compute()


def shard_indices(n: int, rank: int, world_size: int, seed: int) -> list[int]:
    """The indices of ``range(n)`` that process ``rank`` trains on.

    A seeded permutation dealt out round-robin: disjoint shards that differ by at most one
    item. With fewer items than processes (one painted slice, two processes) every process
    gets them all: better to share than to leave a process with nothing to learn from.
    """
    if n < world_size:
        return list(range(n))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[rank::world_size])


@dataclass
class DistributedRun:
    """One process of a torchrun job (``from_environment``), before and after ``start``."""

    rank: int
    world_size: int
    local_rank: int = 0
    local_world_size: int = 1
    backend: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    notes: dict = field(default_factory=dict)

    @classmethod
    def from_environment(cls, environ: os._Environ | dict | None = None) -> DistributedRun | None:
        """The torchrun process this is, or None when not started by torchrun (or with 1)."""
        env = os.environ if environ is None else environ
        try:
            world = int(env.get("WORLD_SIZE", "1"))
            rank = int(env.get("RANK", "0"))
            local_rank = int(env.get("LOCAL_RANK", str(rank)))
            local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
        except ValueError as exc:
            raise ValueError(f"torchrun's RANK/WORLD_SIZE/LOCAL_RANK are not numbers ({exc})") from exc
        if world <= 1:
            return None
        return cls(rank, world, local_rank, local_world)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------ setup
    def start(
        self, requested_device: str | None, *, init_method: str | None = None, timeout_s: float = 1800.0
    ) -> torch.device:
        """Join the process group; return this process's device (its own GPU on CUDA)."""
        device = pick_device(requested_device)
        if device.type == "cuda":
            if self.local_rank >= torch.cuda.device_count():
                raise DeviceError(
                    f"process {self.local_rank} of this node has no GPU of its own "
                    f"({torch.cuda.device_count()} here); start at most that many processes per node"
                )
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
            self.backend = "nccl"
        elif device.type == "cpu":
            self.backend = "gloo"
            if not available():
                raise DeviceError(
                    "this PyTorch has no gloo backend: distributed CPU training "
                    "is not possible here; run one process"
                )
            # Share the cores between the processes of this node (no thread probing).
            cores = os.cpu_count() or 1
            os.environ.setdefault(TORCH_THREADS_ENV, str(max(1, cores // self.local_world_size)))
        else:
            raise DeviceError(
                f"distributed training runs on CUDA GPUs or the CPU, not {device.type}; "
                "pass --device cuda or --device cpu"
            )
        self.device = device
        if not dist.is_initialized():
            dist.init_process_group(
                self.backend,
                init_method=init_method,
                rank=self.rank,
                world_size=self.world_size,
                timeout=timedelta(seconds=timeout_s),
            )
        if not self.is_main:
            warnings.filterwarnings("ignore")  # rank 0 says it once
        return device

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def split_batch(self, config: TrainConfig, *, per_process: bool = False) -> TrainConfig:
        """Each process's batch: its share of the profile's (global) batch, or with
        ``per_process`` the whole profile batch (global batch x processes)."""
        n = self.world_size
        labelled, unlabelled = config.labelled_batch_size, config.batch_size - config.labelled_batch_size
        global_batch = config.batch_size * (n if per_process else 1)
        self.notes.update(processes=n, global_batch=global_batch)
        if per_process:
            return config
        if labelled % n or unlabelled % n:
            works = [k for k in range(2, config.batch_size + 1) if labelled % k == 0 and unlabelled % k == 0]
            raise ValueError(
                f"the {config.profile} profile's batch of {config.batch_size} slices ({labelled} "
                f"labelled, {unlabelled} unlabelled) cannot be split evenly over {n} processes; "
                + (f"use --nproc_per_node {' or '.join(map(str, works))}, or " if works else "")
                + "pass --per-process-batch to give each process the whole batch "
                f"(a global batch of {config.batch_size * n})"
            )
        return config.replace(batch_size=config.batch_size // n, labelled_batch_size=labelled // n)

    def shard(self, data: SliceSet, seed: int) -> SliceSet:
        """This process's part of ``data``: its labelled and its unlabelled slices."""
        lab = shard_indices(data.num_labelled, self.rank, self.world_size, seed)
        unlab = shard_indices(data.num_unlabelled, self.rank, self.world_size, seed + 1)
        self.notes.update(labelled_slices=data.num_labelled, unlabelled_slices=data.num_unlabelled)
        return dataclasses.replace(
            data,
            labelled_images=data.labelled_images[lab].clone(),
            labelled_targets=data.labelled_targets[lab].clone(),
            unlabelled_images=data.unlabelled_images[unlab].clone(),
            unlabelled_distance=None if data.unlabelled_distance is None else data.unlabelled_distance[unlab],
            unlabelled_truth=None if data.unlabelled_truth is None else data.unlabelled_truth[unlab],
            labelled_sources=[data.labelled_sources[i] for i in lab] if data.labelled_sources else [],
        )

    # ------------------------------------------------------------------ trainer hooks
    def wrap(self, networks: nn.Module) -> DistributedDataParallel:
        """The forward-pass runner whose backward averages gradients over processes.

        Building it broadcasts rank 0's weights and buffers, so every process starts equal.
        """
        return DistributedDataParallel(_ForwardPass(networks), device_ids=None, find_unused_parameters=True)

    def _comm_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def agree(self, verdict: str | None) -> str | None:
        """Whether the run ends before this iteration, the same answer on every process.

        Rank 0's clock alone applies the time cap; a stop requested on any process counts.
        """
        if verdict == "time cap" and not self.is_main:
            verdict = None
        code = torch.tensor([VERDICTS.index(verdict)], device=self._comm_device())
        dist.all_reduce(code, op=dist.ReduceOp.MAX)
        return VERDICTS[int(code.item())]

    def average(self, report: dict[str, float]) -> dict[str, float]:
        """The mean of each reported number over the processes."""
        keys = sorted(report)
        values = torch.tensor([report[k] for k in keys], dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(values)
        values /= self.world_size
        return {k: float(v) for k, v in zip(keys, values.tolist(), strict=True)}

    def gather(self, obj) -> list:
        """``obj`` of every process, in rank order (on every process)."""
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        dist.barrier()
