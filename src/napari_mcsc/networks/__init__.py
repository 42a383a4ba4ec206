"""Networks of MCSC: a UNet (CNN branch), a Swin-UNet (transformer branch, timm-based),
the multi-scale projection heads, a factory that bundles them and their settings."""

from __future__ import annotations

from .config import NetworkConfig
from .factory import Networks, build_networks
from .outputs import SegOutput
from .pretrained import load_pretrained_swin
from .projection import ProjectionHeads
from .swin_unet import PatchExpand, SwinUNet
from .unet import UNet

__all__ = [
    "NetworkConfig",
    "Networks",
    "PatchExpand",
    "ProjectionHeads",
    "SegOutput",
    "SwinUNet",
    "UNet",
    "build_networks",
    "load_pretrained_swin",
]
