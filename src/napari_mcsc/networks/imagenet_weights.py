"""ImageNet-pretrained Swin-T weights for users who are online (the paper's set-up).

``--swin-weights imagenet`` (and "imagenet" in the widget's Swin weights field) takes
timm's Swin-T ImageNet-1k weights from the local Hugging Face cache, downloading them
once through ``huggingface_hub`` (with its progress bar, into the standard cache) when
they are not there yet. Offline (``HF_HUB_OFFLINE``) or when the Hub cannot be reached,
the user is told what to do instead; nothing else in napari-mcsc ever downloads.

Also where timm's Swin-T weights are looked up (the local Hugging Face cache, without
network access) and the error raised for weights that cannot be had or used. Loading
them into a network is :mod:`napari_mcsc.networks.pretrained`'s job.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "IMAGENET",
    "TIMM_SWIN_TINY",
    "PretrainedWeightsError",
    "imagenet_swin_weights",
    "timm_weights_in_cache",
]

TIMM_SWIN_TINY = "swin_tiny_patch4_window7_224"

IMAGENET = "imagenet"
_WEIGHTS_FILE = "model.safetensors"


class PretrainedWeightsError(ValueError):
    """A pretrained-weights file that holds no usable Swin Transformer weights."""


def _timm_weights_repo() -> str:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(TIMM_SWIN_TINY)
    return getattr(cfg, "hf_hub_id", None) or f"timm/{TIMM_SWIN_TINY}.ms_in1k"


def timm_weights_in_cache() -> str | None:
    """Path of timm's Swin-T weights in the local Hugging Face cache, or None.

    Looks at the cache folder only: no network access, whatever ``HF_HUB_OFFLINE`` says
    (``hf_hub_download(local_files_only=True)`` still contacts the Hub for its headers).
    """
    from huggingface_hub import try_to_load_from_cache

    repo = _timm_weights_repo()
    for filename in ("model.safetensors", "pytorch_model.bin"):
        try:
            found = try_to_load_from_cache(repo, filename)
        except Exception:  # malformed cache: as good as absent
            continue
        if isinstance(found, str) and Path(found).is_file():
            return found
    return None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def imagenet_swin_weights(download=None) -> str:
    """Path of timm's Swin-T ImageNet weights, downloaded into the HF cache if needed.

    ``download`` (``huggingface_hub.hf_hub_download`` by default) is a parameter so tests
    can hand over a local file. Raises ``PretrainedWeightsError`` with the way out when
    the weights are not cached and cannot be downloaded.
    """
    cached = timm_weights_in_cache()
    if cached is not None:
        return cached
    repo = _timm_weights_repo()
    manual = (
        f"download {_WEIGHTS_FILE} from https://huggingface.co/{repo} on a machine that is "
        "online and pass the file's path as the Swin weights instead"
    )
    if _offline():
        raise PretrainedWeightsError(
            f"the ImageNet Swin-T weights ({TIMM_SWIN_TINY}) are not in the local Hugging Face "
            f"cache and HF_HUB_OFFLINE is set, so they cannot be downloaded: unset HF_HUB_OFFLINE, "
            f"or {manual}"
        )
    if download is None:
        from huggingface_hub import hf_hub_download as download
    try:
        return str(download(repo_id=repo, filename=_WEIGHTS_FILE))
    except Exception as exc:  # no network, proxy, Hub error: all say the same to a user
        raise PretrainedWeightsError(
            f"could not download the ImageNet Swin-T weights from the Hugging Face Hub "
            f"({exc.__class__.__name__}); check the internet connection, or {manual}"
        ) from exc
