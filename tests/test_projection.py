"""networks/projection.py: the projection heads of the contrastive loss."""

from __future__ import annotations

import pytest
import torch

from napari_mcsc.networks import ProjectionHeads
from network_helpers import n_params


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


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
