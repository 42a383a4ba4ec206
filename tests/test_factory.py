"""networks/factory.py: the three networks built together, and gradients that reach them all."""

from __future__ import annotations

import pytest
import torch

from napari_mcsc.networks import Networks, ProjectionHeads, SwinUNet, UNet, build_networks
from network_helpers import n_params


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


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
