"""training/spec.py: one reading of a person's choices for every front end."""

import pytest

from napari_mcsc.training.config import PROFILES
from napari_mcsc.training.spec import RunChoices, RunSpecError, profile_config, run_config


def test_no_choice_gives_the_profile_itself():
    for name in PROFILES:
        assert run_config(RunChoices(name)) == profile_config(name)
        assert run_config(RunChoices(name)).profile == name


@pytest.mark.parametrize("cap", [None, 0, 0.0])
def test_a_zero_time_cap_means_no_cap(cap):
    assert run_config(RunChoices(max_seconds=cap)).max_seconds is None


@pytest.mark.parametrize("cap", [-1.0, float("inf"), float("nan")])
def test_an_impossible_time_cap_is_refused_with_what_to_give(cap):
    with pytest.raises(RunSpecError, match="seconds >= 0"):
        run_config(RunChoices(max_seconds=cap))


def test_iterations_below_one_are_refused():
    with pytest.raises(RunSpecError, match="at least 1"):
        run_config(RunChoices(iterations=0))
    assert run_config(RunChoices(iterations=7)).iterations == 7


def test_another_batch_size_keeps_the_profiles_share_of_painted_slices():
    base = profile_config("fast")
    share = base.labelled_batch_size / base.batch_size
    config = run_config(RunChoices(batch_size=12))
    assert config.batch_size == 12 and config.labelled_batch_size == round(12 * share)
    small = run_config(RunChoices(batch_size=2))
    assert (small.batch_size, small.labelled_batch_size) == (2, 1)  # one of each at least
    with pytest.raises(RunSpecError, match="at least 2"):
        run_config(RunChoices(batch_size=1))


def test_swin_weights_need_a_method_that_trains_the_swin_unet(tmp_path):
    weights = tmp_path / "swin.pth"
    weights.write_bytes(b"x")
    with pytest.raises(RunSpecError, match="choose method mcsc"):
        run_config(RunChoices("fast", method="sup", swin_weights=str(weights)))
    config = run_config(RunChoices("fast", method="mcsc", swin_weights=str(weights)))
    assert config.swin_pretrained == str(weights) and config.network.swin_embed_dim == 96
    assert run_config(RunChoices(method="mcsc", swin_weights="  ")).swin_pretrained is None


def test_a_missing_weights_file_and_uncached_timm_weights_are_refused(tmp_path, monkeypatch):
    with pytest.raises(RunSpecError, match="not found"):
        run_config(RunChoices(method="mcsc", swin_weights=str(tmp_path / "none.pth")))
    from napari_mcsc.networks import imagenet_weights

    monkeypatch.setattr(imagenet_weights, "timm_weights_in_cache", lambda: None)
    with pytest.raises(RunSpecError, match="not in the local Hugging Face cache"):
        run_config(RunChoices(method="mcsc", swin_weights="timm"))


def test_an_unknown_device_profile_or_setting_says_what_to_choose():
    with pytest.raises(RunSpecError, match="unknown device"):
        run_config(RunChoices(device="tpu"))
    with pytest.raises(RunSpecError, match="unknown profile"):
        run_config(RunChoices("huge"))
    with pytest.raises(RunSpecError, match="strong_view"):
        run_config(RunChoices(method="mcsc", settings={"teacher": "same_pass", "strong_view": True}))
    with pytest.raises(RunSpecError, match="method must be one of"):
        run_config(RunChoices(method="unet"))


def test_other_settings_pass_through_by_name():
    config = run_config(RunChoices(method="mcsc", settings={"teacher": "no_grad", "swin_embed_dim": 48}))
    assert config.teacher == "no_grad" and config.network.swin_embed_dim == 48
