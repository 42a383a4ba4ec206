"""Loading pretrained Swin Transformer weights into a :class:`~napari_mcsc.networks.swin_unet.SwinUNet`.

:func:`load_pretrained_swin` reads an ImageNet Swin checkpoint (a file in timm or Microsoft
layout, ``"timm"`` for timm's weights in the local Hugging Face cache, or ``"imagenet"`` to
fetch those once), maps its keys onto the encoder and, as in the reference implementation,
also copies every encoder stage's block weights into the mirrored decoder stage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from timm.models.swin_transformer import checkpoint_filter_fn
from torch import Tensor

from .imagenet_weights import (
    TIMM_SWIN_TINY,
    PretrainedWeightsError,
    _timm_weights_repo,
    imagenet_swin_weights,
    timm_weights_in_cache,
)

if TYPE_CHECKING:
    from .swin_unet import SwinUNet

__all__ = ["PretrainedWeightsError", "load_pretrained_swin", "timm_weights_in_cache"]


def _read_checkpoint(source: str | os.PathLike) -> Mapping[str, object]:
    """Return the raw state dict named by ``source`` (a file path or ``"timm"``)."""
    if str(source) == "timm":
        return _read_timm_cache()
    if str(source) == "imagenet":
        return _read_checkpoint(imagenet_swin_weights())
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Swin checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle with non-tensor objects, corrupt file, ...
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise PretrainedWeightsError(
            f"could not read {path} as a weights-only PyTorch checkpoint "
            f"({exc.__class__.__name__}{': ' + first_line if first_line else ''})"
        ) from exc


def _read_timm_cache() -> Mapping[str, object]:
    """Swin-T ImageNet weights from the local Hugging Face cache (never downloads)."""
    path = timm_weights_in_cache()
    if path is not None:
        return _read_checkpoint(path)
    repo = _timm_weights_repo()
    raise FileNotFoundError(
        f"the timm weights '{TIMM_SWIN_TINY}' ({repo}) are not in the local Hugging Face cache "
        "and nothing is downloaded at run time. Download a Swin-T checkpoint (e.g. "
        "swin_tiny_patch4_window7_224.pth from microsoft/Swin-Transformer, or "
        f"model.safetensors from https://huggingface.co/{repo}) and pass the file path."
    )


def _unwrap(state: object, source: str) -> dict[str, Tensor]:
    """Peel ``{"model": ...}`` / ``{"state_dict": ...}`` wrappers and ``module.`` prefixes."""
    for _ in range(3):
        if isinstance(state, Mapping):
            for wrapper in ("model", "state_dict"):
                if isinstance(state.get(wrapper), Mapping):
                    state = state[wrapper]
                    break
    if not isinstance(state, Mapping):
        raise PretrainedWeightsError(f"no Swin Transformer weights found in {source} (not a state dict)")
    out = {}
    for key, value in state.items():
        if isinstance(key, str) and torch.is_tensor(value):
            out[key.removeprefix("module.")] = value
    # keys nested under some prefix, e.g. "backbone.patch_embed.proj.weight"
    anchor = next((k for k in out if k.endswith("patch_embed.proj.weight")), None)
    if anchor and anchor != "patch_embed.proj.weight":
        prefix = anchor[: -len("patch_embed.proj.weight")]
        out = {k[len(prefix) :]: v for k, v in out.items() if k.startswith(prefix)}
    return out


def load_pretrained_swin(model: SwinUNet, source: str | os.PathLike) -> dict:
    """Load ImageNet Swin weights into ``model``'s encoder and mirror them into the decoder.

    Args:
        model: The network to initialise (modified in place).
        source: Path to a ``.pth``/``.pt``/``.bin`` (weights-only ``torch.load``) or
            ``.safetensors`` checkpoint, in timm or Microsoft Swin key layout, optionally wrapped
            in ``{"model": ...}`` or ``{"state_dict": ...}``; or ``"timm"`` for timm's
            ``swin_tiny_patch4_window7_224`` weights if they are in the local HF cache.

    Encoder keys are loaded where the shape matches (relative position bias tables are
    bicubically resized by timm's ``checkpoint_filter_fn`` to other window sizes); other keys
    (ImageNet head, extra blocks, other widths) are skipped. Block weights of encoder stage
    ``i`` are then copied into decoder level ``i`` where names and shapes match.

    Returns:
        ``{"loaded": n_encoder_tensors, "skipped": [checkpoint keys not used],
        "decoder_copied": n_decoder_tensors, "missing": [encoder keys left at init]}``.

    Raises:
        FileNotFoundError: the file (or the cached timm weights) does not exist.
        ValueError: the file holds no Swin Transformer weights.
    """
    label = str(source)
    state = _unwrap(_read_checkpoint(source), label)
    encoder = model.encoder
    target = encoder.state_dict()

    skipped: list[str] = []
    usable: dict[str, Tensor] = {}
    for key, value in state.items():
        # checkpoint_filter_fn looks the attention module up for every bias table; drop the
        # tables of blocks this encoder does not have or whose head count differs.
        if key.endswith("relative_position_bias_table") and (
            key not in target or value.ndim != 2 or value.shape[1] != target[key].shape[1]
        ):
            skipped.append(key)
            continue
        usable[key] = value
    converted = checkpoint_filter_fn(usable, encoder)

    loaded: dict[str, Tensor] = {}
    name_hits = 0
    for key, value in converted.items():
        if key in target:
            name_hits += 1
            if target[key].shape == value.shape:
                loaded[key] = value
                continue
        skipped.append(key)
    if not any(k.startswith(("layers.", "patch_embed.")) for k in loaded) or name_hits == 0:
        raise PretrainedWeightsError(f"no Swin Transformer weights found in {label}")
    encoder.load_state_dict(loaded, strict=False)

    decoder_target = model.decoder.state_dict()
    mirrored: dict[str, Tensor] = {}
    for key, value in loaded.items():
        match = re.match(r"layers\.(\d+)\.(blocks\..+)$", key)
        if match is None:
            continue
        dkey = f"{match.group(1)}.{match.group(2)}"
        if dkey in decoder_target and decoder_target[dkey].shape == value.shape:
            mirrored[dkey] = value
    model.decoder.load_state_dict(mirrored, strict=False)

    return {
        "loaded": len(loaded),
        "skipped": sorted(skipped),
        "decoder_copied": len(mirrored),
        "missing": sorted(k for k in target if k not in loaded),
    }
