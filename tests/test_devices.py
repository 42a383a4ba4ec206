"""Device policy and the process-wide torch settings."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from napari_mcsc import devices
from napari_mcsc.devices import DeviceError, available_devices, mixed_precision_dtype, pick_device


def test_cpu_is_always_available_and_last():
    assert available_devices()[-1] == "cpu"


def test_auto_picks_the_first_available():
    assert pick_device("auto").type == available_devices()[0].split(":")[0]
    assert pick_device(None) == pick_device("auto")


def test_explicit_cpu():
    assert pick_device("CPU") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(DeviceError, match=r"not available here.*use one of: auto"):
        pick_device("cuda")


def test_unknown_device_is_a_clear_error():
    with pytest.raises(DeviceError, match="unknown device 'gpu0'"):
        pick_device("gpu0")


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"),
    [(True, False, torch.bfloat16), (False, True, torch.bfloat16), (False, False, None)],
)
def test_a_cpu_mixes_precision_only_where_it_computes_bfloat16_natively(
    monkeypatch, avx512_bf16, amx, expected
):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert mixed_precision_dtype(torch.device("cpu")) is expected


def test_a_cpu_probe_that_fails_or_is_missing_means_full_precision(monkeypatch):
    def broken():
        raise RuntimeError("no cpuinfo")

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", broken, raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert mixed_precision_dtype(torch.device("cpu")) is None


def test_apple_mps_trains_in_full_precision():
    assert mixed_precision_dtype(torch.device("mps")) is None


def test_cuda_mixes_precision_in_the_best_type_it_has(monkeypatch):
    for supported, expected in [(True, torch.bfloat16), (False, torch.float16)]:
        monkeypatch.setattr(devices.torch.cuda, "is_bf16_supported", lambda s=supported: s)
        assert mixed_precision_dtype(torch.device("cuda")) is expected


def test_torch_never_imports_triton_once_the_package_is_imported():
    # Triton's LLVM segfaults next to Mesa's software OpenGL (napari's canvas): the
    # first optimizer step would import it. Run in a fresh interpreter.
    code = (
        "import sys, napari_mcsc, torch\n"
        "m = torch.nn.Linear(2, 2); opt = torch.optim.AdamW(m.parameters())\n"
        "m(torch.ones(1, 2)).sum().backward(); opt.step()\n"
        "print(sys.modules.get('triton', 'absent'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


def test_triton_can_be_allowed_again(monkeypatch):
    from napari_mcsc import _torch_env

    monkeypatch.setenv(_torch_env.ALLOW_TRITON_ENV, "1")
    monkeypatch.delitem(sys.modules, "triton", raising=False)
    assert _torch_env.keep_torch_from_importing_triton() is False
    assert "triton" not in sys.modules
    monkeypatch.delenv(_torch_env.ALLOW_TRITON_ENV)
    assert _torch_env.keep_torch_from_importing_triton() is True
    assert sys.modules["triton"] is None
