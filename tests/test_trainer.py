"""training/trainer.py: events every iteration, stop anywhere with a usable model, warm starts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_mcsc.training import Trainer, profile


class TestTrainer:
    @pytest.mark.parametrize("method", ["sup", "ct", "mcsc"])
    def test_yields_one_event_per_iteration_with_losses(self, tiny_config, tiny_slice_set, method):
        trainer = Trainer(tiny_config.replace(method=method), tiny_slice_set)
        events = list(trainer.run())
        assert [e.iteration for e in events] == [1, 2, 3]
        assert events[-1].total == 3 and events[-1].progress == pytest.approx(1.0)
        expected = {
            "sup": {"sup_cnn"},
            "ct": {"sup_cnn", "sup_swin", "ct_cnn", "ct_swin"},
            "mcsc": {"sup_cnn", "sup_swin", "ct_cnn", "ct_swin", "con_full", "con_low"},
        }
        assert expected[method] <= set(events[0].losses)
        assert all(np.isfinite(v) for v in events[-1].losses.values())
        assert (
            set(events[0].learning_rates)
            == {"sup": {"cnn"}, "ct": {"cnn", "swin"}, "mcsc": {"cnn", "swin", "projector"}}[method]
        )
        assert trainer.model.trained_iterations == 3
        assert trainer.model.history[-1]["iterations"] == 3

    def test_supervised_warmup_uses_painted_slices_only(self, tiny_config, tiny_slice_set):
        trainer = Trainer(tiny_config.replace(iterations=4, supervised_warmup=0.5), tiny_slice_set)
        events = list(trainer.run())
        assert "ct_cnn" not in events[0].losses and "ct_cnn" not in events[1].losses
        assert "ct_cnn" in events[2].losses and "ct_cnn" in events[3].losses

    def test_training_changes_the_weights_it_should(self, tiny_config, tiny_slice_set):
        trainer = Trainer(tiny_config.replace(method="sup", iterations=2), tiny_slice_set)
        before = {k: v.clone() for k, v in trainer.model.networks.state_dict().items()}
        list(trainer.run())
        after = trainer.model.networks.state_dict()
        changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
        assert "cnn" in changed and "swin" not in changed and "projector" not in changed

    def test_patches_train_the_cnn_which_still_predicts_whole_slices(
        self, tiny_config, tiny_slice_set, phantoms
    ):
        from napari_mcsc.inference import predict_volume

        seen = []
        config = tiny_config.replace(method="sup", iterations=2, patch_size=32)
        trainer = Trainer(config, tiny_slice_set)
        trainer.model.networks.cnn.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape))
        list(trainer.run())
        assert seen and all(shape[-2:] == (32, 32) for shape in seen)  # tiny_config's slices: 64 px
        pred = predict_volume(trainer.model, phantoms[0].image, uncertainty=False)
        assert pred.labels.shape == phantoms[0].image.shape

    def test_a_run_leaves_the_squares_for_whole_slices_after_patch_share(self, tiny_config, tiny_slice_set):
        seen = []
        config = tiny_config.replace(method="sup", iterations=5, patch_size=32, patch_share=0.6)
        trainer = Trainer(config, tiny_slice_set)
        cnn = trainer.model.networks.cnn
        cnn.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[-1]))
        list(trainer.run())
        assert seen == [32, 32, 32, 64, 64]  # 3 of 5 iterations on squares, then tiny_config's 64 px

    def test_stop_at_a_yield_leaves_a_usable_model(self, tiny_config, tiny_slice_set, phantoms):
        from napari_mcsc.inference import predict_volume

        trainer = Trainer(tiny_config.replace(iterations=1000), tiny_slice_set)
        run = trainer.run()
        for event in run:
            if event.iteration == 2:
                break
        run.close()
        assert trainer.model.trained_iterations == 2
        assert not trainer.model.networks.training  # back in eval mode
        pred = predict_volume(trainer.model, phantoms[0].image, uncertainty=True)
        assert pred.labels.shape == phantoms[0].image.shape

    def test_request_stop_ends_after_the_current_iteration(self, tiny_config, tiny_slice_set):
        trainer = Trainer(tiny_config.replace(iterations=1000), tiny_slice_set)
        seen = []
        for event in trainer.run():
            seen.append(event.iteration)
            if event.iteration == 2:
                trainer.request_stop()
        assert seen == [1, 2]

    def test_time_budget_ends_the_run(self, tiny_config, tiny_slice_set):
        trainer = Trainer(tiny_config.replace(iterations=100_000, max_seconds=2.0), tiny_slice_set)
        events = list(trainer.run())
        # the run's own clock, not the test's: setting up may take long on a busy machine
        assert trainer.outcome.ended_by == "time cap"
        # it ends at the first iteration boundary past the cap: no step starts after it (a
        # bound in seconds on the last step would fail on a loaded machine)
        assert events[-1].elapsed >= 2.0
        assert all(e.elapsed < 2.0 for e in events[:-1])
        assert events[-1].eta_seconds == pytest.approx(0.0, abs=1.0)
        assert 1 <= len(events) < 100_000

    def test_preview_of_the_requested_slice(self, tiny_config, tiny_slice_set):
        trainer = Trainer(tiny_config, tiny_slice_set, preview_request=lambda: (0, 4))
        previews = [e.preview for e in trainer.run() if e.preview is not None]
        assert previews, "no preview was produced"
        assert previews[0].slice_index == 4 and previews[0].labels.shape == (64, 64)
        assert set(np.unique(previews[0].labels)) <= set(tiny_slice_set.mapping.values)

    def test_seeded_runs_are_reproducible(self, tiny_config, tiny_slice_set):
        losses = []
        for _ in range(2):
            events = list(Trainer(tiny_config.replace(iterations=2), tiny_slice_set).run())
            losses.append(events[-1].losses["total"])
        assert losses[0] == pytest.approx(losses[1], rel=1e-5)

    def test_warm_start_keeps_weights_and_adds_new_classes(self, tiny_config, tiny_slice_set, phantoms):
        from napari_mcsc.data.labels import LabelMapping
        from napari_mcsc.data.phantom import paint_slices
        from napari_mcsc.data.slices import AnnotatedVolume, build_slice_set

        first = Trainer(tiny_config.replace(iterations=2), tiny_slice_set)
        list(first.run())
        # Warm start keeps every weight before the first new step.
        again = Trainer(tiny_config.replace(iterations=1), tiny_slice_set, init=first.model)
        for k, v in first.model.networks.state_dict().items():
            assert torch.equal(v, again.model.networks.state_dict()[k]), k
        # A new label value: the classifier grows, everything else is kept.
        labels = paint_slices(phantoms[0].labels, [2, 5])
        labels[3, :4, :4] = 9
        mapping = LabelMapping((*tiny_slice_set.mapping.values, 9))
        data = build_slice_set([AnnotatedVolume(phantoms[0].image, labels)], image_size=64, mapping=mapping)
        grown = Trainer(tiny_config.replace(iterations=1), data, init=first.model)
        assert grown.model.num_classes == 5
        old, new = first.model.networks.state_dict(), grown.model.networks.state_dict()
        changed = [k for k in old if old[k].shape != new[k].shape or not torch.equal(old[k], new[k])]
        assert changed and all("classifier" in k for k in changed), changed
        list(grown.run())
        assert grown.model.trained_iterations == 3

    def test_warm_start_keeps_the_model_architecture(self, tiny_config, tiny_slice_set):
        first = Trainer(tiny_config.replace(iterations=1), tiny_slice_set)
        list(first.run())
        other = profile("fast", image_size=64, max_seconds=None, iterations=1, device="cpu")
        again = Trainer(other, tiny_slice_set, init=first.model)
        assert again.config.network.swin_embed_dim == tiny_config.network.swin_embed_dim
        assert again.config.network.unet_channels == tiny_config.network.unet_channels
        assert again.config.network.swin_drop_path == other.network.swin_drop_path  # not shape


def test_eta_follows_the_planned_iterations(tiny_config, tiny_slice_set):
    trainer = Trainer(tiny_config.replace(iterations=4), tiny_slice_set)
    events = list(trainer.run())
    first = events[0]
    assert first.eta_seconds == pytest.approx(3 * first.seconds_per_iteration)
    assert events[-1].eta_seconds == 0.0


class TestPrecisionAndLayout:
    """Mixed precision where the device computes it natively; channels-last convolutions."""

    def _conv_output_dtypes(self, trainer) -> list[torch.dtype]:
        seen: list[torch.dtype] = []
        conv = trainer.model.networks.cnn.encoder[0][0]
        conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
        return seen

    def test_a_bfloat16_device_trains_the_cnn_in_bfloat16_with_float32_weights(
        self, tiny_config, tiny_slice_set, monkeypatch
    ):
        import napari_mcsc.training.trainer as trainer_module

        monkeypatch.setattr(trainer_module, "mixed_precision_dtype", lambda device: torch.bfloat16)
        trainer = Trainer(tiny_config.replace(method="sup", iterations=2, device="cpu"), tiny_slice_set)
        seen = self._conv_output_dtypes(trainer)
        events = list(trainer.run())
        assert trainer.live.amp_dtype is torch.bfloat16
        assert torch.bfloat16 in seen  # the training passes
        assert all(np.isfinite(v) for v in events[-1].losses.values())
        assert {p.dtype for p in trainer.model.networks.parameters()} == {torch.float32}
        assert trainer.model.history[-1]["precision"] == "bfloat16"  # the model says how it was trained

    def test_amp_off_trains_in_float32(self, tiny_config, tiny_slice_set, monkeypatch):
        import napari_mcsc.training.trainer as trainer_module

        monkeypatch.setattr(trainer_module, "mixed_precision_dtype", lambda device: torch.bfloat16)
        trainer = Trainer(tiny_config.replace(method="sup", iterations=2, amp=False), tiny_slice_set)
        seen = self._conv_output_dtypes(trainer)
        list(trainer.run())
        assert trainer.live.amp_dtype is None and set(seen) == {torch.float32}
        assert trainer.model.history[-1]["precision"] == "float32"

    def test_a_channels_last_cnn_saves_and_loads_to_the_same_prediction(
        self, tiny_config, tiny_slice_set, phantoms, tmp_path
    ):
        from napari_mcsc.checkpoint import load_model, save_model
        from napari_mcsc.inference import predict_volume

        trainer = Trainer(tiny_config.replace(method="sup", iterations=2, device="cpu"), tiny_slice_set)
        list(trainer.run())
        weight = trainer.model.networks.cnn.encoder[1][0].weight  # 16 input channels
        assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
        loaded = load_model(save_model(trainer.model, tmp_path / "m.pt"))
        image = phantoms[0].image
        np.testing.assert_array_equal(
            predict_volume(trainer.model, image).labels, predict_volume(loaded, image).labels
        )
