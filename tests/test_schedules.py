"""training/schedules.py: learning-rate and loss-weight schedules, which follow iterations, not time."""

from __future__ import annotations

import math
import time

import pytest

from napari_mcsc.training import Trainer, profile
from napari_mcsc.training.schedules import poly_lr, sigmoid_rampup, warmup_poly_lr


class TestSchedules:
    def test_poly_decay(self):
        assert poly_lr(1.0, 0.0) == 1.0 and poly_lr(1.0, 1.0) == 0.0
        assert poly_lr(1.0, 0.5) == pytest.approx(0.5**0.9)

    def test_warmup_then_poly(self):
        assert warmup_poly_lr(1.0, 0.0, 0.1) == pytest.approx(1e-3)
        assert warmup_poly_lr(1.0, 0.05, 0.1) == pytest.approx(1e-3 + (1 - 1e-3) * 0.5)
        assert warmup_poly_lr(1.0, 0.1, 0.1) == pytest.approx(1.0)
        assert warmup_poly_lr(1.0, 1.0, 0.1) == pytest.approx(0.0)

    def test_sigmoid_rampup_matches_the_cross_teaching_schedule(self):
        assert sigmoid_rampup(0.0, 0.75) == pytest.approx(math.exp(-5))
        assert sigmoid_rampup(0.75, 0.75) == 1.0 and sigmoid_rampup(0.9, 0.75) == 1.0


class TestSemiSupervisedSchedule:
    def test_cross_teaching_ramp_starts_when_unlabelled_slices_enter(self):
        cfg = profile("fast")
        assert cfg.supervised_warmup > 0
        first_semi = cfg.supervised_warmup + 1e-9
        # At the first semi-supervised step the weight is near 0, not the profile's maximum.
        trainer_weight = cfg.consistency_max * 0.0067  # exp(-5)
        assert cfg.semi_progress(cfg.supervised_warmup / 2) == 0.0
        assert cfg.semi_progress(first_semi) == pytest.approx(0.0, abs=1e-6)
        assert cfg.semi_progress(1.0) == 1.0
        from napari_mcsc.training.schedules import sigmoid_rampup

        weight = cfg.consistency_max * sigmoid_rampup(cfg.semi_progress(first_semi), cfg.consistency_rampup)
        assert weight == pytest.approx(trainer_weight, rel=0.01)
        end_of_ramp = cfg.supervised_warmup + cfg.consistency_rampup * (1 - cfg.supervised_warmup)
        assert cfg.semi_progress(end_of_ramp) == pytest.approx(cfg.consistency_rampup)

    def test_contrastive_warmup_takes_effect_after_the_supervised_warmup(self):
        cfg = profile("fast")
        inside = cfg.supervised_warmup + 0.5 * cfg.contrastive_warmup * (1 - cfg.supervised_warmup)
        assert 0 < cfg.semi_progress(inside) < cfg.contrastive_warmup

    def test_paper_profile_schedules_are_unchanged(self):
        cfg = profile("paper")
        assert cfg.supervised_warmup == 0 and cfg.semi_progress(0.3) == pytest.approx(0.3)


def _ct_weights(trainer: Trainer) -> list[float]:
    return [round(e.losses["ct_weight"], 9) for e in trainer.run()]


def test_same_weights_at_any_speed(tiny_config, tiny_slice_set, monkeypatch):
    cfg = tiny_config.replace(iterations=6, supervised_warmup=0.34, consistency_rampup=0.5)
    fast = _ct_weights(Trainer(cfg, tiny_slice_set))
    original = Trainer._step

    def slow_step(self, *args, **kwargs):
        time.sleep(0.05)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_step", slow_step)
    slow = _ct_weights(Trainer(cfg, tiny_slice_set))
    assert fast == slow and len(fast) == 6
    assert fast[:2] == [fast[0]] * 2 and fast[-1] > fast[2]  # warm-up, then the ramp


@pytest.mark.usefixtures("_one_thread")
def test_the_learning_rate_stops_at_its_floor(tiny_config, tiny_slice_set):
    config = tiny_config.replace(method="sup", schedule_horizon=2, lr_floor=0.25, iterations=4)
    rates = [e.learning_rates["cnn"] for e in Trainer(config, tiny_slice_set).run()]
    assert rates[-1] == pytest.approx(0.25 * config.cnn_lr) and rates[0] == pytest.approx(config.cnn_lr)
