"""networks/pretrained.py: Swin weights from a file (any common layout) or the timm cache."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch
from timm.layers import resize_rel_pos_bias_table

from napari_mcsc.networks import SwinUNet, load_pretrained_swin
from network_helpers import TINY, assert_encoder_equals, timm_swin

# tensors per Swin block: norm1 (2), rel-pos table, qkv (2), proj (2), norm2 (2), fc1 (2), fc2 (2)
TENSORS_PER_BLOCK = 13


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


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
