"""``napari-mcsc demo``: the whole workflow on the built-in phantom, no data needed.

Makes three phantom volumes, paints 2 slices of the first, trains with the fast profile
and its method (sup: the CNN on the painted slices; with --method mcsc, MCSC with the
other two volumes as unlabelled data), predicts every volume, and scores the prediction
on the slices nobody painted against the phantom's truth. The run is the profile's number
of iterations, however long that takes here; the demo exits with status 1, saying why,
when it ends short of them or below the Dice it is expected to reach.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from napari_mcsc.commands.common import add_device_argument, add_method_argument, run_training

DEMO_SHAPE = (12, 96, 96)
EXPECTED_DICE = 0.9  # mean Dice on the unpainted slices that a complete demo run reaches


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="train and predict on a built-in synthetic phantom (no data, no download)",
        description=__doc__,
    )
    p.add_argument("--out", default="mcsc-demo", metavar="DIR", help="output folder (default: ./mcsc-demo)")
    add_device_argument(p)
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="optional cap on the training time in seconds; a capped run is "
        "incomplete and the demo then exits with status 1 (default: no cap)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the phantom and the training")
    add_method_argument(p)
    p.add_argument(
        "--gui",
        action="store_true",
        help="open napari with the phantom loaded and the plugin's widget docked",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.gui:
        from napari_mcsc.commands.errors import UsageError

        try:
            import qtpy  # noqa: F401  (raises when no Qt binding is installed)
        except Exception as exc:
            raise UsageError(
                'the GUI needs a Qt binding: pip install "napari[pyqt6]", then run it again'
            ) from exc
        from napari_mcsc._qt.launch import open_demo_viewer

        return open_demo_viewer()
    return run_headless(Path(args.out), args.device, args.max_seconds, args.seed, args.method)


def run_headless(
    out: Path, device: str, max_seconds: float | None = None, seed: int = 0, method: str | None = None
) -> int:
    """The headless demo; ``method`` None: the fast profile's."""
    from napari_mcsc.checkpoint import save_model
    from napari_mcsc.commands.common import run_config_or_usage_error
    from napari_mcsc.data.phantom import evenly_spaced_slices, make_phantom_set, paint_slices
    from napari_mcsc.data.slices import AnnotatedVolume
    from napari_mcsc.devices import pick_device
    from napari_mcsc.inference import predict_volume
    from napari_mcsc.io.geometry import Geometry
    from napari_mcsc.io.volumes import write_volume
    from napari_mcsc.jobs import TrainingJob
    from napari_mcsc.metrics import evaluate_volume, nan_to_none
    from napari_mcsc.training.spec import RunChoices

    choices = RunChoices("fast", method=method, max_seconds=max_seconds, seed=seed, device=device)
    config = run_config_or_usage_error(choices)
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    phantoms = make_phantom_set(3, shape=DEMO_SHAPE, seed=seed)
    painted_volume = phantoms[0]
    painted = evenly_spaced_slices(DEMO_SHAPE[0], 2)
    job = TrainingJob(
        config,
        [
            AnnotatedVolume(
                painted_volume.image, paint_slices(painted_volume.labels, painted), name=painted_volume.name
            )
        ],
        [p.image for p in phantoms[1:]],
        predict=False,  # below, with the scores
    )
    announce = (
        f"demo: painted slices {painted} of {painted_volume.name}; training "
        f"{config.method} (fast profile) on {pick_device(device)}"
    )
    model, outcome = run_training(job, announce=lambda *_: announce)
    train_seconds = time.perf_counter() - start
    save_model(model, out / "model.pt")

    rows = []
    for index, phantom in enumerate(phantoms):
        geometry = Geometry.from_zyx(spacing_zyx=phantom.spacing)
        sparse = paint_slices(phantom.labels, painted) if index == 0 else None
        pred = predict_volume(model, phantom.image, uncertainty=True, device=device, painted=sparse)
        write_volume(out / f"prediction_{index}.nii.gz", pred.labels, geometry)
        write_volume(out / f"uncertainty_{index}.nii.gz", pred.uncertainty, geometry)
        write_volume(out / f"image_{index}.nii.gz", phantom.image, geometry)
        keep = [s for s in range(phantom.labels.shape[0]) if index != 0 or s not in painted]
        scores = evaluate_volume(
            pred.labels[keep], phantom.labels[keep], classes=[1, 2, 3], spacing=phantom.spacing
        )
        rows.append(
            {
                "volume": index,
                "painted": painted if index == 0 else [],
                "dice_mean": scores["mean"]["dice"],
                "hd95_mean": scores["mean"]["hd95"],
                "dice_per_class": {k: v["dice"] for k, v in scores["per_class"].items()},
                "most_uncertain_slices": pred.ranking[:3],
            }
        )
    summary = {
        "dice_mean": rows[0]["dice_mean"],
        "dice_mean_note": "mean Dice of classes 1-3 on the unpainted slices of the painted volume",
        "dice_mean_unlabelled_volumes": sum(r["dice_mean"] for r in rows[1:]) / (len(rows) - 1),
        "volumes": rows,
        "expected_dice": EXPECTED_DICE,
        "method": config.method,
        **{k: v for k, v in outcome.to_dict().items() if k in ("planned_iterations", "complete", "ended_by")},
        "iterations": model.trained_iterations,
        "seconds_per_iteration": outcome.seconds_per_iteration,
        "threads": model.history[-1].get("threads"),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - start, 1),
        "device": str(pick_device(device)),
        "config": config.to_dict(),
    }
    (out / "summary.json").write_text(json.dumps(nan_to_none(summary), indent=2))
    print(f"\n{'volume':<8}{'painted':<12}{'Dice RV':>9}{'Dice MYO':>10}{'Dice LV':>9}{'mean':>8}")
    for r in rows:
        d = r["dice_per_class"]
        print(
            f"{r['volume']:<8}{r['painted']!s:<12}{d['1']:>9.3f}{d['2']:>10.3f}"
            f"{d['3']:>9.3f}{r['dice_mean']:>8.3f}"
        )
    print(
        f"\n{model.trained_iterations} iterations in {train_seconds:.0f} s; "
        f"outputs in {out}/ (summary.json, model.pt, prediction_*.nii.gz, uncertainty_*.nii.gz)"
    )
    problem = _shortfall(outcome, rows[0]["dice_mean"])
    if problem:
        print(f"demo failed: {problem}", file=sys.stderr)
        return 1
    return 0


def _shortfall(outcome, dice_mean: float) -> str | None:
    """Why the demo did not show what it should, in words; None when it did."""
    if not outcome.complete:
        return outcome.warning()
    if not dice_mean >= EXPECTED_DICE:
        return (
            f"mean Dice {dice_mean:.3f} on the unpainted slices is below the {EXPECTED_DICE} a "
            "complete run reaches; please report it with summary.json (it holds the settings)"
        )
    return None
