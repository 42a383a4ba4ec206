"""A screenshot of the study panel on real scans (docs/images/study_panel.png).

A study over a few scans of an MSD-style folder (e.g. shared/data/acdc's val split) in a
scratch folder: the first scan gets two slices painted from its ground truth (LV alone, as
a user segmenting one structure would), one round is trained, the next scan (predicted
with the round) is opened, and the viewer with the panel is captured there.

Run: python benchmarks/screenshot_study.py --data ../shared/data/acdc [--scans 6]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--scans", type=int, default=6)
    parser.add_argument("--label", type=int, default=3, help="the structure painted (ACDC: 3 = LV)")
    parser.add_argument(
        "--first-round-iterations", type=int, default=200, help="shorter than a study's default (400)"
    )
    args = parser.parse_args()
    from napari_mcsc.data.decathlon import case_image_path, load_split, read_case
    from napari_mcsc.data.phantom import evenly_spaced_slices
    from napari_mcsc.evaluation.display import process_events_until, virtual_display

    names = load_split(args.data, "val")[: args.scans]
    with virtual_display(), tempfile.TemporaryDirectory() as scratch:
        import napari

        from napari_mcsc._qt.study_widget import StudyWidget
        from napari_mcsc.study import Study, StudySettings

        settings = StudySettings(first_round_iterations=args.first_round_iterations)
        Study.create(Path(scratch) / "study", [case_image_path(args.data, n) for n in names], settings)
        viewer = napari.Viewer(show=True)
        viewer.window._qt_window.resize(1550, 950)
        widget = StudyWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Annotate a study (MCSC)")
        widget.open_study(Path(scratch) / "study")

        wait = process_events_until

        truth = np.where(read_case(args.data, names[0]).labels == args.label, args.label, 0)
        painted = np.zeros_like(widget.layers.labels.data)
        chosen = evenly_spaced_slices(truth.shape[0], 2)
        painted[chosen] = truth[chosen]
        widget.layers.labels.data = painted
        widget.train_round()
        wait(lambda: widget.run_panel.worker is None, 1800)
        widget.next_scan()
        wait(lambda: False, 1)
        from napari_mcsc._qt.layers import go_to_slice

        predicted = widget.study.prediction(widget.layers.name).labels
        fullest = int(np.argmax((predicted != 0).sum(axis=(1, 2))))  # where the mask shows
        go_to_slice(viewer, widget.layers.image, 0, fullest)
        viewer.layers.selection.active = widget.layers.labels
        wait(lambda: False, 2)
        OUT.mkdir(parents=True, exist_ok=True)
        viewer.screenshot(str(OUT / "study_panel.png"), canvas_only=False)
        print("written:", OUT / "study_panel.png")
        viewer.close()


if __name__ == "__main__":
    main()
