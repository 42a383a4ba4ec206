"""Common return type of the two segmentation networks.

Both MCSC networks (the CNN and the Swin-UNet) must expose, besides their logits, the decoder
features at two scales: the full-resolution map (used by the full-scale contrastive loss) and the
1/8-resolution map (used by the coarse-scale contrastive loss). A single named tuple keeps the
training loop agnostic of which network produced the output.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class SegOutput(NamedTuple):
    """Output of a segmentation network.

    Attributes:
        logits: ``(B, K, H, W)`` un-normalised class scores at input resolution.
        features: ``(full, eighth)`` where ``full`` is the last decoder feature map
            ``(B, Cf, H, W)`` and ``eighth`` the 1/8-resolution decoder feature map
            ``(B, Cl, H/8, W/8)``; both NCHW.
    """

    logits: Tensor
    features: tuple[Tensor, Tensor]
