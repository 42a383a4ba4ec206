"""The networks' settings: what fixes their shapes (widths, depths, heads, window, patch)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .factory import Networks, build_networks

__all__ = ["NETWORK_FIELDS", "NetworkConfig"]


@dataclass(frozen=True)
class NetworkConfig:
    """Settings of the UNet, the Swin-UNet and the projection heads (the fast profile's
    values by default). All of them but ``swin_drop_path`` fix the shape of the weights."""

    unet_channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    swin_embed_dim: int = 32
    swin_depths: tuple[int, ...] = (2, 2, 2, 2)
    swin_heads: tuple[int, ...] = (1, 2, 4, 8)
    swin_window: int = 4
    swin_patch: int = 4
    swin_drop_path: float = 0.1  # regularisation, not shape: a warm start may change it
    projection_dim: int = 128
    # Input channels: the slice alone (1), or with its 1 or 2 neighbours on each side (3, 5):
    # "2.5D", context from neighbouring slices (data/context.py)
    context_slices: int = 1

    def __post_init__(self) -> None:
        for name in ("unet_channels", "swin_depths", "swin_heads"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.context_slices not in (1, 3, 5):
            raise ValueError(f"context_slices must be 1, 3 or 5, got {self.context_slices}")

    def check_image_size(self, image_size: int) -> None:
        """Raise a ValueError when the Swin-UNet's token grid at ``image_size`` does not
        split into windows at every stage."""
        tokens = image_size // self.swin_patch
        for stage in range(len(self.swin_depths)):
            size = tokens // 2**stage
            if size < 1 or (size > self.swin_window and size % self.swin_window):
                raise ValueError(
                    f"image_size {image_size} with patch {self.swin_patch} gives a "
                    f"{size}x{size} token grid at stage {stage}, not a multiple of the window "
                    f"{self.swin_window}; pick image_size/window like 128/4 or 224/7"
                )

    def shaped_like(self, other: NetworkConfig) -> NetworkConfig:
        """``other``'s shape with this drop-path rate: what a warm start from ``other`` uses."""
        return dataclasses.replace(other, swin_drop_path=self.swin_drop_path)

    def replace(self, **changes) -> NetworkConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-safe: tuples as lists."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def build(self, num_classes: int, image_size: int) -> Networks:
        """Fresh networks with these settings for ``image_size`` square slices."""
        return build_networks(
            num_classes,
            image_size,
            unet_channels=self.unet_channels,
            swin_embed_dim=self.swin_embed_dim,
            swin_depths=self.swin_depths,
            swin_heads=self.swin_heads,
            swin_window=self.swin_window,
            swin_patch=self.swin_patch,
            drop_path_rate=self.swin_drop_path,
            projection_dim=self.projection_dim,
            in_channels=self.context_slices,
        )


#: The names of ``NetworkConfig``'s fields (flat keys of a saved training configuration).
NETWORK_FIELDS = tuple(f.name for f in dataclasses.fields(NetworkConfig))


def _plain(value):
    return list(value) if isinstance(value, tuple) else value
