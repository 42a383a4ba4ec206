"""Seconds per training step in float32 and in the device's mixed precision, interleaved.

A CPU with bfloat16 instructions (AVX512-BF16 or AMX) trains under bfloat16 autocast by
default (devices.mixed_precision_dtype); this measures what that buys. The two settings
alternate round by round in one process, so a busy machine slows both alike and the ratio
holds where the absolute seconds do not.

    python benchmarks/precision_speed.py --rounds 3 --steps 8 \
        --out benchmarks/results/speed/precision_cpu.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from napari_mcsc.devices import mixed_precision_dtype, pick_device, precision_name
from napari_mcsc.evaluation.speed import measure_train_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["sup", "mcsc"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8, help="timed steps a round (after 2 untimed)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    mixed = mixed_precision_dtype(device)
    if mixed is None:
        raise SystemExit(f"{device} has no native reduced precision here: nothing to compare")
    seconds: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.rounds):
        for method in args.methods:
            for amp in (False, True):
                row = measure_train_step(method, "fast", steps=args.steps, device=str(device), amp=amp)
                seconds.setdefault((method, amp), []).append(row["seconds_per_iteration"])
    rows = []
    for method in args.methods:
        full, reduced = (float(np.median(seconds[(method, amp)])) for amp in (False, True))
        rows.append(
            {
                "method": method,
                "float32_seconds": full,
                f"{precision_name(mixed)}_seconds": reduced,
                "speed_up": full / reduced,
                "rounds": {str(amp): seconds[(method, amp)] for amp in (False, True)},
            }
        )
        print(f"{method}: float32 {full:.3f} s, {mixed} {reduced:.3f} s a step: x{full / reduced:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"device": str(device), "threads": args.threads, "steps": args.steps, "rows": rows}
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
