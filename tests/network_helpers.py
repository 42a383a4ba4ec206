"""Tiny Swin settings and checks shared by the tests of the networks (a plain module, like
``tiny``). Small configurations keep them fast on a CPU."""

from __future__ import annotations

import torch
from timm.models.swin_transformer import SwinTransformer

from napari_mcsc.networks import SwinUNet

TINY = dict(img_size=64, embed_dim=24, num_heads=(1, 2, 4, 8), window_size=4)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def timm_swin(**overrides) -> SwinTransformer:
    cfg = dict(
        img_size=64,
        patch_size=4,
        in_chans=3,
        embed_dim=24,
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 8),
        window_size=4,
        num_classes=10,
    )
    cfg.update(overrides)
    return SwinTransformer(**cfg)


def assert_encoder_equals(net: SwinUNet, sd: dict):
    enc = net.encoder.state_dict()
    for k, v in enc.items():
        assert torch.equal(v, sd[k]), k
