"""Which way of running a study's round reaches the scan's target sooner? A paired test.

Cheaper and less noisy than a whole study walk: a base study is trained once (``--base-scans``
scans of the split, each with ``--base-slices`` evenly spaced slices painted from the truth,
one first round, each base scan then predicted and accepted, as a user would leave it);
then, for each test scan and each arm, a copy of that study gets the test scan's most
uncertain slice painted (the tool's suggestion from the base model) and one round with the
arm's settings. Reported per (scan, arm): the Dice on the test scan's unpainted slices (what
the annotator waits for) and the Dice of the next test scan when first seen (what the arm
may cost, or give, the rest of the study). An arm is ``LABEL=KEY=VALUE[,KEY=VALUE...]``
where KEY is a ``StudySettings`` field (``learn_from_accepted``, ``round_iterations``) or
a ``TrainConfig`` one (``focus_share``); values are read as JSON. Rows go to ``--out`` as
JSON lines as they come; a rerun skips the rows already there and reuses the base study
in ``--work``.

    python benchmarks/round_paired.py --data ../shared/data/acdc --split train \\
        --arms share0=focus_share=0 share0.5=focus_share=0.5 \\
        --out round_paired.jsonl --work round_paired.work
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

from napari_mcsc.commands.common import settings_from_args
from napari_mcsc.commands.errors import UsageError
from napari_mcsc.data.decathlon import case_image_path, read_case, select_cases
from napari_mcsc.data.phantom import evenly_spaced_slices, paint_slices
from napari_mcsc.evaluation.interactive import mean_dice
from napari_mcsc.evaluation.progress_lines import ProgressLines
from napari_mcsc.evaluation.study import paint_from_truth, present_classes
from napari_mcsc.jobs import run_to_end
from napari_mcsc.review import next_uncertain_slice
from napari_mcsc.study import Study, StudyRound, StudySettings


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.plot:
        print(plot_changes(ProgressLines(args.out, fresh=False).read(), Path(args.plot)))
        return 0
    if not (args.data and args.work):
        raise SystemExit("--data and --work are needed to run the rounds (--plot alone draws --out)")
    base_names = select_cases(args.data, args.split, every=args.base_every, limit=args.base_scans)
    tests = select_cases(args.data, args.split, every=args.test_every, offset=args.test_offset)
    base_patients = {_patient(n) for n in base_names}
    tests = [n for n in tests if _patient(n) not in base_patients][: args.test_scans + 1]
    out, work = ProgressLines(args.out, fresh=False), Path(args.work)
    arms = dict(_parse_arm(text) for text in args.arms)
    done = {(r["scan"], r["arm"]) for r in out.read()}
    base = _base_study(args, base_names, tests, work / "base")
    for scan, following in itertools.pairwise(tests):
        truth = read_case(args.data, scan).labels
        slice_ = next_uncertain_slice(base.prediction(scan).ranking, [])
        for label, changes in arms.items():
            if (scan, label) in done:
                continue
            row = _round(args, base, scan, following, truth, slice_, (label, changes), work)
            out.write(row)
            print(json.dumps(row), flush=True)
    return 0


def _base_study(args, names, tests, folder: Path) -> Study:
    """The study every condition starts from (made once, then reopened)."""
    if (folder / "base.done").is_file():
        study = Study.open(folder)
        missing = [n for n in [*names, *tests] if n not in study.names]
        if missing:
            raise SystemExit(
                f"the base study in {folder} lacks {', '.join(missing)}: ask for fewer test scans, "
                "or give another --work (the same base scans and seed train the same base model)"
            )
        return study
    shutil.rmtree(folder, ignore_errors=True)
    settings = StudySettings(
        seed=args.seed,
        round_iterations=args.round_iterations,
        first_round_iterations=args.first_round_iterations,
    )
    study = Study.create(folder, [case_image_path(args.data, n) for n in [*names, *tests]], settings)
    for name in names:
        truth = read_case(args.data, name).labels
        study.set_labels(name, paint_slices(truth, evenly_spaced_slices(truth.shape[0], args.base_slices)))
    start = time.perf_counter()
    run_to_end(StudyRound(study, predict=[*names, *tests]).run())
    for name in names:
        study.accept(name)
    print(f"base study: {len(names)} scans, first round and predictions {time.perf_counter() - start:.0f} s")
    (folder / "base.done").write_text("")
    return study


def _round(args, base, scan, following, truth, slice_, arm, work: Path) -> dict:
    label, changes = arm
    folder = work / f"{scan}-{label}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(base.folder, folder)
    study = Study.open(folder)
    study.settings = _arm_settings(base.settings, changes)
    study.current = scan
    paint_from_truth(study, scan, truth, [slice_])
    start = time.perf_counter()
    result = run_to_end(StudyRound(study, predict=[scan, following]).run())
    present = present_classes(truth)
    unpainted = [s for s in range(truth.shape[0]) if s != slice_]
    next_truth = read_case(args.data, following).labels
    nxt = present_classes(next_truth)
    every = list(range(next_truth.shape[0]))
    row = {
        "scan": scan,
        "arm": label,
        "settings": changes,
        "slice": slice_,
        "dice_unpainted": round(mean_dice(study.prediction(scan).labels, truth, unpainted, present), 4),
        "base_dice_unpainted": round(mean_dice(base.prediction(scan).labels, truth, unpainted, present), 4),
        "next_scan": following,
        "next_first_seen": round(mean_dice(study.prediction(following).labels, next_truth, every, nxt), 4),
        "round_seconds": result.seconds,
        "seconds": round(time.perf_counter() - start, 1),
    }
    shutil.rmtree(folder)
    return row


def _parse_arm(text: str) -> tuple[str, dict]:
    """``LABEL=KEY=VALUE[,KEY=VALUE...]``; values read as ``--set`` reads them."""
    label, _, assignments = text.partition("=")
    try:
        return label, settings_from_args(SimpleNamespace(settings=list(filter(None, assignments.split(",")))))
    except UsageError as error:
        raise SystemExit(f"arm {text!r}: {error}") from error


def _arm_settings(base: StudySettings, changes: dict) -> StudySettings:
    """The base study's settings with an arm's changes (a StudySettings field, else a
    TrainConfig one)."""
    names = {f.name for f in dataclasses.fields(StudySettings)}
    own = {k: v for k, v in changes.items() if k in names}
    training = {**base.training, **{k: v for k, v in changes.items() if k not in names}}
    return dataclasses.replace(base, **own, training=training)


def plot_changes(rows: list[dict], out: Path) -> Path:
    """Each arm's change against the first arm, per test scan: the corrected scan's Dice
    on its unpainted slices (left) and the next scan's when first seen (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_scan: dict[str, dict[str, dict]] = {}
    arms: list[str] = []
    for row in rows:
        by_scan.setdefault(row["scan"], {})[row["arm"]] = row
        arms += [row["arm"]] if row["arm"] not in arms else []
    reference, others = arms[0], arms[1:]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, key, title in zip(
        axes,
        ("dice_unpainted", "next_first_seen"),
        ("scan corrected: Dice on its unpainted slices", "next scan: Dice when first seen"),
        strict=True,
    ):
        for x, arm in enumerate(others):
            pairs = [d for d in by_scan.values() if arm in d and reference in d]
            changes = [d[arm][key] - d[reference][key] for d in pairs]
            ax.scatter([x] * len(changes), changes, alpha=0.7)
            if changes:
                ax.hlines(sum(changes) / len(changes), x - 0.3, x + 0.3, color="black")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(others)), others, rotation=20)
        ax.set_title(title, fontsize=10)
    axes[0].set_ylabel(f"change against {reference} (one round, paired)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def _patient(name: str) -> str:
    return name.split("_frame")[0]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data")
    p.add_argument("--split", default="train")
    p.add_argument("--base-scans", type=int, default=6)
    p.add_argument("--base-every", type=int, default=14)
    p.add_argument("--base-slices", type=int, default=3)
    p.add_argument("--test-scans", type=int, default=8)
    p.add_argument("--test-every", type=int, default=7)
    p.add_argument("--test-offset", type=int, default=3)
    p.add_argument(
        "--arms", nargs="+", default=["share0=focus_share=0", "share0.5=focus_share=0.5"], metavar="ARM"
    )
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--round-iterations", type=int, default=StudySettings.round_iterations)
    p.add_argument("--first-round-iterations", type=int, help="default: the profile's run length")
    p.add_argument("--out", required=True, metavar="FILE.jsonl")
    p.add_argument("--work", metavar="DIR")
    p.add_argument("--plot", metavar="FILE.png", help="only draw the rows of --out (a black bar: the mean)")
    return p


if __name__ == "__main__":
    raise SystemExit(main())
