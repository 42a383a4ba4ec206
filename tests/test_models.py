"""Tests of the MCSC networks: UNet, Swin-UNet (timm based), projection heads, factory and
pretrained-weight loading. Small configurations keep them fast on a CPU."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch
from timm.layers import resize_rel_pos_bias_table
from timm.models.swin_transformer import SwinTransformer

from napari_mcsc.networks import (
    Networks,
    PatchExpand,
    ProjectionHeads,
    SegOutput,
    SwinUNet,
    UNet,
    build_networks,
    load_pretrained_swin,
)
from napari_mcsc.networks.imagenet_weights import PretrainedWeightsError

TINY = dict(img_size=64, embed_dim=24, num_heads=(1, 2, 4, 8), window_size=4)
FAST = dict(img_size=128, embed_dim=48, num_heads=(2, 4, 8, 16), window_size=4)
PAPER = dict(img_size=224, embed_dim=96, num_heads=(3, 6, 12, 24), window_size=7)
# tensors per Swin block: norm1 (2), rel-pos table, qkv (2), proj (2), norm2 (2), fc1 (2), fc2 (2)
TENSORS_PER_BLOCK = 13


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ----------------------------------------------------------------------------------------- UNet


def test_unet_shapes_and_feature_channels():
    net = UNet(in_channels=1, num_classes=3)
    out = net(torch.rand(2, 1, 64, 48))
    assert isinstance(out, SegOutput)
    assert out.logits.shape == (2, 3, 64, 48)
    full, eighth = out.features
    assert full.shape == (2, 16, 64, 48)
    assert eighth.shape == (2, 128, 8, 6)
    assert net.feature_channels == (16, 128)


def test_unet_custom_channels():
    net = UNet(in_channels=2, num_classes=5, channels=(8, 16, 24, 32, 40))
    out = net(torch.rand(1, 2, 32, 32))
    assert out.logits.shape == (1, 5, 32, 32)
    assert out.features[0].shape == (1, 8, 32, 32)
    assert out.features[1].shape == (1, 32, 4, 4)
    assert net.feature_channels == (8, 32)


def test_unet_parameter_count():
    count = n_params(UNet())
    print(f"UNet (transposed conv) parameters: {count:,}")
    assert count == 1_944_324
    assert 1.7e6 < count < 2.0e6
    assert n_params(UNet(bilinear=True)) == 1_813_764


def test_unet_classifier_is_3x3_xavier():
    net = UNet(num_classes=4)
    conv = net.classifier
    assert conv.kernel_size == (3, 3) and conv.padding == (1, 1)
    assert conv.in_channels == 16 and conv.out_channels == 4
    # Xavier-normal: std = sqrt(2 / (fan_in + fan_out)) = sqrt(2 / (16*9 + 4*9)) ~ 0.105;
    # PyTorch's default (kaiming-uniform, a=sqrt(5)) would give std ~ 0.048
    assert abs(conv.weight.std().item() - (2 / (16 * 9 + 4 * 9)) ** 0.5) < 0.02


@pytest.mark.parametrize("shape", [(1, 1, 60, 64), (1, 1, 64, 40), (1, 2, 64, 64), (1, 64, 64)])
def test_unet_rejects_bad_inputs(shape):
    with pytest.raises(ValueError):
        UNet()(torch.rand(*shape))


# ------------------------------------------------------------------------------------ Swin-UNet


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


# ---------------------------------------------------------------------------------- projection


def test_projection_outputs_unit_norm_and_shapes():
    proj = ProjectionHeads((16, 128), (24, 48), hidden=32, out_dim=8)
    cnn_feats = [torch.randn(2, 16, 32, 32), torch.randn(2, 128, 4, 4)]
    swin_feats = [torch.randn(2, 24, 32, 32), torch.randn(2, 48, 4, 4)]
    cnn_emb, swin_emb = proj(cnn_feats, swin_feats)
    assert [e.shape for e in cnn_emb] == [(2, 8, 32, 32), (2, 8, 4, 4)]
    assert [e.shape for e in swin_emb] == [(2, 8, 32, 32), (2, 8, 4, 4)]
    for e in cnn_emb + swin_emb:
        assert torch.allclose(e.norm(dim=1), torch.ones_like(e[:, 0]), atol=1e-5)


def test_projection_second_conv_is_shared_across_networks():
    proj = ProjectionHeads((16, 128), (96, 192), hidden=256, out_dim=128)
    expected = (
        (16 * 256 + 256)
        + (128 * 256 + 256)  # CNN entry convs
        + (96 * 256 + 256)
        + (192 * 256 + 256)  # Swin entry convs
        + 2 * (256 * 128 + 128)  # one shared conv per scale
    )
    assert n_params(proj) == expected
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in proj.modules())
    calls = []
    proj.shared[1].register_forward_hook(lambda *_: calls.append(1))
    proj(
        [torch.randn(1, 16, 8, 8), torch.randn(1, 128, 1, 1)],
        [torch.randn(1, 96, 8, 8), torch.randn(1, 192, 1, 1)],
    )
    assert len(calls) == 2  # used once for the CNN, once for the Swin


def test_projection_rejects_wrong_scale_count():
    proj = ProjectionHeads((16, 128), (24, 48))
    with pytest.raises(ValueError):
        proj.project_cnn([torch.randn(1, 16, 8, 8)])
    with pytest.raises(ValueError):
        ProjectionHeads((16, 128), (24,))


# ------------------------------------------------------------------------- factory + gradients


def tiny_networks(**kw) -> Networks:
    args = dict(
        unet_channels=(8, 16, 24, 32, 40),
        swin_embed_dim=24,
        swin_heads=(1, 2, 4, 8),
        swin_window=4,
        projection_dim=16,
        projection_hidden=32,
    )
    args.update(kw)
    return build_networks(3, 64, **args)


def test_build_networks_structure():
    nets = tiny_networks()
    assert isinstance(nets.cnn, UNet) and isinstance(nets.swin, SwinUNet)
    assert isinstance(nets.projector, ProjectionHeads)
    prefixes = {k.split(".")[0] for k in nets.state_dict()}
    assert prefixes == {"cnn", "swin", "projector"}
    counts = nets.count_parameters()
    assert counts["cnn"] == n_params(nets.cnn)
    assert counts["swin"] == n_params(nets.swin)
    assert counts["projector"] == n_params(nets.projector)
    assert counts["total"] == n_params(nets)
    assert nets.projector.cnn[0][0].in_channels == 8
    assert nets.projector.cnn[1][0].in_channels == 32
    assert nets.projector.swin[0][0].in_channels == 24
    assert nets.projector.swin[1][0].in_channels == 48
    assert nets.projector.shared[0].out_channels == 16


def test_build_networks_paper_defaults_count():
    nets = build_networks(4, 224)
    counts = nets.count_parameters()
    print("paper profile parameter counts:", counts)
    assert counts["cnn"] == 1_944_324
    assert 26.5e6 < counts["swin"] < 28.0e6
    assert counts["projector"] == ((16 + 128 + 96 + 192) * 256 + 4 * 256 + 2 * (256 * 128 + 128))


def test_build_networks_rejects_bad_size():
    with pytest.raises(ValueError):
        build_networks(4, 100)


def test_gradients_reach_every_parameter():
    nets = tiny_networks(drop_path_rate=0.0)  # stochastic depth could drop a whole branch
    nets.train()
    x = torch.rand(2, 1, 64, 64)
    cnn_out, swin_out = nets.cnn(x), nets.swin(x)
    cnn_emb, swin_emb = nets.projector(cnn_out.features, swin_out.features)
    # random weights: plain sums are blind to LayerNorm / softmax / L2-norm outputs
    tensors = [cnn_out.logits, swin_out.logits, *cnn_out.features, *swin_out.features, *cnn_emb, *swin_emb]
    loss = sum((t * torch.randn_like(t)).sum() for t in tensors)
    loss.backward()
    missing = [n for n, p in nets.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


# ---------------------------------------------------------------------------- pretrained loading


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


def to_microsoft_layout(sd: dict) -> dict:
    """timm keys -> original Swin keys (patch merging at the end of the previous stage)."""
    out = {}
    for k, v in sd.items():
        if ".downsample." in k:
            i = int(k.split(".")[1])
            k = k.replace(f"layers.{i}.downsample", f"layers.{i - 1}.downsample")
        k = k.replace("head.fc.", "head.")
        out[k] = v
    return out


def assert_encoder_equals(net: SwinUNet, sd: dict):
    enc = net.encoder.state_dict()
    for k, v in enc.items():
        assert torch.equal(v, sd[k]), k


@pytest.mark.parametrize("wrap", ["plain", "model", "state_dict", "safetensors", "microsoft"])
def test_load_pretrained_swin(tmp_path, wrap):
    src = timm_swin()
    sd = {k: v.clone() for k, v in src.state_dict().items()}
    if wrap == "safetensors":
        from safetensors.torch import save_file

        path = tmp_path / "swin.safetensors"
        save_file(sd, str(path))
    else:
        path = tmp_path / "swin.pth"
        payload = {
            "plain": sd,
            "model": {"model": sd},
            "state_dict": {"state_dict": sd, "epoch": 3},
            "microsoft": {"model": to_microsoft_layout(sd)},
        }[wrap]
        torch.save(payload, path)

    net = SwinUNet(num_classes=3, **TINY)
    before = {k: v.clone() for k, v in net.decoder.state_dict().items()}
    report = load_pretrained_swin(net, path)

    assert_encoder_equals(net, sd)
    n_enc = len(net.encoder.state_dict())
    assert report["loaded"] == n_enc
    assert report["missing"] == []
    assert report["skipped"] == ["head.fc.bias", "head.fc.weight"]
    assert report["decoder_copied"] == 3 * 2 * TENSORS_PER_BLOCK
    dec = net.decoder.state_dict()
    for level in range(3):
        for blk in range(2):
            for name in ("attn.qkv.weight", "mlp.fc2.bias", "attn.relative_position_bias_table"):
                key = f"{level}.blocks.{blk}.{name}"
                assert torch.equal(dec[key], sd[f"layers.{level}.blocks.{blk}.{name}"]), key
    # fusion / expansion layers have no encoder counterpart: untouched
    assert torch.equal(dec["1.fuse.weight"], before["1.fuse.weight"])
    assert not torch.equal(dec["0.blocks.0.attn.qkv.weight"], before["0.blocks.0.attn.qkv.weight"])
    out = net(torch.rand(1, 1, 64, 64))
    assert torch.isfinite(out.logits).all()


def test_load_pretrained_swin_deeper_checkpoint_and_other_window(tmp_path):
    # Swin-T-like depths (2, 2, 6, 2) and window 4 into a (2, 2, 2, 2) model with window 2
    src = timm_swin(depths=(2, 2, 6, 2))
    sd = src.state_dict()
    path = tmp_path / "swin_t.pth"
    torch.save({"model": sd}, path)
    net = SwinUNet(num_classes=2, **dict(TINY, window_size=2))
    report = load_pretrained_swin(net, path)
    assert report["missing"] == []
    assert report["loaded"] == len(net.encoder.state_dict())
    extra = [k for k in report["skipped"] if k.startswith("layers.2.blocks.")]
    assert len(extra) == 4 * TENSORS_PER_BLOCK  # blocks 2..5 of stage 2
    assert all(int(k.split(".")[3]) >= 2 for k in extra)
    # bias tables were resized (7x7 -> 3x3 relative offsets), not dropped
    table = net.encoder.layers[0].blocks[0].attn.relative_position_bias_table
    assert table.shape == (9, 1)
    src_table = sd["layers.0.blocks.0.attn.relative_position_bias_table"]
    assert src_table.shape == (49, 1)
    expected = resize_rel_pos_bias_table(src_table, new_window_size=(2, 2), new_bias_shape=(9, 1))
    assert torch.allclose(table, expected)
    assert torch.equal(
        net.encoder.layers[0].blocks[0].attn.qkv.weight, sd["layers.0.blocks.0.attn.qkv.weight"]
    )
    assert torch.equal(net.decoder[0].blocks[0].attn.relative_position_bias_table, table)
    assert report["decoder_copied"] == 3 * 2 * TENSORS_PER_BLOCK


def test_load_pretrained_swin_skips_shape_mismatch(tmp_path):
    # a wider Swin (embed 32): only the relative position tables (same heads/window) fit
    src = timm_swin(embed_dim=32)
    path = tmp_path / "wide.pth"
    torch.save(src.state_dict(), path)
    net = SwinUNet(num_classes=2, **TINY)
    report = load_pretrained_swin(net, path)
    assert report["loaded"] == 8  # one bias table per encoder block
    assert "patch_embed.proj.weight" in report["skipped"]
    assert "patch_embed.proj.weight" in report["missing"]
    assert "layers.0.blocks.0.attn.qkv.weight" in report["skipped"]
    assert report["decoder_copied"] == 6
    assert torch.equal(
        net.encoder.layers[1].blocks[1].attn.relative_position_bias_table,
        src.state_dict()["layers.1.blocks.1.attn.relative_position_bias_table"],
    )


def test_load_pretrained_swin_unrelated_file(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.rand(8, 3, 3, 3), "fc.bias": torch.rand(4)}, path)
    with pytest.raises(ValueError, match="no Swin Transformer weights found"):
        load_pretrained_swin(SwinUNet(**TINY), path)


def test_load_pretrained_swin_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_pretrained_swin(SwinUNet(**TINY), tmp_path / "nope.pth")


def test_load_pretrained_swin_timm_not_cached(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pass the file path"):
        load_pretrained_swin(SwinUNet(**TINY), "timm")


class TestImagenetWeights:
    """``imagenet``: from the HF cache, or downloaded once; offline says what to do."""

    def test_offline_without_cache_says_how_to_get_them(self, monkeypatch):
        from napari_mcsc.networks import imagenet_weights

        monkeypatch.setattr(imagenet_weights, "timm_weights_in_cache", lambda: None)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        calls = []
        with pytest.raises(PretrainedWeightsError, match="HF_HUB_OFFLINE is set"):
            imagenet_weights.imagenet_swin_weights(download=lambda **kw: calls.append(kw))
        assert calls == []  # nothing was even tried

    def test_online_downloads_once_then_loads(self, tmp_path, monkeypatch):
        from safetensors.torch import save_file

        from napari_mcsc.networks import imagenet_weights, pretrained

        path = tmp_path / "model.safetensors"
        sd = {k: v.clone() for k, v in timm_swin().state_dict().items()}
        save_file(sd, str(path))
        monkeypatch.setattr(imagenet_weights, "timm_weights_in_cache", lambda: None)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        calls = []

        def fake_download(repo_id, filename):
            calls.append((repo_id, filename))
            return path

        assert imagenet_weights.imagenet_swin_weights(download=fake_download) == str(path)
        assert calls and calls[0][1] == "model.safetensors" and calls[0][0].startswith("timm/")
        # load_pretrained_swin looks the function up in its own module
        monkeypatch.setattr(pretrained, "imagenet_swin_weights", lambda: str(path))
        net = SwinUNet(num_classes=3, **TINY)
        load_pretrained_swin(net, "imagenet")
        assert_encoder_equals(net, sd)

    def test_a_failed_download_is_explained(self, monkeypatch):
        from napari_mcsc.networks import imagenet_weights

        monkeypatch.setattr(imagenet_weights, "timm_weights_in_cache", lambda: None)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

        def no_network(**_kw):
            raise OSError("name resolution failed")

        with pytest.raises(PretrainedWeightsError, match="internet connection"):
            imagenet_weights.imagenet_swin_weights(download=no_network)
