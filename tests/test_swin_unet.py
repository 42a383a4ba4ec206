"""networks/swin_unet.py: the Swin-UNet (timm based) at the tiny, fast and paper sizes."""

from __future__ import annotations

import pytest
import torch

from napari_mcsc.networks import PatchExpand, SwinUNet
from network_helpers import TINY, n_params

FAST = dict(img_size=128, embed_dim=48, num_heads=(2, 4, 8, 16), window_size=4)
PAPER = dict(img_size=224, embed_dim=96, num_heads=(3, 6, 12, 24), window_size=7)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("window", [4, 2])
def test_swin_unet_tiny_shapes(window):
    cfg = dict(TINY, window_size=window)
    net = SwinUNet(num_classes=3, **cfg)
    out = net(torch.rand(2, 1, 64, 64))
    assert out.logits.shape == (2, 3, 64, 64)
    full, eighth = out.features
    assert full.shape == (2, 24, 64, 64)
    assert eighth.shape == (2, 48, 8, 8)
    assert net.feature_channels == (24, 48)
    assert full.is_contiguous() and eighth.is_contiguous()


def test_swin_unet_eighth_tap_is_layer_normalised():
    net = SwinUNet(num_classes=2, **TINY).eval()
    with torch.no_grad():
        net.tap_norm.weight.fill_(2.0)
        net.tap_norm.bias.fill_(0.5)
        eighth = net(torch.rand(2, 1, 64, 64)).features[1]
    # LayerNorm over channels with weight 2, bias 0.5: per-pixel mean 0.5, variance 4
    assert torch.allclose(eighth.mean(dim=1), torch.full((2, 8, 8), 0.5), atol=1e-4)
    assert torch.allclose(eighth.var(dim=1, unbiased=False), torch.full((2, 8, 8), 4.0), atol=0.05)


def test_swin_unet_decoder_mirrors_encoder_windows():
    # grids 16, 8, 4, 2: timm clamps the window to the grid and drops the shift where window >= grid
    net = SwinUNet(**TINY)
    for level, dec in enumerate(net.decoder):
        enc_blocks = net.encoder.layers[level].blocks
        assert len(dec.blocks) == len(enc_blocks) == 2
        for e, d in zip(enc_blocks, dec.blocks, strict=False):
            assert d.window_size == e.window_size
            assert d.shift_size == e.shift_size
            assert d.attn.relative_position_bias_table.shape == (e.attn.relative_position_bias_table.shape)
    assert net.decoder[2].blocks[1].shift_size == (0, 0)  # 4x4 grid, window 4: no shift
    assert net.decoder[1].blocks[1].shift_size == (2, 2)
    assert net.encoder.layers[3].blocks[0].window_size == (2, 2)  # clamped


def test_swin_unet_fast_profile_shapes():
    net = SwinUNet(num_classes=4, **FAST)
    out = net(torch.rand(2, 1, 128, 128))
    assert out.logits.shape == (2, 4, 128, 128)
    assert out.features[0].shape == (2, 48, 128, 128)
    assert out.features[1].shape == (2, 96, 16, 16)


def test_swin_unet_paper_profile_shapes_and_size():
    net = SwinUNet(num_classes=4, **PAPER).eval()
    count = n_params(net)
    print(f"Swin-UNet (paper profile) parameters: {count:,}")
    assert 26.5e6 < count < 28.0e6
    with torch.no_grad():
        out = net(torch.rand(1, 1, 224, 224))
    assert out.logits.shape == (1, 4, 224, 224)
    assert out.features[0].shape == (1, 96, 224, 224)
    assert out.features[1].shape == (1, 192, 28, 28)
    assert torch.isfinite(out.logits).all()


def test_swin_unet_classifier_is_3x3_xavier():
    conv = SwinUNet(num_classes=4, **TINY).classifier
    assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.in_channels == 24
    assert abs(conv.weight.std().item() - (2 / (24 * 9 + 4 * 9)) ** 0.5) < 0.02


@pytest.mark.parametrize("shape", [(1, 1, 60, 60), (1, 1, 128, 128), (1, 1, 64, 32), (1, 3, 64, 64)])
def test_swin_unet_rejects_bad_inputs(shape):
    net = SwinUNet(**TINY)
    with pytest.raises(ValueError):
        net(torch.rand(*shape))


def test_swin_unet_rejects_bad_config():
    with pytest.raises(ValueError, match="divisible"):
        SwinUNet(img_size=72, embed_dim=24, num_heads=(1, 2, 4, 8), window_size=4)
    with pytest.raises(ValueError):
        SwinUNet(img_size=64, embed_dim=24, depths=(2, 2), num_heads=(1, 2), window_size=4)


def test_patch_expand_rearranges_pixels():
    pe = PatchExpand(dim=8, scale=2)
    assert pe.expand.out_features == 16 and pe.norm.normalized_shape == (4,)
    x = torch.rand(1, 3, 5, 8)
    y = pe(x)
    assert y.shape == (1, 6, 10, 4)
    # output pixel (2i+a, 2j+b) only depends on input token (i, j)
    expanded = pe.expand(x).view(1, 3, 5, 2, 2, 4)
    ref = pe.norm(expanded[0, 1, 3, 1, 0])
    assert torch.allclose(y[0, 3, 6], ref, atol=1e-6)
    final = PatchExpand(dim=8, scale=4, out_dim=8)
    assert final(x).shape == (1, 12, 20, 8)
