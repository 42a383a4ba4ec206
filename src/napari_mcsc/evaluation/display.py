"""A virtual X display for GUI benchmarks and screenshots on machines without a screen."""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def virtual_display(size: tuple[int, int] = (1600, 1000)):
    """Start Xvfb (through PyVirtualDisplay) when ``DISPLAY`` is unset; stop it after."""
    if os.environ.get("DISPLAY"):
        yield None
        return
    from pyvirtualdisplay import Display

    display = Display(visible=False, size=size)
    display.start()
    try:
        yield display
    finally:
        display.stop()


def process_events_until(condition, timeout: float) -> bool:
    """Let Qt run (a script's own event loop) until ``condition()`` or ``timeout`` seconds;
    whether the condition was met."""
    import time

    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    end = time.time() + timeout
    while not condition() and time.time() < end:
        app.processEvents()
        time.sleep(0.02)
    return bool(condition())
