"""Targets the two networks teach each other: filters, the teacher pass, weak and strong
views, the EMA teacher and the pseudo-label figures (training/teachers.py)."""

from __future__ import annotations

import pytest
import torch

from napari_mcsc.data.augment import Augmentation
from napari_mcsc.data.strong_view import cutmix, strong_view
from napari_mcsc.losses import dice_loss
from napari_mcsc.losses.contrastive import IGNORE
from napari_mcsc.training import Trainer
from napari_mcsc.training.config import TrainConfig
from napari_mcsc.training.resume import Checkpointing, load_resume
from napari_mcsc.training.teachers import EmaTeachers, PseudoLabelMonitor, cross_targets, filter_labels


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    # Bit-for-bit comparisons need the same thread count in both runs.
    monkeypatch.setenv("NAPARI_MCSC_TORCH_THREADS", "1")


def test_masked_dice_is_the_dice_of_the_kept_pixels_alone():
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(2, 3, 6, 6, generator=g).softmax(dim=1)
    target = torch.randint(0, 3, (2, 6, 6), generator=g)
    masked = target.clone()
    masked[:, :, 3:] = IGNORE
    # The same Dice as on the left half only (the columns kept), and not the full Dice.
    left = dice_loss(probs[..., :3].contiguous(), target[..., :3].contiguous())
    assert dice_loss(probs, masked).item() == pytest.approx(left.item(), rel=1e-6)
    assert dice_loss(probs, masked).item() != pytest.approx(dice_loss(probs, target).item(), rel=1e-3)


def test_a_fully_ignored_batch_teaches_nothing():
    probs = torch.rand(1, 2, 4, 4).softmax(dim=1).requires_grad_()
    loss = dice_loss(probs, torch.full((1, 4, 4), IGNORE))
    loss.backward()
    assert loss.item() == 0.0 and probs.grad.abs().sum() == 0


def test_filter_keeps_confident_pixels_and_with_agreement_only_shared_labels():
    probs = torch.tensor([[0.97, 0.6, 0.2], [0.03, 0.4, 0.8]])[None, :, None, :]  # (1, 2, 1, 3)
    assert filter_labels(probs, 0.0).tolist() == [[[0, 0, 1]]]  # tau 0: the argmax everywhere
    assert filter_labels(probs, 0.75).tolist() == [[[0, IGNORE, 1]]]
    partner = torch.tensor([[[0, 0, 0]]])
    assert filter_labels(probs, 0.0, partner).tolist() == [[[0, 0, IGNORE]]]
    both = cross_targets(probs, probs.flip(1), 0.0, agreement=True)
    assert (both.for_cnn == IGNORE).all() and (both.for_swin == IGNORE).all()  # never agree


def _losses_of_one_step(config, data):
    trainer = Trainer(config.replace(iterations=1), data)
    return next(iter(trainer.run())).losses


def test_threshold_zero_reproduces_the_paper_targets(tiny_config, tiny_slice_set):
    """A threshold that keeps every pixel goes through the filter's code path; its losses
    must equal those of the unfiltered targets of the same pass, bit for bit."""
    paper = _losses_of_one_step(tiny_config, tiny_slice_set)
    filtered = _losses_of_one_step(tiny_config.replace(pseudo_threshold=1e-9), tiny_slice_set)
    assert paper["ct_cnn"] > 0
    for key in ("ct_cnn", "ct_swin", "con_full", "con_low", "total"):
        assert filtered[key] == pytest.approx(paper[key], rel=1e-6), key
    # And a real threshold changes them.
    strict = _losses_of_one_step(tiny_config.replace(pseudo_threshold=0.99), tiny_slice_set)
    assert strict["ct_cnn"] != pytest.approx(paper["ct_cnn"], rel=1e-3)


def test_the_teacher_pass_has_no_gradient_and_no_dropout(tiny_config, tiny_slice_set):
    trainer = Trainer(tiny_config.replace(teacher="no_grad", iterations=1), tiny_slice_set)
    seen = []

    def record(module, args, output):
        seen.append((torch.is_grad_enabled(), module.training, output.logits.requires_grad))

    hook = trainer.model.networks.swin.register_forward_hook(record)
    list(trainer.run())
    hook.remove()
    teacher, student = seen  # the teacher pass comes first, then the training pass
    assert teacher == (False, False, False)
    assert student == (True, True, True)
    # Eval mode, so the same weak view gets the same labels twice (dropout would vary them).
    weak = tiny_slice_set.unlabelled_images[:2, None]
    trainer.model.networks.train()
    first = trainer._teacher_targets(weak, None)
    second = trainer._teacher_targets(weak, None)
    assert torch.equal(first.for_cnn, second.for_cnn) and torch.equal(first.for_swin, second.for_swin)
    assert trainer.model.networks.cnn.training  # back in training mode after it


