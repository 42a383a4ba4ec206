"""Build the three trainable parts of MCSC (CNN, Swin-UNet, projection heads) in one module.

Keeping them as attributes of one :class:`Networks` module means a single ``state_dict`` /
checkpoint holds everything needed to resume training or run inference.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .projection import ProjectionHeads
from .swin_unet import SwinUNet
from .unet import UNet

__all__ = ["Networks", "build_networks"]


class Networks(nn.Module):
    """Container with attributes ``cnn`` (UNet), ``swin`` (SwinUNet), ``projector``."""

    def __init__(self, cnn: UNet, swin: SwinUNet, projector: ProjectionHeads) -> None:
        super().__init__()
        self.cnn = cnn
        self.swin = swin
        self.projector = projector

    def count_parameters(self, trainable_only: bool = False) -> dict[str, int]:
        """Parameter counts per part and in total: ``{"cnn", "swin", "projector", "total"}``."""

        def count(module: nn.Module) -> int:
            return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)

        counts = {name: count(getattr(self, name)) for name in ("cnn", "swin", "projector")}
        counts["total"] = sum(counts.values())
        return counts


def build_networks(
    num_classes: int,
    image_size: int,
    *,
    unet_channels: Sequence[int] = (16, 32, 64, 128, 256),
    swin_embed_dim: int = 96,
    swin_depths: Sequence[int] = (2, 2, 2, 2),
    swin_heads: Sequence[int] = (3, 6, 12, 24),
    swin_window: int = 7,
    swin_patch: int = 4,
    drop_path_rate: float = 0.2,
    projection_dim: int = 128,
    projection_hidden: int = 256,
    in_channels: int = 1,
) -> Networks:
    """Create the UNet, the Swin-UNet (for ``image_size`` square inputs) and the projectors."""
    if image_size % 16:
        raise ValueError(f"image_size must be divisible by 16 for the UNet, got {image_size}")
    cnn = UNet(in_channels=in_channels, num_classes=num_classes, channels=unet_channels)
    swin = SwinUNet(
        img_size=image_size,
        in_channels=in_channels,
        num_classes=num_classes,
        patch_size=swin_patch,
        embed_dim=swin_embed_dim,
        depths=swin_depths,
        num_heads=swin_heads,
        window_size=swin_window,
        drop_path_rate=drop_path_rate,
    )
    projector = ProjectionHeads(
        cnn.feature_channels,
        swin.feature_channels,
        hidden=projection_hidden,
        out_dim=projection_dim,
    )
    return Networks(cnn, swin, projector)
