"""Process-wide torch settings the plugin needs before any training starts.

Triton: torch imports ``triton`` lazily (first optimizer step, ``torch.compile``). On
machines that render napari's canvas with Mesa's software OpenGL (llvmpipe: VMs,
GPU-less desktops), triton's bundled LLVM clashes with the LLVM Mesa already loaded and
the whole process segfaults. napari-mcsc runs torch eagerly and never needs triton, so
we make ``import triton`` fail cleanly (torch then treats triton as absent). Set
``NAPARI_MCSC_ALLOW_TRITON=1`` to opt out, e.g. to use ``torch.compile`` on a GPU in
the same process.
"""

from __future__ import annotations

import os
import sys

ALLOW_TRITON_ENV = "NAPARI_MCSC_ALLOW_TRITON"
TORCH_THREADS_ENV = "NAPARI_MCSC_TORCH_THREADS"  # pins the thread count (training/threads.py)


def keep_torch_from_importing_triton() -> bool:
    """Block a later ``import triton``; return True when the block is in place.

    Does nothing when triton is already imported (too late to matter, and removing it
    would break whoever imported it) or when the user opted out.
    """
    if os.environ.get(ALLOW_TRITON_ENV, "") not in ("", "0"):
        return False
    if sys.modules.get("triton", None) is not None:
        return False
    sys.modules["triton"] = None  # type: ignore[assignment]  # import raises ImportError
    return True
