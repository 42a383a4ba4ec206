"""UI responsiveness while training: how late does a 10 ms QTimer fire?

napari runs the widget's training in a worker thread; if that thread starves the event
loop (the GIL held by Python-heavy work, every core busy with torch), the viewer
stutters. We start the widget's training on the phantom and record, for ``seconds``,
the lateness of a 10 ms repeating timer: p50, p95 and max.
"""

from __future__ import annotations

import time

import numpy as np

from napari_mcsc.evaluation.display import virtual_display


def run_ui(seconds: float = 30.0, interval_ms: int = 10, log=print) -> dict:
    with virtual_display():
        return _measure(seconds, interval_ms, log)


def _measure(seconds: float, interval_ms: int, log) -> dict:
    import napari
    from qtpy.QtCore import QEventLoop, QTimer
    from qtpy.QtWidgets import QApplication

    from napari_mcsc._qt.launch import open_demo_viewer

    viewer, widget = open_demo_viewer(run=False)
    widget.seconds.setValue(int(seconds) + 30)
    app = QApplication.instance()
    lateness: list[float] = []
    state = {"last": None}

    def tick() -> None:
        now = time.perf_counter()
        if state["last"] is not None:
            lateness.append(max(0.0, (now - state["last"]) * 1000.0 - interval_ms))
        state["last"] = now

    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(tick)
    widget.train()
    # Measure from the first training iteration on (slice preparation excluded).
    deadline = time.perf_counter() + 120
    while (
        widget.job is None or widget.job.model is None or widget.job.model.trained_iterations < 1
    ) and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.005)
    start = time.perf_counter()
    timer.start()
    loop = QEventLoop()  # a real event loop, as in napari.run()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    timer.stop()
    iterations = widget.job.model.trained_iterations if widget.job and widget.job.model else None
    widget.stop()
    while widget.worker is not None and time.perf_counter() - start < seconds + 120:
        app.processEvents()
        time.sleep(0.01)
    viewer.close()
    values = np.asarray(lateness)
    result = {
        "scenario": "ui",
        "seconds": seconds,
        "interval_ms": interval_ms,
        "ticks": int(values.size),
        "expected_ticks": int(seconds * 1000 / interval_ms),
        "lateness_ms": {
            "p50": float(np.percentile(values, 50)),
            "p95": float(np.percentile(values, 95)),
            "max": float(values.max()),
        },
        "training_iterations": iterations,
        "napari": napari.__version__,
    }
    log(result)
    return result
