"""Runs are measured in iterations: schedules do not depend on the machine's speed, and a
run that ends short of its iterations (time cap, Stop) says so."""

from __future__ import annotations

import time

import pytest

from napari_mcsc.training import Trainer, profile
from napari_mcsc.training.outcome import RunOutcome


def _ct_weights(trainer: Trainer) -> list[float]:
    return [round(e.losses["ct_weight"], 9) for e in trainer.run()]


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


class TestScheduleFollowsIterations:
    def test_same_weights_at_any_speed(self, tiny_config, tiny_slice_set, monkeypatch):
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

    def test_complete_run_reports_no_warning(self, tiny_config, tiny_slice_set):
        trainer = Trainer(tiny_config.replace(iterations=2), tiny_slice_set)
        list(trainer.run())
        assert trainer.outcome.complete and trainer.outcome.warning() is None
        entry = trainer.model.history[-1]
        assert entry["complete"] is True and entry["planned_iterations"] == 2
        assert entry["ended_by"] == "iterations"


class TestIncompleteRunsWarn:
    def test_time_cap_ends_the_run_and_warns(self, tiny_config, tiny_slice_set):
        trainer = Trainer(tiny_config.replace(iterations=10_000, max_seconds=0.5), tiny_slice_set)
        events = list(trainer.run())
        assert 1 <= len(events) < 10_000
        assert events[-1].total == 10_000  # the plan is not rescaled to the cap
        outcome = trainer.outcome
        assert not outcome.complete and outcome.ended_by == "time cap"
        text = outcome.warning()
        assert f"{outcome.done} of the 10000 iterations" in text and "time cap" in text
        assert trainer.model.history[-1]["complete"] is False

    def test_stop_warns(self, tiny_config, tiny_slice_set):
        trainer = Trainer(tiny_config.replace(iterations=50), tiny_slice_set)
        for event in trainer.run():
            if event.iteration == 2:
                trainer.request_stop()
        assert trainer.outcome.ended_by == "stop" and trainer.outcome.done == 2
        assert "stopped after 2 of the 50 iterations" in trainer.outcome.warning()

    def test_eta_follows_the_planned_iterations(self, tiny_config, tiny_slice_set):
        trainer = Trainer(tiny_config.replace(iterations=4), tiny_slice_set)
        events = list(trainer.run())
        first = events[0]
        assert first.eta_seconds == pytest.approx(3 * first.seconds_per_iteration)
        assert events[-1].eta_seconds == 0.0

    def test_outcome_dict_has_the_fields_summaries_use(self):
        row = RunOutcome(planned=10, done=4, ended_by="stop", seconds=1.0).to_dict()
        assert row["complete"] is False and row["iterations"] == 4 and row["planned_iterations"] == 10


class TestCommandLine:
    def test_train_with_a_cap_prints_a_warning(self, tmp_path, capsys, phantoms):
        import numpy as np

        from napari_mcsc.cli import main
        from napari_mcsc.data.phantom import paint_slices
        from napari_mcsc.io import Geometry, write_volume

        p = phantoms[0]
        geometry = Geometry.from_zyx(spacing_zyx=(1.0, 1.0, 1.0))
        write_volume(tmp_path / "img.nii.gz", p.image.astype(np.float32), geometry)
        write_volume(tmp_path / "lab.nii.gz", paint_slices(p.labels, [2, 5]).astype(np.uint8), geometry)
        code = main(
            [
                "train",
                "--image",
                str(tmp_path / "img.nii.gz"),
                "--labels",
                str(tmp_path / "lab.nii.gz"),
                "--out",
                str(tmp_path / "m.pt"),
                "--device",
                "cpu",
                "--iterations",
                "1000",
                "--max-seconds",
                "0.5",
                "--quiet",
            ]
        )
        assert code == 0 and (tmp_path / "m.pt").exists()
        err = capsys.readouterr().err
        assert "warning: training is incomplete" in err and "of the 1000 iterations" in err

    @pytest.mark.parametrize("value", ["nan", "inf", "-1"])
    def test_nonsense_time_cap_is_a_usage_error(self, tmp_path, value, capsys):
        from napari_mcsc.cli import main

        code = main(
            [
                "train",
                "--image",
                "x.nii.gz",
                "--labels",
                "y.nii.gz",
                "--out",
                str(tmp_path / "m.pt"),
                "--max-seconds",
                value,
            ]
        )
        assert code == 2 and "--max-seconds" in capsys.readouterr().err

    def test_demo_shortfall_rules(self):
        from napari_mcsc.commands.demo import EXPECTED_DICE, _shortfall

        done = RunOutcome(planned=5, done=5, ended_by="iterations", seconds=1.0)
        assert _shortfall(done, EXPECTED_DICE + 0.01) is None
        assert "below" in _shortfall(done, EXPECTED_DICE - 0.2)
        assert "below" in _shortfall(done, float("nan"))


class TestUnlabelledPaths:
    def test_folders_globs_and_files_expand_to_volumes(self, tmp_path):
        import numpy as np

        from napari_mcsc.io import Geometry, expand_volume_paths, write_volume

        folder = tmp_path / "study"
        folder.mkdir()
        geometry = Geometry.from_zyx(spacing_zyx=(1.0, 1.0, 1.0))
        for name in ("b.nii.gz", "a.mha", "c.nrrd"):
            write_volume(folder / name, np.zeros((2, 4, 4), np.float32), geometry)
        (folder / "notes.txt").write_text("not a volume")
        assert [p.name for p in expand_volume_paths([folder])] == ["a.mha", "b.nii.gz", "c.nrrd"]
        assert [p.name for p in expand_volume_paths([str(folder / "*.nii.gz")])] == ["b.nii.gz"]
        both = expand_volume_paths([folder / "a.mha", folder])
        assert len(both) == 3  # a file named twice is read once

    def test_an_empty_folder_is_a_usage_error(self, tmp_path, capsys):
        from napari_mcsc.cli import main

        empty = tmp_path / "empty"
        empty.mkdir()
        code = main(
            [
                "train",
                "--image",
                "x.nii.gz",
                "--labels",
                "y.nii.gz",
                "--out",
                str(tmp_path / "m.pt"),
                "--unlabelled",
                str(empty),
            ]
        )
        assert code == 2 and "no volume found" in capsys.readouterr().err
