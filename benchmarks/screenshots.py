"""Screenshots of the widget while training and after, for the README (docs/images/).

Run: python benchmarks/screenshots.py [--seconds 60]   (starts a virtual X display if needed)
"""

from __future__ import annotations

import argparse
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    from napari_mcsc.evaluation.display import process_events_until, virtual_display

    with virtual_display():
        from napari_mcsc._qt.launch import open_demo_viewer

        viewer, widget = open_demo_viewer(run=False)
        viewer.window._qt_window.resize(1550, 950)
        widget.seconds.setValue(args.seconds)

        wait = process_events_until

        viewer.dims.set_current_step(0, 5)
        widget.train()
        wait(
            lambda: (
                any(layer.name.endswith(" preview") for layer in viewer.layers)
                and widget.job is not None
                and widget.job.model is not None
                and widget.job.model.trained_iterations > 50
            ),
            args.seconds,
        )
        wait(lambda: False, 2)
        OUT.mkdir(parents=True, exist_ok=True)
        viewer.screenshot(str(OUT / "training.png"), canvas_only=False)
        wait(lambda: widget.worker is None, args.seconds + 120)
        widget.next_uncertain_slice()
        viewer.layers.selection.active = viewer.layers["phantom annotations"]
        wait(lambda: False, 1)
        viewer.screenshot(str(OUT / "after_training.png"), canvas_only=False)
        print("written:", *sorted(p.name for p in OUT.glob("*.png")))
        viewer.close()


if __name__ == "__main__":
    main()
