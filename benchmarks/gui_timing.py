"""Seconds from clicking Train to the first preview and to the final layers, in napari.

An ACDC validation volume is opened with the plugin's reader, 2 evenly spaced slices of
its ground truth are painted into a Labels layer, and the widget's Train button is clicked
with the default (Fast) profile.

Run: python benchmarks/gui_timing.py --data ../shared/data/acdc [--case patient028_frame01]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--case", default=None)
    parser.add_argument("--out", default="benchmarks/results/gui_timing.json")
    args = parser.parse_args()
    from napari_mcsc.evaluation.display import virtual_display

    with virtual_display():
        import napari
        import numpy as np
        from qtpy.QtWidgets import QApplication

        from napari_mcsc._qt.widget import MCSCWidget
        from napari_mcsc._reader import read_layers
        from napari_mcsc.data.decathlon import load_split
        from napari_mcsc.data.phantom import evenly_spaced_slices, paint_slices
        from napari_mcsc.metrics import dice

        case = args.case or load_split(args.data, "val")[0]
        root = Path(args.data)
        viewer = napari.Viewer()
        ((image, kwargs, _),) = read_layers(str(root / "imagesTr" / f"{case}.nii.gz"))
        ((truth, _, _),) = read_layers(str(root / "labelsTr" / f"{case}.nii.gz"))
        viewer.add_image(image, **kwargs)
        painted = evenly_spaced_slices(image.shape[0], 2)
        viewer.add_labels(
            paint_slices(np.asarray(truth), painted), name=f"{case} annotations", scale=kwargs["scale"]
        )
        widget = MCSCWidget(viewer)
        viewer.window.add_dock_widget(widget)
        viewer.dims.set_current_step(0, image.shape[0] // 2)
        app = QApplication.instance()
        marks: dict[str, float] = {}
        widget.train_button.click()
        start = time.perf_counter()
        widget.worker.yielded.connect(
            lambda e: (
                marks.setdefault("first_preview", time.perf_counter() - start)
                if getattr(e, "preview", None) is not None
                else None
            )
        )
        while widget.worker is not None and time.perf_counter() - start < 600:
            app.processEvents()
            time.sleep(0.005)
        marks["final_layers"] = time.perf_counter() - start
        pred = np.asarray(viewer.layers[f"{case} prediction"].data)
        keep = [s for s in range(image.shape[0]) if s not in painted]
        truth = np.asarray(truth)
        scores = [dice(pred[keep] == c, truth[keep] == c) for c in (1, 2, 3)]
        result = {
            "case": case,
            "painted": painted,
            "profile": "fast (default)",
            "seconds_to_first_preview": marks.get("first_preview"),
            "seconds_to_final_layers": marks["final_layers"],
            "iterations": widget.model.trained_iterations,
            "dice_unpainted": float(np.mean(scores)),
        }
        print(json.dumps(result))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
        viewer.close()


if __name__ == "__main__":
    main()