def test_strong_view_keeps_the_geometry_of_the_weak_view():
    """Intensity jitter without noise is monotone per image and blur moves no structure:
    bright pixels stay where they were."""
    weak = torch.zeros(3, 32, 32)
    weak[:, 8:16, 20:28] = 0.9
    weak += torch.linspace(0, 0.3, 32)  # a ramp, so order matters everywhere
    aug = Augmentation(style="strong", noise_std=0.0)
    g = torch.Generator().manual_seed(1)
    strong = strong_view(weak, aug, g)
    assert not torch.allclose(strong, weak)
    for w, s in zip(weak, strong, strict=True):
        assert (s[w > 0.85] > s[w < 0.35].max()).all()  # the square is still brightest, in place
        assert torch.allclose(s.mean(0).argsort()[-8:].sort().values, w.mean(0).argsort()[-8:].sort().values)


def test_cutmix_moves_labels_with_their_pixels():
    n = 4
    images = torch.arange(n, dtype=torch.float32)[:, None, None].expand(n, 16, 16).clone() / n
    labels = torch.arange(n)[:, None, None].expand(n, 16, 16).clone()
    truth = labels.clone() + 10
    g = torch.Generator().manual_seed(3)
    mixed, (mixed_labels, mixed_truth) = cutmix(images, [labels, truth], g)
    assert not torch.equal(mixed, images)  # some box was pasted
    assert torch.equal((mixed * n).round().long(), mixed_labels)
    assert torch.equal(mixed_truth, mixed_labels + 10)
    for i in range(n):  # every slice keeps part of itself
        assert (mixed_labels[i] == i).any()


def test_strong_view_needs_a_separate_teacher(tiny_config):
    with pytest.raises(ValueError, match="no_grad"):
        tiny_config.replace(strong_view=True)
    assert tiny_config.replace(strong_view=True, teacher="ema").strong_view


def test_ema_teachers_follow_the_students_slowly():
    student = torch.nn.Linear(2, 2)
    ema = EmaTeachers(student, torch.nn.Linear(1, 1), decay=0.9)
    before = ema.cnn.weight.detach().clone()
    with torch.no_grad():
        student.weight.add_(1.0)
    ema.update(student, ema.swin)
    torch.testing.assert_close(ema.cnn.weight, before + 0.1)
    assert not ema.cnn.training and not ema.cnn.weight.requires_grad


def _cut_after_two(trainer, tmp_path):
    """The resume point of ``trainer``'s run checkpointed and stopped after 2 iterations."""
    ckpt = Checkpointing(tmp_path / "run.checkpoint.pt", every=2)
    for event in trainer.run():
        if ckpt.due(event.iteration):
            ckpt.save(trainer, event.iteration)
        if event.iteration == 2:
            break
    return load_resume(ckpt.path)


