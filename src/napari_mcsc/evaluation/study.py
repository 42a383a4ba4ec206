"""A simulated annotator works through a study: how many painted slices does it cost?

The scans of a split form one study, in the split's order. For each scan the annotator
first looks at the current model's prediction (its Dice when first seen, nothing painted),
then paints one slice at a time (copied from the truth; an empty slice counts as reviewed
background) and runs a round, until the Dice on the scan's unpainted slices reaches
``target`` or ``max_slices`` are painted; then it moves on. It drives the same
``study.Study`` and ``StudyRound`` as the widget and ``napari-mcsc study``.

Arms (``Arm``): the method; carry-over on (one model and one training for the study) or
off (each scan from scratch with K evenly spaced slices, K = 1, 2, ... until the target:
the per-scan workflow); the slice choice, ``uncertain`` (the tool's suggestion), ``even``
(the middle of the largest unpainted gap, a well-spread fixed choice) or ``gap`` (the
middle of the unpainted gap that holds the most uncertainty); and
``interp``: contour interpolation from K evenly spaced slices, no training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from napari_mcsc.data.decathlon import case_image_path, read_case, select_cases
from napari_mcsc.data.phantom import evenly_spaced_slices, paint_slices
from napari_mcsc.evaluation.interactive import keep_classes, mean_dice
from napari_mcsc.evaluation.walk_state import WalkState, prepare_work_folder
from napari_mcsc.jobs import run_to_end
from napari_mcsc.postprocess import consistent_mask
from napari_mcsc.review import slice_to_paint
from napari_mcsc.study import Study, StudyRound, StudySettings, predict_scans
from napari_mcsc.training.methods import METHODS

CHOICES = ("uncertain", "even", "gap")


@dataclass(frozen=True)
class Arm:
    """One way through the study (see the module docstring)."""

    method: str = "sup"
    carry_over: bool = True
    choice: str = "uncertain"
    interpolation: bool = False

    @classmethod
    def parse(cls, text: str) -> Arm:
        """``interp`` or ``METHOD[:on|off[:uncertain|even|gap]]``, e.g. ``sup:on:even``."""
        if text == "interp":
            return cls(method="none", carry_over=False, choice="even", interpolation=True)
        parts = text.split(":")
        method = parts[0]
        carry = parts[1] if len(parts) > 1 else "on"
        choice = parts[2] if len(parts) > 2 else ("uncertain" if carry == "on" else "even")
        if method not in METHODS or carry not in ("on", "off") or choice not in CHOICES:
            raise ValueError(
                f"arm {text!r}: write interp or METHOD[:on|off[:uncertain|even|gap]] "
                "with METHOD sup, ct or mcsc"
            )
        if carry == "off" and choice != "even":
            raise ValueError(f"arm {text!r}: without carry-over each scan starts with evenly spaced slices")
        return cls(method=method, carry_over=carry == "on", choice=choice)

    @property
    def label(self) -> str:
        if self.interpolation:
            return "contour interpolation"
        return f"{self.method}, carry-over {'on' if self.carry_over else 'off'}, {self.choice}"


def run_study_benchmark(
    data_dir: str,
    arms: Sequence[Arm],
    *,
    split: str = "val",
    limit: int | None = None,
    every: int = 1,
    offset: int = 0,
    classes: Sequence[int] | None = None,
    target: float = 0.85,
    max_slices: int = 8,
    settings: StudySettings | None = None,
    work: str | Path | None = None,
    resume: bool = False,
    log=print,
    on_scan=None,
    on_row=None,
) -> dict:
    """Run every arm over the split's scans; ``on_scan(result_so_far)`` after each scan and
    ``on_row(arm_label, row)`` for each scan finished by this call.

    ``work`` keeps the arms' studies and progress (a temporary folder when None); with
    ``resume`` a run killed in ``work`` continues after its last finished round.
    """
    names = select_cases(data_dir, split, every=every, offset=offset, limit=limit)
    settings = settings or StudySettings()
    result = {
        "scenario": "study",
        "data": str(data_dir),
        "split": split,
        "order": names,
        "classes": list(classes) if classes else "all",
        "target": target,
        "max_slices": max_slices,
        "settings": settings.to_dict(),
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "arms": [],
    }
    with contextlib.ExitStack() as stack:
        if work is None:
            work = stack.enter_context(tempfile.TemporaryDirectory())
        kept = ("split", "order", "classes", "target", "max_slices", "settings")
        description = {key: result[key] for key in kept}
        description["arms"] = [asdict(arm) for arm in arms]
        prepare_work_folder(Path(work), description, resume, upgrade=_with_settings_filled)
        for number, arm in enumerate(arms):
            record = {**asdict(arm), "label": arm.label, "scans": []}
            result["arms"].append(record)
            walker = _StudyWalk(
                data_dir, names, arm, classes, target, max_slices, settings, Path(work) / f"arm{number}"
            )
            if walker.state.rows:
                record["resumed_after_scans"] = len(walker.state.rows)
                log(f"[{arm.label}] resuming after {len(walker.state.rows)} finished scan(s)")
            for row, finished_before in walker.scans():
                record["scans"].append(row)
                record["total_painted_slices"] = sum(r["painted_slices"] for r in record["scans"])
                if all("empty_slices" in r for r in record["scans"]):  # not rows of an older resumed run
                    record["total_empty_slices"] = sum(r["empty_slices"] for r in record["scans"])
                if finished_before:
                    continue
                log(
                    f"[{arm.label}] {row['name']}: first seen {_fmt(row['dice_first_seen'])}, "
                    f"{row['painted_slices']} painted, reached {_fmt(row['dice_reached'])} "
                    f"({row['train_seconds']:.0f} s, {row['rounds']} rounds)"
                )
                if on_row is not None:
                    on_row(arm.label, row)
                if on_scan is not None:
                    on_scan(result)
    return result


def _with_settings_filled(description: dict) -> dict:
    """A run's description with the study settings it predates at their defaults (as it
    was when it holds no readable settings: it then differs from any run)."""
    try:
        return {**description, "settings": StudySettings.from_dict(description["settings"]).to_dict()}
    except (KeyError, TypeError, ValueError):
        return description


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


class _StudyWalk:
    """One arm's walk through the scans, yielding (row, finished before this call) per scan.

    Its folder holds the arm's study and ``WalkState``; a walk whose folder has a saved
    state continues it: finished scans are given back as they were, the scan in progress
    goes on from its last finished round (a round that was cut is run again)."""

    def __init__(self, data_dir, names, arm, classes, target, max_slices, settings, folder) -> None:
        self.data_dir, self.names, self.arm = data_dir, names, arm
        self.classes, self.target, self.max_slices = classes, target, max_slices
        self.settings = settings if arm.interpolation else dataclasses.replace(settings, method=arm.method)
        self.folder = Path(folder)
        self.state = WalkState(self.folder)
        self.study = None
        if arm.carry_over:
            study_folder = self.folder / "study"
            if self.state.started:
                self.study = Study.open(study_folder)
                self.study.settings = self.settings  # the run's own (run.json checked they match)
            else:
                shutil.rmtree(study_folder, ignore_errors=True)  # a start cut before any round
                paths = [case_image_path(data_dir, n) for n in names]
                self.study = Study.create(study_folder, paths, self.settings)
                self.state.save_progress({})  # from now on the study folder is this walk's

    def scans(self):
        done = {row["name"]: row for row in self.state.rows}
        for name in self.names:
            if name in done:
                yield done[name], True
                continue
            case = read_case(self.data_dir, name)
            truth = keep_classes(case.labels, self.classes)
            if self.arm.interpolation:
                row = self._interpolate(name, truth)
            elif self.arm.carry_over:
                row = self._carried(name, truth)
            else:
                row = self._from_scratch(name, case, truth)
            self.state.finish(row)
            yield row, False

    # ---------------------------------------------------------------- the arms
    def _carried(self, name, truth) -> dict:
        study = self.study
        study.current = name
        present, every = present_classes(truth), list(range(truth.shape[0]))
        progress = self.state.progress(name) or self._first_look(name, truth, present, every)
        painted, prediction = progress["painted"], None
        if painted or progress["first_seen"] is not None:
            prediction = study.prediction(name)
        pending = self._cut_round(name, progress)
        reached = progress["reached"]
        while True:
            if pending is None:
                if (reached is not None and reached >= self.target) or len(painted) >= self.max_slices:
                    break
                pending = slice_to_paint(
                    self.arm.choice,
                    truth.shape[0],
                    painted,
                    ranking=None if prediction is None else prediction.ranking or [],
                    scores=getattr(prediction, "slice_scores", None),
                )
                if pending is None:
                    break
                if pending in study.scan(name).changed:  # suggested because a structure came or went
                    progress.setdefault("came_or_went", []).append(pending)
                paint_from_truth(study, name, truth, [*painted, pending])
            start = time.perf_counter()
            if len(study.rounds) == progress["study_rounds"]:  # not trained yet on ``pending``
                seconds = run_to_end(StudyRound(study, predict=[name]).run()).seconds
            else:  # the round ended before the walk could note it
                seconds = study.rounds[-1]["seconds"]
                if study.scan(name).predicted_round != len(study.rounds):
                    run_to_end(predict_scans(study, [name]))
            painted.append(pending)
            progress["round_seconds"].append(seconds)
            progress["seconds"] += time.perf_counter() - start
            progress["rounds"] += 1
            prediction = study.prediction(name)
            reached = progress["reached"] = _dice_unpainted(prediction.labels, truth, painted, present)
            progress.setdefault("dice_by_round", []).append(round(reached, 4))
            progress["study_rounds"] = len(study.rounds)
            self.state.save_progress(progress)
            pending = None
        if prediction is not None:  # the annotator moves on: the scan's mask is done
            study.accept(name)
        row = _row(
            name,
            progress["first_seen"],
            painted,
            reached,
            progress["seconds"],
            progress["rounds"],
            progress["round_seconds"],
            truth,
        )
        row["dice_by_round"] = progress.get("dice_by_round", [])  # on the unpainted slices
        row["came_or_went"] = progress.get("came_or_went", [])  # painted slices flagged when chosen
        if progress["first_seen_mask"] is not None:  # what the 3D-consistent mask would have shown
            row["dice_first_seen_consistent"] = round(progress["first_seen_mask"], 4)
        if prediction is not None:  # the mask a user accepts (every round predicts the scan)
            row["dice_mask"] = round(mean_dice(study.mask(name), truth, every, present), 4)
        return row

    def _first_look(self, name, truth, present, every) -> dict:
        """The scan when the annotator opens it: the current model's prediction, scored."""
        study = self.study
        progress = {
            "name": name,
            "first_seen": None,
            "first_seen_mask": None,
            "painted": [],
            "reached": None,
            "seconds": 0.0,
            "rounds": 0,
            "round_seconds": [],
            "study_rounds": len(study.rounds),
        }
        if study.model is not None:
            start = time.perf_counter()
            prediction = run_to_end(predict_scans(study, [name]))[0]
            progress["seconds"] += time.perf_counter() - start
            progress["first_seen"] = mean_dice(prediction.labels, truth, every, present)
            progress["first_seen_mask"] = mean_dice(consistent_mask(prediction.labels), truth, every, present)
            progress["reached"] = progress["first_seen"]
        self.state.save_progress(progress)
        return progress

    def _cut_round(self, name, progress) -> int | None:
        """A slice painted before a kill that the walk had not noted (its round to be
        run, or noted), else None."""
        extra = [s for s in self.study.scan(name).annotated if s not in progress["painted"]]
        return extra[0] if extra else None

    def _from_scratch(self, name, case, truth) -> dict:
        present = present_classes(truth)
        seconds, rounds, round_seconds = 0.0, 0, []
        reached, chosen = None, []
        for k in range(1, self.max_slices + 1):
            chosen = evenly_spaced_slices(truth.shape[0], k)
            folder = self.folder / f"{name}-k{k}"
            shutil.rmtree(folder, ignore_errors=True)  # left by a run that was cut
            study = Study.create(folder, [case_image_path(self.data_dir, name)], self.settings)
            paint_from_truth(study, study.names[0], truth, chosen)
            start = time.perf_counter()
            result = run_to_end(StudyRound(study, predict=study.names).run())
            round_seconds.append(result.seconds)
            seconds += time.perf_counter() - start
            rounds += 1
            reached = _dice_unpainted(study.prediction(study.names[0]).labels, truth, chosen, present)
            if reached >= self.target:
                break
        return _row(name, None, chosen, reached, seconds, rounds, round_seconds, truth)

    def _interpolate(self, name, truth) -> dict:
        from napari_mcsc.evaluation.baselines import interpolate_contours

        present = present_classes(truth)
        reached, chosen = None, []
        for k in range(1, self.max_slices + 1):
            chosen = evenly_spaced_slices(truth.shape[0], k)
            filled = interpolate_contours(paint_slices(truth, chosen))
            reached = _dice_unpainted(filled, truth, chosen, present)
            if reached >= self.target:
                break
        return _row(name, None, chosen, reached, 0.0, 0, [], truth)


