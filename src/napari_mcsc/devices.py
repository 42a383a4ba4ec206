"""One device policy for the whole package: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch


class DeviceError(ValueError):
    """The device a user asked for does not exist on this machine."""


def available_devices() -> list[str]:
    """Names of the devices usable here, best first (always ends with ``"cpu"``)."""
    names: list[str] = []
    if torch.cuda.is_available():
        names.append("cuda")
        names.extend(f"cuda:{i}" for i in range(torch.cuda.device_count()) if i > 0)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    names.append("cpu")
    return names


def pick_device(requested: str | None = None) -> torch.device:
    """Return the torch device for ``requested`` (``None`` or ``"auto"``: the best one).

    Raises ``DeviceError`` with the list of usable devices when ``requested`` is not one.
    """
    if requested in (None, "", "auto"):
        return torch.device(available_devices()[0])
    name = str(requested).lower()
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(
            f"unknown device {requested!r}; use one of: auto, {', '.join(available_devices())}"
        ) from exc
    usable = available_devices()
    if device.type == "cuda":
        index = device.index or 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {requested!r} is not available here (no such CUDA GPU); "
                f"use one of: auto, {', '.join(usable)}"
            )
    elif device.type == "mps" and "mps" not in usable:
        raise DeviceError(
            f"device {requested!r} is not available here (no Apple MPS); "
            f"use one of: auto, {', '.join(usable)}"
        )
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {requested!r}; use one of: auto, {', '.join(usable)}")
    return device


def mixed_precision_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision ``device`` computes natively, for autocast; None where there is
    none worth having.

    CUDA: bfloat16 where the GPU supports it, else float16 (with a gradient scaler). CPU:
    bfloat16 only where the CPU has bfloat16 instructions (AVX512-BF16 or AMX): there the
    fast profile's supervised step took 0.42 s against 0.72 s in float32, an MCSC step 1.18
    against 1.55 (docs/benchmarks.md, section 26); without them bfloat16 is emulated and
    slower than float32. Apple MPS: None.
    """
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and _cpu_has_bf16_instructions():
        return torch.bfloat16
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    """How a run's precision is written in reports and model histories: "bfloat16",
    "float16", or "float32" for ``None`` (no mixed precision)."""
    return str(dtype or torch.float32).removeprefix("torch.")


def _cpu_has_bf16_instructions() -> bool:
    """Whether this CPU computes bfloat16 in hardware (torch's private probes, absent in
    some builds: then no)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in probes:
        probe = getattr(torch.cpu, name, None)
        try:
            if probe is not None and probe():
                return True
        except RuntimeError:
            continue
    return False
