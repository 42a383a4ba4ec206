"""How long a study's round makes the user wait on this machine (issue 16: at most 60 s).

A round is the training of the study's model, then the prediction of the scan in hand.
This times both on copies of a saved study folder (``--study``, left untouched), for each
arm (``LABEL=KEY=VALUE[,KEY=VALUE...]``, as in ``round_paired.py``: changes to the study's
settings or to its rounds' training; ``LABEL=`` alone is the study as saved), arms
interleaved repetition by repetition so that a busy machine slows all alike. After each
round the study's current scan is predicted twice: with its slice-to-slice registrations
not made yet (its first round after its first painting) and with them kept (every later
round). The torch thread count is the environment's: the trainer's own choice, or
``NAPARI_MCSC_TORCH_THREADS``. Rows go to ``--out`` as JSON lines as they come.

    python benchmarks/study_round_time.py --study STUDY/ --reps 2 \\
        --arms default= batch3=batch_size=3,labelled_batch_size=3 \\
        --out benchmarks/results/speed/study_round_time.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch
from round_paired import _arm_settings, _parse_arm

from napari_mcsc import propagation
from napari_mcsc.jobs import run_to_end
from napari_mcsc.study import Study, StudyRound
from napari_mcsc.study.rounds import predict_scans


def time_round(base: Path, label: str, changes: dict, work: Path, iterations: int | None = None) -> dict:
    """One round of a copy of the study in ``base`` with ``changes``, then two predictions
    of its current scan (registrations cleared, then kept); seconds of each."""
    folder = work / label
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(base, folder)
    study = Study.open(folder)
    study.settings = _arm_settings(study.settings, changes)
    painted = study.annotated_scans()  # the scan in hand is a painted one: its painting is carried
    scan = study.current if study.current in painted else painted[-1]
    start = time.perf_counter()
    result = run_to_end(StudyRound(study, iterations=iterations).run())
    row = {
        "arm": label,
        "settings": changes,
        "iterations": result.iterations,
        "train_seconds": round(time.perf_counter() - start, 2),
        "threads": torch.get_num_threads(),
        "painted_slices": study.rounds[-1]["painted_slices"],
        "scan": scan,
    }
    propagation.REGISTRATIONS.clear()  # the first prediction registers the scan's slices anew
    for key in ("predict_seconds_first", "predict_seconds_later"):
        start = time.perf_counter()
        run_to_end(predict_scans(study, [scan]))
        row[key] = round(time.perf_counter() - start, 2)
    shutil.rmtree(folder)
    return row


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    arms = [_parse_arm(text) for text in args.arms]
    machine = {"processor": platform.processor() or platform.machine(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory(prefix="round_time_") as work:
        for rep in range(args.reps):
            for label, changes in arms:
                timed = time_round(args.study, label, changes, Path(work), args.iterations)
                row = {"rep": rep, **timed, **machine}
                print(json.dumps(row), flush=True)
                if args.out:
                    with args.out.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, required=True, help="a study folder with a model")
    parser.add_argument("--arms", nargs="+", default=["default="], metavar="LABEL=KEY=VALUE,...")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=None, help="default: the study's round length")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines, appended")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
