"""What one training step of the fast profile's CNN costs on this CPU, and in which form.

The trainer's choices for the CPU rest on three measurements that differ between CPUs:
the memory layout of the CNN (channels-last or not), the precision (bfloat16 autocast
only where the CPU computes it natively: ``devices.mixed_precision_dtype``) and the
optimiser's update. This times each, interleaved round by round in one process so that a
busy machine slows all alike, on random slices of the profile's batch and size:

- a forward and backward pass of the CNN: float32 contiguous, float32 channels-last,
  bfloat16 autocast channels-last (forced, even where the CPU only emulates bfloat16);
- one AdamW update of the CNN's weights: per tensor, ``foreach`` and ``fused``.

    python benchmarks/cpu_step_parts.py --rounds 3 --out benchmarks/results/speed/cpu_step_parts.json
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from napari_mcsc.training.spec import RunChoices, run_config

PASSES = ("float32", "float32_channels_last", "bfloat16_channels_last")
UPDATES = ("per_tensor", "foreach", "fused")


def _timed(fn, repeats: int) -> float:
    fn()  # untimed: first-call allocations
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes a round and form")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = run_config(RunChoices("fast", method="sup"))
    size, batch = config.image_size, config.batch_size
    cnn = config.network.build(4, size).cnn.train()
    nets = {"float32": cnn, "float32_channels_last": copy.deepcopy(cnn).to(memory_format=torch.channels_last)}
    nets["bfloat16_channels_last"] = nets["float32_channels_last"]
    x = torch.randn(batch, 1, size, size)
    y = torch.randint(0, 4, (batch, size, size))

    def step(form: str) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=form.startswith("bfloat16")):
            logits = nets[form](x).logits
        F.cross_entropy(logits.float(), y).backward()

    params = list(cnn.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    kinds = {"per_tensor": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    optimisers = {name: torch.optim.AdamW(params, lr=1e-3, **kw) for name, kw in kinds.items()}

    seconds: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for form in PASSES:
            seconds.setdefault(form, []).append(_timed(lambda form=form: step(form), args.repeats))
        for name in UPDATES:
            seconds.setdefault(name, []).append(_timed(optimisers[name].step, 10 * args.repeats))
    median = {k: float(np.median(v)) for k, v in seconds.items()}
    for name in PASSES + UPDATES:
        print(f"{name}: {median[name] * 1000:.1f} ms")
    result = {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "threads": args.threads,
        "batch": batch,
        "image_size": size,
        "cnn_parameters": sum(p.numel() for p in params),
        "median_seconds": median,
        "rounds": seconds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
