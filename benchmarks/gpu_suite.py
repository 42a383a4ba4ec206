"""One prepared run for a lent GPU machine: speed, the interactive scenario at scale, the protocol.

A lent GPU is short (minutes, one try): this script does everything in one call and
writes each result the moment it exists, so whatever the deadline cuts still comes back.

1. Speed: s/iteration of sup / ct / mcsc at both profiles, mixed precision on and off
   (phantom slices, nothing else running).
2. A pool of worker processes sharing the GPU runs interactive-scenario jobs (one volume,
   one method, one K, one seed each) in priority order: val K=2 sup vs mcsc; MCSC
   variants on train-split volumes (the tuning set); val K=3; the variant that won on
   train (if not the default) on val; second seed; ct; the correction loop with MCSC;
   other run lengths (150 / 600 / 1200 iterations, sup, ct and mcsc: the curves of
   docs/benchmarks.md). Jobs that would not finish before the deadline are not started;
   ``--only`` picks blocks, e.g. what the 2026-11-26 run left out:
   ``--no-speed --only val_k2_ct val_k3_ct loop_mcsc len150 len600 len1200``.
3. Beside the pool, the protocol (K = 7 labelled patients) at the paper profile for as
   many iterations as fit, best validation checkpoint kept.
4. ``--long N``: instead of 3, the protocol at the fast profile for N iterations
   (10 000-40 000) for every arm of ``LONG_ARMS`` (sup, ct, mcsc, filtered mcsc, filtered
   mcsc with agreement) at K = 3
   and 7, one process per arm, the CNN's Dice on all 20 val volumes scored at ten points,
   checkpointed every 500 iterations into ``<out>/long/`` (ignored files, which a lent
   machine keeps between calls): the same command again continues every unfinished arm.

On a machine without SimpleITK, ``--packed`` reads ``--data`` as the cases written by
``benchmarks/pack_cases.py``. Results: ``<out>/results.jsonl`` (one line per job),
``<out>/speed.json``, ``<out>/protocol_k7_paper.json``; summarise them with
``benchmarks/plot_results.py --per-volume`` (docs/benchmarks.md, section 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import sys
import time
import types
from pathlib import Path

from napari_mcsc.training.config import PAPER_TARGETS  # the fast profile filters its targets

# MCSC variants tried on the train-split volumes; the best mean Dice there goes to val.
VARIANTS: dict[str, dict] = {
    "default": dict(PAPER_TARGETS),
    "ct0.1": {**PAPER_TARGETS, "consistency_max": 0.1},
    "ct1.0": {**PAPER_TARGETS, "consistency_max": 1.0},
    "warmup0.2": {**PAPER_TARGETS, "supervised_warmup": 0.2},
    "con0.1": {**PAPER_TARGETS, "contrastive_weight": 0.1},
    "swinlr1e-3": {**PAPER_TARGETS, "swin_lr": 1e-3},
    # as many painted slices a batch as supervised training (6), the unlabelled ones added:
    # after its warm-up MCSC's CNN otherwise sees 4 painted slices an iteration to sup's 6
    "labelled6": {**PAPER_TARGETS, "batch_size": 8, "labelled_batch_size": 6},
    # issue 17: targets from an eval-mode pass without gradient, kept where the teacher's
    # probability is >= 0.95 (UniMatch's value, not tuned here), learnt on a strong view
    "filtered": {"teacher": "no_grad", "pseudo_threshold": 0.95, "strong_view": True},
    # the same, a pixel kept only where both networks agree: the 4 000-iteration CPU run
    # showed the from-scratch Transformer a weak teacher (pseudo-label Dice ~0.3 against
    # the CNN's ~0.7), so the CNN then learns only what the Transformer confirms
    "agreement": {
        "teacher": "no_grad",
        "pseudo_threshold": 0.95,
        "strong_view": True,
        "pseudo_agreement": True,
    },
}

#: The long protocol's arms: (name, method, TrainConfig overrides).
LONG_ARMS = (
    ("sup", "sup", {}),
    ("ct", "ct", PAPER_TARGETS),
    ("mcsc", "mcsc", PAPER_TARGETS),
    ("mcsc_filtered", "mcsc", VARIANTS["filtered"]),
    ("mcsc_agreement", "mcsc", VARIANTS["agreement"]),
)


def use_packed(packed: str | None) -> None:
    """Make the benchmark modules read packed ``.npz`` cases (no SimpleITK needed)."""
    if not packed:
        return
    try:
        import SimpleITK  # noqa: F401
    except ImportError:  # napari_mcsc.io imports it; nothing here calls it
        sys.modules["SimpleITK"] = types.ModuleType("SimpleITK")
    import numpy as np

    from napari_mcsc.data import decathlon
    from napari_mcsc.evaluation import interactive, loop, protocol
    from napari_mcsc.io import Geometry

    def read_packed(data_dir, name):
        with np.load(Path(packed) / f"{name}.npz") as z:
            spacing = tuple(float(s) for s in z["spacing"])
            geometry = dataclasses.replace(Geometry.identity(len(spacing)), spacing=spacing)
            return decathlon.Case(name, z["image"].astype(np.float32), z["labels"].astype(np.int64), geometry)

    for module in (decathlon, interactive, loop, protocol):
        module.read_case = read_packed


def _init_worker(packed: str | None) -> None:
    os.environ.setdefault("NAPARI_MCSC_TORCH_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    use_packed(packed)
    from napari_mcsc.evaluation import interactive, loop

    # Contour interpolation has CPU figures already; here it would only cost time.
    interactive.contour_interpolation_available = loop.contour_interpolation_available = lambda: False


SPEED_CASES = [(p, m, amp) for p in ("fast", "paper") for m in ("sup", "ct", "mcsc") for amp in (True, False)]


def run_speed(device: str, profile_name: str, method: str, amp: bool, steps: int = 20) -> dict:
    """One row of the speed table: s/iteration and peak memory (a fresh process each)."""
    import torch

    from napari_mcsc.evaluation.speed import measure_train_step

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    row = measure_train_step(
        method, profile_name, steps=steps, warmup=5, device=device, amp=amp, supervised_warmup=0.0
    )
    row["device_name"] = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    return row


def run_job(job: dict) -> dict:
    """One interactive-scenario or loop job on one volume."""
    from napari_mcsc.data.decathlon import load_split
    from napari_mcsc.evaluation.interactive import run_interactive
    from napari_mcsc.evaluation.loop import run_loop

    start = time.perf_counter()
    offset = load_split(job["data"], job["split"]).index(job["case"])
    common = dict(
        split=job["split"],
        painted=job["painted"],
        offset=offset,
        every=1,
        limit=1,
        device=job["device"],
        method=job["method"],
        seed=job["seed"],
        iterations=job["iterations"],
        log=lambda *_: None,
        **job["overrides"],
    )
    if job["kind"] == "loop":
        summary = run_loop(
            job["data"], rounds=job["rounds"], retrain_iterations=job["retrain_iterations"], **common
        )
        row = summary["volumes"][0]
        result = {arm: [r["dice_mean"] for r in row[arm]] for arm in ("uncertain", "largest_gap")}
    else:
        summary = run_interactive(job["data"], curve_at=job.get("curve_at", ()), **common)
        row = summary["volumes"][0]
        result = {
            k: row[k]
            for k in (
                "dice",
                "dice_mean",
                "ensemble_dice_mean",
                "curve",
                "iterations",
                "complete",
                "seconds_per_iteration",
                "train_seconds",
                "shape",
            )
            if k in row
        }
        result["painted_slices"] = row["painted"]
    return {
        **{k: v for k, v in job.items() if k not in ("data", "device")},
        **result,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def run_protocol_process(
    data: str, packed: str | None, device: str, iterations: int, max_seconds: float, out: str
) -> None:
    _init_worker(packed)
    from napari_mcsc.evaluation.protocol import run_protocol

    with open(Path(out) / "protocol.log", "w") as log_file:

        def log(line):
            print(line, file=log_file, flush=True)

        result = run_protocol(
            data,
            split="val",
            labelled_patients=7,
            method="mcsc",
            profile_name="paper",
            iterations=iterations,
            max_seconds=max_seconds,
            limit=15,
            select="best",
            validate_every=max(50, iterations // 8),
            device=device,
            log=log,
        )
    (Path(out) / "protocol_k7_paper.json").write_text(json.dumps(result, indent=1, default=str))


def run_long_protocol(
    data: str, packed: str | None, device: str, arm: str, k: int, iterations: int, out: str
) -> None:
    """One arm of the long protocol, resumed from its checkpoint when there is one."""
    _init_worker(packed)
    from napari_mcsc.commands.common import stop_on_signals
    from napari_mcsc.evaluation.protocol import RunInterrupted, run_protocol

    method, overrides = next((m, o) for name, m, o in LONG_ARMS if name == arm)
    folder = Path(out) / "long"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"k{k}_{arm}_{iterations}"
    if stem.with_suffix(".json").is_file():
        return  # finished in an earlier call
    with open(stem.with_suffix(".log"), "a") as log_file:

        def log(line):
            print(line, file=log_file, flush=True)

        try:
            result = run_protocol(
                data,
                split="val",
                labelled_patients=k,
                method=method,
                profile_name="fast",
                iterations=iterations,
                device=device,
                curve_at=[iterations * i // 10 for i in range(1, 11)],
                progress_file=stem.with_suffix(".jsonl"),
                checkpoint_every=500,
                checkpoint_file=stem.with_suffix(".checkpoint.pt"),
                resume=True,
                on_job=stop_on_signals,
                log=log,
                **overrides,
            )
        except RunInterrupted as stopped:
            log(str(stopped))
            return
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    stem.with_suffix(".checkpoint.pt").unlink(missing_ok=True)


def _jobs(data: str, device: str, iterations: int, cases: int | None = None) -> list[tuple[str, dict]]:
    """(block name, job) in priority order; methods interleaved per volume within a block."""
    from napari_mcsc.data.decathlon import load_split

    val = load_split(data, "val")
    try:
        tune = load_split(data, "tune")  # written by pack_cases.py --tune
    except ValueError:
        tune = load_split(data, "train")[::14][:10]
    base = dict(data=data, device=device, iterations=iterations, overrides={}, kind="interactive")

    def block(name, cases_, split, methods, painted, seed, **extra):
        cases_ = cases_[:cases] if cases else cases_
        return [
            (
                name,
                {
                    **base,
                    **extra,
                    "block": name,
                    "case": c,
                    "split": split,
                    "method": m,
                    "painted": painted,
                    "seed": seed,
                    "variant": extra.get("variant", "default"),
                },
            )
            for c in cases_
            for m in methods
        ]

    jobs = block("val_k2_s1", val, "val", ("sup", "mcsc"), 2, 1337)
    for variant, overrides in VARIANTS.items():
        jobs += block("tune", tune, "train", ("mcsc",), 2, 1337, variant=variant, overrides=overrides)
    jobs += block("tune", tune, "train", ("sup",), 2, 1337, variant="sup")
    jobs += block("val_k3_s1", val, "val", ("sup", "mcsc"), 3, 1337)
    jobs += block("val_k2_s2", val, "val", ("sup", "mcsc"), 2, 2)
    jobs += block("val_k3_s2", val, "val", ("sup", "mcsc"), 3, 2)
    jobs += block("val_k2_ct", val, "val", ("ct",), 2, 1337)
    jobs += block("val_k3_ct", val, "val", ("ct",), 3, 1337)
    jobs += block(
        "loop_mcsc",
        val[::4],
        "val",
        ("mcsc",),
        2,
        1337,
        kind="loop",
        rounds=3,
        retrain_iterations=iterations // 2,
    )
    for length in (150, 600, 1200):
        jobs += block(f"len{length}", val[::2], "val", ("sup", "ct", "mcsc"), 2, 1337, iterations=length)
    return jobs


def _guess(job: dict, durations: dict[int, list[float]], default_iterations: int) -> float:
    """Seconds a job will take, from the finished ones (60 s per default run at first)."""
    import statistics

    if job["iterations"] in durations:
        seconds = statistics.median(durations[job["iterations"]])
    else:
        seconds = statistics.median(durations.get(default_iterations, [60.0]))
        seconds *= job["iterations"] / default_iterations
    if job["kind"] == "loop":  # two arms, each a first run and ``rounds`` half-length ones
        seconds *= 2 * (1 + job["rounds"] / 2)
    return seconds


def _best_variant(results: list[dict]) -> str | None:
    """The MCSC variant with the best mean Dice over the tuning volumes (all finished)."""
    import numpy as np

    scores: dict[str, list[float]] = {}
    for r in results:
        if r.get("block") == "tune" and r["method"] == "mcsc":
            scores.setdefault(r["variant"], []).append(r["dice_mean"])
    full = {v: float(np.mean(s)) for v, s in scores.items() if len(s) == max(map(len, scores.values()))}
    return max(full, key=full.get) if full else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="MSD-style folder, or the packed folder")
    parser.add_argument("--packed", action="store_true", help="--data holds packed .npz cases")
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seconds", type=float, default=480.0, help="deadline for the whole run")
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--speed", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--protocol", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--long", type=int, metavar="N", help="the long protocol at N iterations instead (see 4.)"
    )
    parser.add_argument("--speed-steps", type=int, default=20)
    parser.add_argument("--max-jobs", type=int, default=None, help="a smoke test's limit")
    parser.add_argument("--only", nargs="*", help="run only these blocks (a smoke test)")
    parser.add_argument("--cases", type=int, default=None, help="at most this many volumes a block")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    deadline = t0 + args.seconds
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    packed = args.data if args.packed else None
    ctx = mp.get_context("spawn")

    speed_rows: list[dict] = []
    if args.speed:  # one worker process for the whole table, alone on the GPU
        speed_deadline = t0 + min(150.0, args.seconds / 3)
        with ctx.Pool(1, initializer=_init_worker, initargs=(packed,)) as pool:
            for case in SPEED_CASES:
                left = speed_deadline - time.perf_counter()
                try:  # a failed row costs only itself; a slow one ends the table
                    row = pool.apply_async(run_speed, (args.device, *case, args.speed_steps)).get(
                        max(left, 0.1)
                    )
                except mp.TimeoutError:
                    print(f"speed table cut at {case}", flush=True)
                    break
                except Exception as error:
                    print(f"speed {case}: {error!r}", flush=True)
                    continue
                print(json.dumps(row), flush=True)
                speed_rows.append(row)
                (out / "speed.json").write_text(json.dumps(speed_rows, indent=1))
    print(f"speed done at {time.perf_counter() - t0:.0f} s", flush=True)

    protocol = None
    long_runs = []
    if args.long:  # every arm beside the pool; each stops by itself at the deadline
        for k in (3, 7):
            for arm, _, _ in LONG_ARMS:
                process = ctx.Process(
                    target=run_long_protocol,
                    args=(args.data, packed, args.device, arm, k, args.long, str(out)),
                )
                process.start()
                long_runs.append(process)
    elif args.protocol:
        paper = [r for r in speed_rows if r["profile"] == "paper" and r["method"] == "mcsc" and r["amp"]]
        per_it = paper[0]["seconds_per_iteration"] if paper else 0.2
        cap = max(30.0, deadline - time.perf_counter() - 90)
        iterations = max(100, int(cap / (2.5 * per_it)) // 100 * 100)  # the pool slows it down
        print(f"protocol: {iterations} iterations, cap {cap:.0f} s", flush=True)
        protocol = ctx.Process(
            target=run_protocol_process, args=(args.data, packed, args.device, iterations, cap, str(out))
        )
        protocol.start()

    _init_worker(packed)  # the job list reads the splits
    queue = [
        (name, job)
        for name, job in _jobs(args.data, args.device, args.iterations, args.cases)
        if not args.only or name in args.only
    ][: args.max_jobs]
    results: list[dict] = []
    durations: dict[int, list[float]] = {}
    in_flight: list[tuple[dict, object, float]] = []
    added_best = False
    with (
        ctx.Pool(args.workers, initializer=_init_worker, initargs=(packed,)) as pool,
        open(out / "results.jsonl", "a") as sink,
    ):
        while queue or in_flight:
            now = time.perf_counter()
            if now > deadline:
                print(f"deadline: {len(in_flight)} jobs cut, {len(queue)} not started", flush=True)
                break
            while queue and len(in_flight) < args.workers:
                _, job = queue.pop(0)
                if now + 1.2 * _guess(job, durations, args.iterations) > deadline:
                    continue  # would not finish before the deadline: skip it
                in_flight.append((job, pool.apply_async(run_job, (job,)), now))
            for entry in list(in_flight):
                job, handle, started = entry
                if not handle.ready():
                    continue
                in_flight.remove(entry)
                try:
                    row = handle.get()
                except Exception as error:
                    row = {**{k: v for k, v in job.items() if k not in ("data",)}, "error": repr(error)}
                    print(f"job failed: {row['block']} {row['case']} {row['method']}: {error!r}", flush=True)
                else:
                    if job["kind"] == "interactive":
                        durations.setdefault(job["iterations"], []).append(time.perf_counter() - started)
                    print(
                        f"{time.perf_counter() - t0:5.0f}s {row['block']:<10} {row['case']:<18} "
                        f"{row['method']:<4} {row['variant']:<10} K={row['painted']} "
                        f"dice={row.get('dice_mean', float('nan')):.3f}",
                        flush=True,
                    )
                results.append(row)
                sink.write(json.dumps(row) + "\n")
                sink.flush()
            tune_left = any(j["block"] == "tune" for _, j in queue) or any(
                j["block"] == "tune" for j, _, _ in in_flight
            )
            if not added_best and not tune_left and any(r.get("block") == "tune" for r in results):
                added_best = True
                best = _best_variant(results)
                print(f"best variant on the tuning volumes: {best}", flush=True)
                if best and best != "default":
                    val = [
                        j
                        for _, j in _jobs(args.data, args.device, args.iterations, args.cases)
                        if j["block"] in ("val_k2_s1", "val_k3_s1") and j["method"] == "mcsc"
                    ]
                    picked = [
                        (
                            f"best_{j['block']}",
                            {
                                **j,
                                "block": f"best_{j['block']}",
                                "variant": best,
                                "overrides": VARIANTS[best],
                            },
                        )
                        for j in val
                    ]
                    at = next((i for i, (name, _) in enumerate(queue) if name == "val_k2_s2"), 0)
                    queue[at:at] = picked
            time.sleep(0.5)
        pool.terminate()
    for process in long_runs:  # SIGTERM: each writes its checkpoint and stops
        process.join(timeout=max(1.0, deadline - time.perf_counter()))
        if process.is_alive():
            process.terminate()
    for process in long_runs:
        process.join(timeout=60)
    if protocol is not None:
        protocol.join(timeout=max(1.0, deadline + 60 - time.perf_counter()))
        if protocol.is_alive():
            protocol.terminate()
            print("protocol cut by the deadline", flush=True)
    print(f"done: {len(results)} jobs in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
