"""training/config.py: the profiles and the checks of a training configuration."""

from __future__ import annotations

import math

import pytest

from napari_mcsc.training import TrainConfig, profile
from napari_mcsc.training.config import PROFILES
from napari_mcsc.training.methods import METHODS


class TestConfig:
    def test_paper_profile_holds_the_methods_values(self):
        cfg = profile("paper")
        assert (cfg.image_size, cfg.batch_size, cfg.labelled_batch_size) == (224, 4, 2)
        assert (cfg.iterations, cfg.max_seconds) == (40_000, None)
        assert (cfg.cnn_lr, cfg.swin_lr, cfg.projector_lr) == (5e-4, 1e-4, 5e-4)
        assert cfg.temperature == 0.1 and cfg.contrastive_weight == 0.001
        assert cfg.consistency_max == 0.1
        assert cfg.contrastive_warmup * cfg.iterations == pytest.approx(3000)
        assert cfg.consistency_rampup * cfg.iterations == pytest.approx(30000)
        net = cfg.network
        assert (net.swin_embed_dim, net.swin_window, net.swin_heads) == (96, 7, (3, 6, 12, 24))

    def test_the_paper_profile_keeps_the_papers_targets_and_the_fast_one_filters_them(self):
        paper, fast = profile("paper"), profile("fast")
        assert (paper.teacher, paper.pseudo_threshold, paper.strong_view) == ("same_pass", 0.0, False)
        assert (fast.teacher, fast.pseudo_threshold, fast.strong_view) == ("no_grad", 0.95, True)
        assert not paper.pseudo_agreement and not fast.pseudo_agreement

    def test_each_profile_names_its_method(self):
        # fast: the CNN on the painted slices, which MCSC did not beat at this run length
        # (docs/benchmarks.md, "20 validation volumes on a GPU"); paper: MCSC, as published
        assert profile("fast").method == "sup" and profile().method == "sup"
        assert profile("paper").method == "mcsc"
        assert all("method" in values for values in PROFILES.values())
        assert TrainConfig() == profile("fast")  # the dataclass defaults are the fast profile
        assert profile("fast", method="mcsc").method == "mcsc"  # one choice away
        assert METHODS[0] == "mcsc"  # the full method first, then its ablations

    def test_profiles_state_their_run_length_in_iterations_without_a_time_cap(self):
        for name in ("fast", "paper"):
            cfg = profile(name)
            assert cfg.max_seconds is None and cfg.iterations >= 100

    def test_dict_round_trip(self):
        cfg = profile("paper", seed=3)
        assert TrainConfig.from_dict(cfg.to_dict()) == cfg

    def test_network_fields_are_saved_flat_and_read_flat_or_nested(self):
        cfg = profile("paper", swin_embed_dim=48)  # a network field by name, on the profile's
        assert cfg.network.swin_embed_dim == 48 and cfg.network.swin_window == 7
        flat = cfg.to_dict()
        assert flat["swin_embed_dim"] == 48 and flat["swin_heads"] == [3, 6, 12, 24]
        assert "network" not in flat  # the layout of every model file written so far
        nested = {k: v for k, v in flat.items() if k not in cfg.network.to_dict()}
        nested["network"] = cfg.network.to_dict()
        assert TrainConfig.from_dict(nested) == cfg
        assert cfg.replace(swin_embed_dim=24).network.swin_embed_dim == 24

    @pytest.mark.parametrize(
        ("changes", "match"),
        [
            ({"method": "xx"}, "method"),
            ({"image_size": 100}, "multiple of 32"),
            ({"image_size": 96}, "window"),
            ({"labelled_batch_size": 9}, "labelled_batch_size"),
            ({"max_seconds": -1}, "max_seconds"),
            ({"max_seconds": math.nan}, "max_seconds"),
            ({"max_seconds": math.inf}, "max_seconds"),
            ({"supervised_warmup": 1.0}, "supervised_warmup"),
            ({"augment_scale": (1.2, 0.8)}, "augment_scale"),
            ({"augment_elastic": 1.5}, "augment_elastic"),
            ({"augment_aspect": 0.5}, "augment_aspect"),
            ({"augmentation": "sideways"}, "upright"),
            ({"patch_size": 100}, "multiple of 16"),
            ({"patch_size": 160}, "multiple of 16"),
            ({"patch_size": 96, "method": "mcsc"}, "only the supervised method"),
            ({"patch_size": 96, "patch_share": 0.0}, "patch_share"),
            ({"patch_share": 1.5}, "patch_share"),
            ({"patch_foreground": -0.1}, "patch_foreground"),
        ],
    )
    def test_invalid_settings_are_refused(self, changes, match):
        with pytest.raises(ValueError, match=match):
            profile("fast", **changes)

    def test_the_augmentation_is_the_configs(self):
        cfg = profile("fast", augment_scale=(0.5, 2.0), augment_elastic=0.05, augment_aspect=1.3)
        aug = cfg.augmentation_settings()
        assert (aug.style, aug.scale_range, aug.elastic, aug.aspect) == ("strong", (0.5, 2.0), 0.05, 1.3)
        assert TrainConfig.from_dict(cfg.to_dict()) == cfg  # saved in the model, read back
        assert profile("paper").augmentation_settings().image_mode == "nearest"
        # the fast profile zooms 0.7-1.4 and does not deform (docs/benchmarks.md, section 23)
        assert (profile().augment_scale, profile().augment_elastic) == ((0.7, 1.4), 0.0)

    def test_unknown_profile(self):
        with pytest.raises(ValueError, match="unknown profile"):
            profile("slow")


def test_pretrained_swin_weights_bring_the_swin_t_width():
    cfg = profile("fast").with_pretrained_swin("imagenet")
    assert cfg.swin_pretrained == "imagenet" and cfg.network.swin_embed_dim == 96
    assert cfg.network.swin_heads == (3, 6, 12, 24)
    assert profile("fast").with_pretrained_swin(None).network == profile("fast").network
