"""Swin-UNet, the transformer branch of MCSC (method.md sections 3.2-3.4), built on timm.

Encoder: a stock ``timm`` :class:`~timm.models.swin_transformer.SwinTransformer` (headless),
run stage by stage so that the input of every stage's blocks (after that stage's patch merging)
can be kept as a skip connection. Decoder ("expand first"): mirrors the encoder with patch
expanding layers, skip concatenation + linear fusion and timm ``SwinTransformerBlock`` stages,
followed by a final x``patch_size`` expansion to full resolution and a 3x3 conv classifier.

Tensors stay channels-last (``B, H, W, C``) inside the transformer, as in timm; the returned
feature maps are NCHW. The network is built for a fixed square input size (``img_size``):
timm's blocks pre-compute shift masks for their token grid.

Pretrained (ImageNet) weights are loaded by :func:`napari_mcsc.networks.pretrained.load_pretrained_swin`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import trunc_normal_
from timm.models.swin_transformer import SwinTransformer, SwinTransformerBlock
from torch import Tensor, nn

from .outputs import SegOutput

__all__ = ["PatchExpand", "SwinUNet"]


class PatchExpand(nn.Module):
    """Up-sample a channels-last token grid by ``scale`` with a linear layer + pixel rearrangement.

    ``Linear(dim, scale**2 * out_dim)`` then ``(B, H, W, s*s*C') -> (B, s*H, s*W, C')`` and a
    LayerNorm over ``out_dim``. With ``scale=2`` and the default ``out_dim = dim // 2`` this is
    Swin-UNet's patch expanding layer; with ``scale=patch_size, out_dim=dim`` it is the final
    "x4" expansion back to pixel resolution.
    """

    def __init__(self, dim: int, scale: int = 2, out_dim: int | None = None) -> None:
        super().__init__()
        self.scale = int(scale)
        self.out_dim = int(out_dim) if out_dim is not None else dim // 2
        self.expand = nn.Linear(dim, self.scale * self.scale * self.out_dim, bias=False)
        self.norm = nn.LayerNorm(self.out_dim)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, _ = x.shape
        s, c = self.scale, self.out_dim
        x = self.expand(x).view(b, h, w, s, s, c)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, h * s, w * s, c)
        return self.norm(x)


class _DecoderLevel(nn.Module):
    """One decoder level: concat skip, ``Linear(2C, C)``, Swin blocks, optional patch expanding.

    Block ``j`` of decoder level ``i`` has the same name suffix, dimension, heads and window as
    block ``j`` of encoder stage ``i`` (``encoder.layers.{i}.blocks.{j}`` <->
    ``decoder.{i}.blocks.{j}``), which is what makes the pretrained-weight mirroring possible.
    """

    def __init__(
        self,
        dim: int,
        resolution: tuple[int, int],
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        drop_path: Sequence[float],
        upsample: bool,
    ) -> None:
        super().__init__()
        self.fuse = nn.Linear(2 * dim, dim)
        # timm clamps the window to the grid and disables the shift where window >= grid.
        self.blocks = nn.Sequential(
            *[
                SwinTransformerBlock(
                    dim=dim,
                    input_resolution=resolution,
                    num_heads=num_heads,
                    window_size=window_size,
                    shift_size=0 if j % 2 == 0 else window_size // 2,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=True,
                    drop_path=float(drop_path[j]),
                )
                for j in range(depth)
            ]
        )
        self.upsample = PatchExpand(dim) if upsample else nn.Identity()

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.fuse(torch.cat([x, skip], dim=-1))
        x = self.blocks(x)
        return self.upsample(x)


class SwinUNet(nn.Module):
    """Swin-UNet returning logits plus full- and 1/8-resolution decoder features.

    Args:
        img_size: Side of the (square) input; the network only accepts this size.
        in_channels: Image channels; a single channel is repeated to the 3 RGB channels the
            (ImageNet-pretrainable) encoder expects. No intensity normalisation is applied.
        num_classes: Number of segmentation classes.
        patch_size: Patch-embedding stride; the token grid is ``img_size / patch_size``.
        embed_dim: Channels of the first stage (doubled at every stage).
        depths: Swin blocks per encoder stage (mirrored in the decoder).
        num_heads: Attention heads per stage.
        window_size: Attention window side (clamped by timm to the grid where larger).
        mlp_ratio: MLP hidden ratio of the Swin blocks.
        drop_path_rate: Maximum stochastic-depth rate, spread linearly over the encoder blocks;
            each decoder stage uses the rates of its mirrored encoder stage.

    Features: ``full`` = final expanded map (``embed_dim`` ch, full resolution); ``eighth`` = the
    decoder tokens entering decoder level 1 (``2*embed_dim`` ch, ``img_size / (2*patch_size)``,
    i.e. 1/8 for ``patch_size=4``) after a LayerNorm.
    """

    def __init__(
        self,
        img_size: int = 224,
        in_channels: int = 1,
        num_classes: int = 4,
        patch_size: int = 4,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 2, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.2,
    ) -> None:
        super().__init__()
        depths = tuple(int(d) for d in depths)
        num_heads = tuple(int(h) for h in num_heads)
        num_stages = len(depths)
        if num_stages < 3 or len(num_heads) != num_stages:
            raise ValueError(
                f"SwinUNet needs >= 3 stages and one head count per stage, got depths={depths}, "
                f"num_heads={num_heads}"
            )
        reduction = patch_size * 2 ** (num_stages - 1)
        if img_size % reduction:
            raise ValueError(
                f"img_size ({img_size}) must be divisible by patch_size * 2**(stages-1) = {reduction}"
            )
        self.img_size = int(img_size)
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.patch_size = int(patch_size)
        self.embed_dim = int(embed_dim)
        self.depths = depths

        self.encoder = SwinTransformer(
            img_size=img_size,
            patch_size=patch_size,
            in_chans=3 if in_channels == 1 else in_channels,
            num_classes=0,
            global_pool="",
            embed_dim=embed_dim,
            depths=depths,
            num_heads=num_heads,
            window_size=window_size,
            mlp_ratio=mlp_ratio,
            drop_path_rate=drop_path_rate,
        )

        grid = img_size // patch_size
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).split(list(depths))
        bottom = num_stages - 1
        self.bottleneck_expand = PatchExpand(embed_dim * 2**bottom)
        # decoder[i] works at the resolution/width of encoder stage i (i = 0 .. stages-2)
        self.decoder = nn.ModuleList(
            [
                _DecoderLevel(
                    dim=embed_dim * 2**i,
                    resolution=(grid // 2**i, grid // 2**i),
                    depth=depths[i],
                    num_heads=num_heads[i],
                    window_size=window_size,
                    mlp_ratio=mlp_ratio,
                    drop_path=dpr[i].tolist(),
                    upsample=i > 0,
                )
                for i in range(bottom)
            ]
        )
        self.norm_up = nn.LayerNorm(embed_dim)
        self.final_expand = PatchExpand(embed_dim, scale=patch_size, out_dim=embed_dim)
        self.tap_norm = nn.LayerNorm(2 * embed_dim)
        for name, module in self.named_modules():
            if name.startswith("encoder"):
                continue  # timm initialised it already
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        self.classifier = nn.Conv2d(embed_dim, num_classes, kernel_size=3, padding=1)
        nn.init.xavier_normal_(self.classifier.weight)

    @property
    def feature_channels(self) -> tuple[int, int]:
        """Channels of the (full-resolution, 1/8-resolution) feature maps."""
        return self.embed_dim, 2 * self.embed_dim

    def forward(self, x: Tensor) -> SegOutput:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SwinUNet expects input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if tuple(x.shape[-2:]) != (self.img_size, self.img_size):
            raise ValueError(
                f"SwinUNet was built for {self.img_size}x{self.img_size} inputs, got "
                f"{x.shape[-2]}x{x.shape[-1]}; resize the image or rebuild with img_size="
                f"{x.shape[-2]}"
            )
        if self.in_channels == 1:
            x = x.expand(-1, 3, -1, -1)

        enc = self.encoder
        x = enc.patch_embed(x)  # (B, H/p, W/p, C), channels-last
        skips = []
        for stage in enc.layers:
            x = stage.downsample(x)
            skips.append(x)
            x = stage.blocks(x)
        x = enc.norm(x)

        x = self.bottleneck_expand(x)
        eighth = x  # reassigned below: decoder level 1 always exists (>= 3 stages)
        for i in reversed(range(len(self.decoder))):
            if i == 1:
                eighth = x
            x = self.decoder[i](x, skips[i])
        x = self.final_expand(self.norm_up(x))

        full = x.permute(0, 3, 1, 2).contiguous()
        eighth = self.tap_norm(eighth).permute(0, 3, 1, 2).contiguous()
        return SegOutput(self.classifier(full), (full, eighth))
