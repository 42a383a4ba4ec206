"""networks/unet.py: the CNN's shapes, size, classifier and checks."""

from __future__ import annotations

import pytest
import torch

from napari_mcsc.networks import SegOutput, UNet
from network_helpers import n_params


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


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
