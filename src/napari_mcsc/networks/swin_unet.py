"""Swin-UNet, the transformer branch of MCSC (method.md sections 3.2-3.4), built on timm.

Encoder: a stock ``timm`` :class:`~timm.models.swin_transformer.SwinTransformer` (headless),
run stage by stage so that the input of every stage's blocks (after that stage's patch merging)
can be kept as a skip connection. Decoder ("expand first"): mirrors the encoder with patch
expanding layers, skip concatenation + linear fusion and timm ``SwinTransformerBlock`` stages,
followed by a final x``patch_size`` expansion to full resolution and a 3x3 conv classifier.

Tensors stay channels-last (``B, H, W, C``) inside the transformer, as in timm; the returned
feature maps are NCHW. The network is built for a fixed square input size (``img_size``):
timm's blocks pre-compute shift masks for their token grid.

:func:`load_pretrained_swin` loads an ImageNet Swin checkpoint (timm or Microsoft layout) into
the encoder and, as in the reference implementation, also copies every encoder stage's block
weights into the mirrored decoder stage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from timm.layers import trunc_normal_
from timm.models.swin_transformer import (
    SwinTransformer,
    SwinTransformerBlock,
    checkpoint_filter_fn,
)
from torch import Tensor, nn

from .outputs import SegOutput

__all__ = ["PatchExpand", "SwinUNet", "load_pretrained_swin"]

TIMM_SWIN_TINY = "swin_tiny_patch4_window7_224"


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


class PretrainedWeightsError(ValueError):
    """A pretrained-weights file that holds no usable Swin Transformer weights."""


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


# --------------------------------------------------------------------------- pretrained weights


def _read_checkpoint(source: str | os.PathLike) -> Mapping[str, object]:
    """Return the raw state dict named by ``source`` (a file path or ``"timm"``)."""
    if str(source) == "timm":
        return _read_timm_cache()
    if str(source) == "imagenet":
        from napari_mcsc.networks.imagenet_weights import imagenet_swin_weights

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
