"""_torch_env.py under Qt: training after a napari canvas exists must not crash (triton vs Mesa's LLVM).

On software OpenGL (Mesa llvmpipe: VMs, GPU-less desktops) the first torch optimizer
step used to import triton, whose LLVM clashes with Mesa's: a segfault. The plugin keeps
torch from importing triton. A crash would kill pytest, so this runs in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("napari")

SCRIPT = """
import numpy as np
import napari
from napari_mcsc._qt.widget import MCSCWidget
viewer = napari.Viewer(show=True)
viewer.add_image(np.random.rand(4, 32, 32).astype("float32"))  # the canvas draws with OpenGL
viewer.window._qt_window.repaint()
import torch
model = torch.nn.Linear(2, 2)
opt = torch.optim.AdamW(model.parameters())
model(torch.ones(1, 2)).sum().backward()
opt.step()
import sys
print("ok", sys.modules.get("triton", "absent"))
viewer.close()
"""


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display (pytest-xvfb)")
def test_optimizer_step_after_a_canvas_does_not_crash():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert proc.stdout.strip().splitlines()[-1] == "ok None"