def present_classes(truth: np.ndarray) -> list[int]:
    """The label values a volume holds, background left out: the classes its Dice averages."""
    return [int(c) for c in np.unique(truth) if c != 0]


def _dice_unpainted(pred, truth, painted, present) -> float:
    keep = [s for s in range(truth.shape[0]) if s not in set(painted)]
    return mean_dice(pred, truth, keep, present) if keep else 1.0


def paint_from_truth(study: Study, name: str, truth: np.ndarray, painted: list[int]) -> None:
    """Copy the ``painted`` slices from the truth; empty ones are reviewed background."""
    sparse = paint_slices(truth, painted)
    study.set_labels(name, sparse, reviewed=empty_slices(truth, painted))


def empty_slices(truth: np.ndarray, slices: Sequence[int]) -> list[int]:
    """Those of ``slices`` that hold none of the scored structures: the annotator marks them
    reviewed as empty (one click in the widget, where a slice with structures is painted)."""
    return [s for s in slices if not truth[s].any()]


def _row(name, first_seen, painted, reached, seconds, rounds, round_seconds, truth) -> dict:
    return {
        "name": name,
        "dice_first_seen": None if first_seen is None else round(first_seen, 4),
        "painted_slices": len(painted),
        "empty_slices": len(empty_slices(truth, painted)),  # of them, those reviewed as empty
        "slices": list(painted),
        "dice_reached": None if reached is None else round(reached, 4),
        "train_seconds": round(seconds, 1),
        "rounds": rounds,
        "round_seconds": round_seconds,
    }


def plot_painted_slices(arms: Sequence[dict], out: str | Path, title: str) -> Path:
    """Cumulative painted slices against scans, one line per arm (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for arm in arms:
        counts = [row["painted_slices"] for row in arm["scans"]]
        ax.plot(range(1, len(counts) + 1), np.cumsum(counts), marker="o", ms=3, label=arm["label"])
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("scans, in the study's order")
    ax.set_ylabel("painted slices, cumulative")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")  # the lines climb to the right: that corner stays free
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
