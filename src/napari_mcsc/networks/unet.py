"""2-D UNet used as the CNN branch of MCSC (method.md section 3.1).

PyMIC/SSL4MIS-style UNet: five encoder levels of double 3x3 conv blocks (BN, LeakyReLU, dropout
between the convolutions), 2x2 max-pool down-sampling, four decoder levels with 2x2 stride-2
transposed convolutions, skip concatenation and a double conv block without dropout. The
segmentation classifier is a 3x3 convolution with Xavier-normal weights (method.md section 3.3).
Besides logits the network returns the last decoder features (full resolution, ``channels[0]``)
and the first decoder features (1/8 resolution, ``channels[3]``) for the multi-scale contrastive
loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .outputs import SegOutput

__all__ = ["ConvBlock", "UNet"]


class ConvBlock(nn.Sequential):
    """conv3x3 - BN - LeakyReLU - Dropout - conv3x3 - BN - LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(),
            nn.Dropout(dropout),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(),
        )


class _UpBlock(nn.Module):
    """2x up-sampling to the skip's channel count, concat ``[skip, up]``, ConvBlock.

    Up-sampling is a 2x2 stride-2 transposed conv, or (``bilinear=True``) a 1x1 conv followed by
    bilinear interpolation (align_corners=True).
    """

    def __init__(
        self, in_channels: int, skip_channels: int, out_channels: int, bilinear: bool = False
    ) -> None:
        super().__init__()
        if bilinear:
            self.up = nn.Sequential(
                nn.Conv2d(in_channels, skip_channels, kernel_size=1),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            )
        else:
            self.up = nn.ConvTranspose2d(in_channels, skip_channels, kernel_size=2, stride=2)
        self.conv = ConvBlock(2 * skip_channels, out_channels, dropout=0.0)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """UNet returning logits plus full- and 1/8-resolution decoder features.

    Args:
        in_channels: Number of image channels.
        num_classes: Number of segmentation classes (including background).
        channels: Channel count of the five encoder levels.
        dropout: Dropout probability inside each encoder ConvBlock.
        bilinear: Decoder up-sampling by 1x1 conv + bilinear interpolation instead of the default
            2x2 stride-2 transposed convolution (method.md section 3.1). The transposed-conv
            network has 1.94 M parameters at the default channels, the bilinear one 1.81 M.

    Input height and width must be divisible by 16 (four 2x down-samplings).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 4,
        channels: Sequence[int] = (16, 32, 64, 128, 256),
        dropout: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.5),
        bilinear: bool = False,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        dropout = tuple(float(p) for p in dropout)
        if len(channels) != 5 or len(dropout) != 5:
            raise ValueError(f"UNet needs 5 channel counts and 5 dropout rates, got {channels} and {dropout}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.channels = channels

        self.encoder = nn.ModuleList(
            [ConvBlock(in_channels, channels[0], dropout[0])]
            + [ConvBlock(channels[i - 1], channels[i], dropout[i]) for i in range(1, 5)]
        )
        self.pool = nn.MaxPool2d(2)
        # decoder[0] produces the 1/8-resolution map, decoder[3] the full-resolution one
        self.decoder = nn.ModuleList(
            [_UpBlock(channels[i + 1], channels[i], channels[i], bilinear) for i in (3, 2, 1, 0)]
        )
        self.classifier = nn.Conv2d(channels[0], num_classes, kernel_size=3, padding=1)
        nn.init.xavier_normal_(self.classifier.weight)

    @property
    def feature_channels(self) -> tuple[int, int]:
        """Channels of the (full-resolution, 1/8-resolution) feature maps."""
        return self.channels[0], self.channels[3]

    def forward(self, x: Tensor) -> SegOutput:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet expects input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % 16 or w % 16:
            raise ValueError(f"UNet input height and width must be divisible by 16, got {h}x{w}")
        skips = []
        for i, block in enumerate(self.encoder):
            if i > 0:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        x = skips.pop()
        eighth = None
        for up in self.decoder:
            x = up(x, skips.pop())
            if eighth is None:
                eighth = x
        return SegOutput(self.classifier(x), (x, eighth))