def test_ema_run_resumes_like_an_uninterrupted_one(tiny_config, tiny_slice_set, tmp_path):
    config = tiny_config.replace(teacher="ema", strong_view=True, pseudo_threshold=0.5, iterations=4)
    whole = Trainer(config, tiny_slice_set)
    last = list(whole.run())[-1]
    resume = _cut_after_two(Trainer(config, tiny_slice_set), tmp_path)
    assert resume.state["ema"] is not None
    second = Trainer(config, tiny_slice_set, resume=resume)
    resumed_last = list(second.run())[-1]
    assert resumed_last.losses["total"] == pytest.approx(last.losses["total"], rel=1e-4)
    for a, b in zip(second.ema.state_dict().values(), whole.ema.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_monitor_reports_kept_share_and_dice_against_the_truth():
    monitor = PseudoLabelMonitor(num_classes=2)
    truth = torch.tensor([[[1, 1, 0, 0]]])
    unfiltered = torch.tensor([[[1, 0, 0, 1]]])  # one hit, one miss, one false alarm
    kept = torch.tensor([[[1, IGNORE, 0, IGNORE]]])  # the filter dropped both mistakes
    monitor.update("swin", kept, unfiltered, truth)
    out = monitor.flush()
    assert out == {"kept_swin": 0.5, "dice_swin": 1.0, "dice_all_swin": 0.5}
    assert monitor.flush() == {}  # reset


def test_the_trainer_measures_pseudo_labels_when_the_truth_is_known(tiny_config, tiny_slice_set, phantoms):
    from napari_mcsc.data.phantom import paint_slices
    from napari_mcsc.data.slices import AnnotatedVolume, unlabelled_truth

    p = phantoms[0]
    painted = AnnotatedVolume(p.image, paint_slices(p.labels, [2, 5]))
    truth = unlabelled_truth([painted], [p.labels], [phantoms[1].labels], tiny_slice_set)
    assert truth.shape == tiny_slice_set.unlabelled_images.shape
    assert truth[:6].any()  # the unpainted slices of the painted volume have their truth
    tiny_slice_set.unlabelled_truth = truth
    trainer = Trainer(tiny_config.replace(teacher="no_grad", iterations=2), tiny_slice_set)
    list(trainer.run())
    figures = trainer.pseudo_labels.flush()
    assert {"kept_swin", "kept_cnn", "dice_all_swin", "dice_all_cnn"} <= set(figures)
    assert 0 <= figures["dice_all_cnn"] <= 1 and figures["kept_cnn"] == 1.0  # tau 0 keeps all


def test_nearest_first_draws_unlabelled_slices_next_to_painted_ones_first(tiny_config, tiny_slice_set):
    distances = tiny_slice_set.unlabelled_distance
    # Slices 0 1 3 4 6 7 of the painted volume (2 and 5 painted), then a whole unpainted one.
    assert distances[:6].tolist() == [2, 1, 1, 1, 1, 2] and (distances[6:] >= 10**6).all()
    config = tiny_config.replace(
        method="ct", unlabelled_order="nearest_first", iterations=8, supervised_warmup=0.0
    )
    trainer = Trainer(config, tiny_slice_set)
    drawn = []
    original = trainer._step

    def record(batches, *args):
        state = batches.generator.get_state()
        _, unlabelled = batches.next()
        batches.generator.set_state(state)
        drawn.append((batches.reach, [int(distances[i]) for i in unlabelled]))
        return original(batches, *args)

    trainer._step = record
    list(trainer.run())
    assert drawn[0][0] == 1 and all(d <= 1 for d in drawn[0][1])  # only direct neighbours first
    assert drawn[-1][0] >= 10**6  # everything from the middle of the run on
    assert any(d > 2 for _, ds in drawn[4:] for d in ds)  # the unpainted volume enters later


def _cnn_weights(trainer):
    return [p.detach().clone() for p in trainer.model.networks.cnn.parameters()]


def test_a_run_can_end_with_the_average_of_its_weights(tiny_config, tiny_slice_set):
    config = tiny_config.replace(method="sup", iterations=4)
    plain = Trainer(config, tiny_slice_set)
    list(plain.run())
    latest = Trainer(config.replace(average_weights=0.0), tiny_slice_set)  # no memory: the last weights
    list(latest.run())
    for a, b in zip(_cnn_weights(latest), _cnn_weights(plain), strict=True):
        torch.testing.assert_close(a, b)
    averaged = Trainer(config.replace(average_weights=0.99), tiny_slice_set)
    start = _cnn_weights(averaged)
    list(averaged.run())
    moved = [(a - s).abs().sum() for a, s in zip(_cnn_weights(averaged), start, strict=True)]
    last = [(p - s).abs().sum() for p, s in zip(_cnn_weights(plain), start, strict=True)]
    assert 0 < sum(moved) < sum(last)  # between the starting and the last weights
    assert averaged.average.swin is None  # sup trains the CNN alone: nothing else to average


def test_the_average_forgets_its_start_quickly_in_a_short_run():
    student = torch.nn.Linear(2, 2)
    average = EmaTeachers(student, torch.nn.Linear(1, 1), decay=0.99, warm_up=True)
    before = average.cnn.weight.detach().clone()
    with torch.no_grad():
        student.weight.add_(1.0)
    average.update(student, average.swin)  # first step: decay 2/11, not 0.99
    torch.testing.assert_close(average.cnn.weight, before + 9 / 11)
    with pytest.raises(ValueError, match="average_weights"):
        TrainConfig(average_weights=1.0)


def test_an_averaging_run_resumes_like_an_uninterrupted_one(tiny_config, tiny_slice_set, tmp_path):
    config = tiny_config.replace(method="sup", iterations=4, average_weights=0.9)
    whole = Trainer(config, tiny_slice_set)
    list(whole.run())
    second = Trainer(config, tiny_slice_set, resume=_cut_after_two(Trainer(config, tiny_slice_set), tmp_path))
    list(second.run())
    assert second.average.updates == 4
    for a, b in zip(_cnn_weights(second), _cnn_weights(whole), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
