"""study/settings.py: the configuration of a study's rounds."""

from __future__ import annotations

import pytest

from napari_mcsc.study import StudySettings


def test_training_settings_reach_every_round_and_survive_the_session_file():
    targets = {"teacher": "no_grad", "pseudo_threshold": 0.9, "strong_view": True}
    settings = StudySettings(method="mcsc", device="cpu", training=targets)
    for first in (True, False):
        config = settings.train_config(first=first)
        assert (config.teacher, config.pseudo_threshold, config.strong_view) == ("no_grad", 0.9, True)
    assert StudySettings.from_dict(settings.to_dict()).training == targets


def test_the_study_schedule_wins_over_a_training_setting():
    settings = StudySettings(device="cpu", lr_floor=0.25, training={"lr_floor": 0.0})
    assert settings.train_config(first=False).lr_floor == 0.25


def test_a_wrong_training_setting_fails_when_the_study_is_made():
    with pytest.raises(ValueError, match="strong_view"):
        StudySettings(method="mcsc", device="cpu", training={"teacher": "same_pass", "strong_view": True})
    with pytest.raises(ValueError):
        StudySettings(device="cpu", training={"no_such_setting": 1})


def test_the_3d_consistent_mask_is_on_by_default_kept_and_an_older_session_file_gets_it():
    assert StudySettings(device="cpu").consistent_mask is True
    saved = StudySettings(device="cpu", consistent_mask=False).to_dict()
    assert StudySettings.from_dict(saved).consistent_mask is False
    older = {k: v for k, v in saved.items() if k != "consistent_mask"}
    assert StudySettings.from_dict(older).consistent_mask is True
