"""Seconds per training iteration by torch thread count, alone and next to a busy process.

Each measurement is a fresh process training the fast profile on phantom slices; the
"busy" rows run ``python -c "while True: pass"`` beside it (what a browser tab or a
compile does on a laptop). "adaptive" is the default: napari-mcsc's ThreadTuner picks
the count while training. Run it alone on the machine: other load skews every row.

    python benchmarks/threads.py --method mcsc --steps 40 --out benchmarks/results/threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys, time
import numpy as np
from napari_mcsc.data.phantom import make_phantom_set, paint_slices
from napari_mcsc.data.slices import AnnotatedVolume
from napari_mcsc.jobs import TrainingJob, run_to_end
from napari_mcsc.training.spec import RunChoices, run_config
method, steps = sys.argv[1], int(sys.argv[2])
phantoms = make_phantom_set(3, shape=(12, 96, 96))
config = run_config(RunChoices("fast", method=method, iterations=steps, device="cpu", settings=dict(
    supervised_warmup=0.0, contrastive_warmup=0.0, preview_every_seconds=1e9)))
job = TrainingJob(config, [AnnotatedVolume(phantoms[0].image, paint_slices(phantoms[0].labels, [3, 8]))],
                  [p.image for p in phantoms[1:]], predict=False)
times, last = [], [time.perf_counter()]
def clock(event):
    now = time.perf_counter(); times.append(now - last[0]); last[0] = now
run_to_end(job.run(), clock)
trainer = job.trainer
half = times[len(times) // 2:]
print(json.dumps({"median_all": float(np.median(times[2:])), "median_second_half": float(np.median(half)),
                  "threads_used": trainer.model.history[-1].get("threads"),
                  "probed": trainer.model.history[-1].get("seconds_per_step_by_threads")}))
"""


def measure(method: str, steps: int, threads: str, busy: bool) -> dict:
    env = dict(os.environ)
    env.pop("NAPARI_MCSC_TORCH_THREADS", None)
    if threads != "adaptive":
        env["NAPARI_MCSC_TORCH_THREADS"] = threads
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, method, str(steps)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return {"threads": threads, "busy": busy, **json.loads(out.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", default="mcsc")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument(
        "--threads",
        nargs="+",
        default=None,
        help="counts to pin (default: 1 and every core count up to the cores)",
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    counts = args.threads or [str(n) for n in sorted({1, os.cpu_count() or 1})]
    rows = []
    for busy in (False, True):
        for threads in [*counts, "adaptive"]:
            row = measure(args.method, args.steps, threads, busy)
            rows.append(row)
            print(
                f"{'busy' if busy else 'alone':6s} threads={threads:9s} "
                f"{row['median_second_half']:.3f} s/it (2nd half), {row['median_all']:.3f} s/it (all); "
                f"used {row['threads_used']}",
                flush=True,
            )
    result = {"method": args.method, "steps": args.steps, "cpu_count": os.cpu_count(), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
