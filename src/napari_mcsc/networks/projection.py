"""Projection heads of the multi-scale cross contrastive loss (method.md section 3.4).

For each of the two feature scales (full resolution, 1/8 resolution) every network has its own
1x1 conv to ``hidden`` channels followed by ReLU; the second 1x1 conv (``hidden -> out_dim``) is
*shared* by the CNN and the Swin-UNet at that scale, so both networks' pixels are embedded in the
same space before the cross contrastive loss compares them. No BatchNorm. Embeddings are
L2-normalised along the channel axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ProjectionHeads"]


def _entry(in_channels: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, hidden, kernel_size=1), nn.ReLU(inplace=True))


class ProjectionHeads(nn.Module):
    """Per-network entry convs + per-scale shared output convs, L2-normalised outputs.

    Args:
        cnn_channels: CNN feature channels per scale, ``(full, eighth)``.
        swin_channels: Swin-UNet feature channels per scale, ``(full, eighth)``.
        hidden: Width of the per-network 1x1 conv.
        out_dim: Embedding dimension.
    """

    def __init__(
        self,
        cnn_channels: Sequence[int],
        swin_channels: Sequence[int],
        hidden: int = 256,
        out_dim: int = 128,
    ) -> None:
        super().__init__()
        if len(cnn_channels) != len(swin_channels):
            raise ValueError(
                f"cnn_channels {tuple(cnn_channels)} and swin_channels {tuple(swin_channels)} "
                "must list the same number of scales"
            )
        self.num_scales = len(cnn_channels)
        self.out_dim = out_dim
        self.cnn = nn.ModuleList([_entry(c, hidden) for c in cnn_channels])
        self.swin = nn.ModuleList([_entry(c, hidden) for c in swin_channels])
        self.shared = nn.ModuleList(
            [nn.Conv2d(hidden, out_dim, kernel_size=1) for _ in range(self.num_scales)]
        )

    def _project(self, entries: nn.ModuleList, features: Sequence[Tensor]) -> list[Tensor]:
        if len(features) != self.num_scales:
            raise ValueError(f"expected {self.num_scales} feature maps, got {len(features)}")
        return [
            F.normalize(shared(entry(f)), dim=1)
            for entry, shared, f in zip(entries, self.shared, features, strict=False)
        ]

    def project_cnn(self, features: Sequence[Tensor]) -> list[Tensor]:
        """Embeddings ``(B, out_dim, h, w)`` of the CNN features, one per scale."""
        return self._project(self.cnn, features)

    def project_swin(self, features: Sequence[Tensor]) -> list[Tensor]:
        """Embeddings ``(B, out_dim, h, w)`` of the Swin-UNet features, one per scale."""
        return self._project(self.swin, features)

    def project_vectors(self, network: str, scale: int, vectors: Tensor) -> Tensor:
        """Embed (P, C) feature vectors of ``network`` ("cnn" or "swin") at ``scale``.

        The same computation as the 1x1 convs, applied to sampled pixels only: the
        contrastive loss needs a few thousand pixels, not whole feature maps.
        """
        entry = (self.cnn if network == "cnn" else self.swin)[scale]
        conv, shared = entry[0], self.shared[scale]
        hidden = F.relu(F.linear(vectors, conv.weight.flatten(1), conv.bias))
        return F.normalize(F.linear(hidden, shared.weight.flatten(1), shared.bias), dim=1)

    def forward(
        self, cnn_features: Sequence[Tensor], swin_features: Sequence[Tensor]
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Return ``(cnn_embeddings, swin_embeddings)``, each a list over scales."""
        return self.project_cnn(cnn_features), self.project_swin(swin_features)
