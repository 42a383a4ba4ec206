"""networks/imagenet_weights.py: ImageNet Swin weights from the Hugging Face cache, or downloaded once."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

from cli_helpers import _one_line_error, _train
from napari_mcsc.networks import SwinUNet, load_pretrained_swin
from napari_mcsc.networks.imagenet_weights import PretrainedWeightsError
from network_helpers import TINY, assert_encoder_equals, timm_swin


@pytest.fixture()
def _seed():
    torch.manual_seed(0)


@pytest.mark.usefixtures("_seed")
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


@pytest.fixture()
def no_network(monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return calls


def test_timm_weights_not_cached_are_reported_without_network(
    pair, tmp_path, capsys, monkeypatch, no_network, no_training
):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    code = _train(pair, tmp_path / "m.pt", "--swin-weights", "timm", "--method", "mcsc")
    err = _one_line_error(capsys, code)
    assert "not in the local Hugging Face cache" in err
    assert no_network == [] and not no_training


def test_timm_weights_found_in_the_cache_without_network(tmp_path, monkeypatch, no_network):
    import huggingface_hub.constants as constants

    from napari_mcsc.networks.imagenet_weights import _timm_weights_repo, timm_weights_in_cache

    cache = tmp_path / "hub"
    repo = cache / f"models--{_timm_weights_repo().replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    weights = repo / "snapshots" / commit / "model.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"weights")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert Path(timm_weights_in_cache()) == weights
    assert no_network == []
