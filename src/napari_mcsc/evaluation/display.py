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
