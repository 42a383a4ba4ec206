"""Losses: exact values against a naive reference, and the properties the method relies on."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from napari_mcsc.losses import (
    BlockSetSampler,
    balanced_supcon_loss,
    cross_teaching_loss,
    dice_loss,
    hard_labels,
    multi_scale_cross_contrastive_loss,
    supervised_loss,
)
from napari_mcsc.losses.contrastive import IGNORE


def naive_balanced_supcon(z, y, t=0.1):
    """Direct transcription of method.md §4.5 with Python loops."""
    s = z @ z.T / t
    n = len(y)
    total = 0.0
    for i in range(n):
        denom = 0.0
        for j in range(n):
            if j == i:
                continue
            m = int((y == y[j]).sum()) - (1 if y[j] == y[i] else 0)
            denom = denom + torch.exp(s[i, j]) / m
        positives = [j for j in range(n) if j != i and y[j] == y[i]]
        if positives:
            total = total - sum(s[i, j] - torch.log(denom) for j in positives) / len(positives)
    return total / n


def clustered(n=120, k=3, spread=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    centres = F.normalize(torch.randn(k, 16, generator=g), dim=1)
    z = F.normalize(centres[y] + spread * torch.randn(n, 16, generator=g), dim=1)
    return z, y


class TestSegmentationLosses:
    def test_dice_loss_zero_for_perfect_one_hot(self):
        target = torch.randint(0, 3, (2, 8, 8))
        probs = F.one_hot(target, 3).permute(0, 3, 1, 2).float()
        assert dice_loss(probs, target).item() == pytest.approx(0.0, abs=1e-6)

    def test_dice_loss_one_for_disjoint(self):
        target = torch.zeros(1, 4, 4, dtype=torch.long)
        target[0, :2] = 1
        probs = F.one_hot(1 - target, 2).permute(0, 3, 1, 2).float()
        assert dice_loss(probs, target).item() == pytest.approx(1.0, abs=1e-4)

    def test_supervised_is_half_ce_plus_dice(self):
        logits = torch.randn(2, 3, 8, 8)
        target = torch.randint(0, 3, (2, 8, 8))
        expected = 0.5 * (F.cross_entropy(logits, target) + dice_loss(logits.softmax(1), target))
        assert supervised_loss(logits, target).item() == pytest.approx(expected.item())

    def test_cross_teaching_targets_are_the_others_detached_hard_prediction(self):
        a = torch.randn(2, 3, 8, 8, requires_grad=True)
        b = torch.randn(2, 3, 8, 8, requires_grad=True)
        pseudo = hard_labels(b)
        assert torch.equal(pseudo, b.argmax(1)) and not pseudo.requires_grad
        loss = cross_teaching_loss(a, pseudo)
        loss.backward()
        assert b.grad is None and a.grad is not None
        assert loss.item() == pytest.approx(dice_loss(a.softmax(1), b.argmax(1)).item())

    def test_empty_batches_give_zero_with_graph(self):
        logits = torch.randn(0, 3, 8, 8, requires_grad=True)
        assert supervised_loss(logits, torch.zeros(0, 8, 8, dtype=torch.long)).item() == 0.0
        assert cross_teaching_loss(logits, torch.zeros(0, 8, 8, dtype=torch.long)).item() == 0.0


class TestBalancedSupCon:
    def test_matches_naive_reference(self):
        z, y = clustered(40)
        expected = naive_balanced_supcon(z, y).item()
        assert balanced_supcon_loss(z, y).item() == pytest.approx(expected, rel=1e-4)

    def test_clustered_features_score_lower_than_shuffled_labels(self):
        z, y = clustered(200)
        shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
        assert balanced_supcon_loss(z, y).item() < 0.5 * balanced_supcon_loss(z, shuffled).item()

    def test_permuting_pixels_with_labels_leaves_loss_unchanged(self):
        z, y = clustered(150)
        perm = torch.randperm(150)
        assert balanced_supcon_loss(z[perm], y[perm]).item() == pytest.approx(
            balanced_supcon_loss(z, y).item(), rel=1e-5
        )

    def test_ignored_pixels_take_no_part(self):
        z, y = clustered(60)
        noise = F.normalize(torch.randn(20, 16), dim=1)
        padded_z = torch.cat([z, noise])
        padded_y = torch.cat([y, torch.full((20,), IGNORE)])
        assert balanced_supcon_loss(padded_z, padded_y).item() == pytest.approx(
            balanced_supcon_loss(z, y).item(), rel=1e-5
        )

    @staticmethod
    def _plain_supcon(z, y, t=0.1):
        s = z @ z.T / t
        eye = torch.eye(len(y), dtype=torch.bool)
        log_denominator = torch.logsumexp(s.masked_fill(eye, -1e9), dim=1)
        same = (y[:, None] == y[None]) & ~eye
        return -((s * same).sum(1) / same.sum(1) - log_denominator).mean()

    @staticmethod
    def _rare_share(loss_fn):
        # 500 common pixels, 10 rare ones (50 times rarer).
        g = torch.Generator().manual_seed(0)
        y = torch.cat([torch.zeros(500, dtype=torch.long), torch.ones(10, dtype=torch.long)])
        centres = F.normalize(torch.randn(2, 16, generator=g), dim=1)
        z = F.normalize(centres[y] + 0.6 * torch.randn(510, 16, generator=g), dim=1).requires_grad_()
        loss_fn(z, y).backward()
        common = z.grad[:500].norm(dim=1).sum().item()
        rare = z.grad[500:].norm(dim=1).sum().item()
        return rare / (rare + common)

    def test_rare_class_gets_comparable_share_of_gradient(self):
        balanced = self._rare_share(balanced_supcon_loss)
        plain = self._rare_share(self._plain_supcon)
        # The rare class holds 2 % of the pixels; plain SupCon gives it about that share.
        assert plain < 0.05
        assert balanced > 0.1
        assert balanced > 4 * plain

    def test_set_without_positives_is_zero(self):
        z = F.normalize(torch.randn(3, 8), dim=1)
        assert balanced_supcon_loss(z, torch.tensor([0, 1, 2])).item() == 0.0


class TestBlockSetSampler:
    def test_blocks_cover_every_pixel_once(self):
        labels = torch.ones(4, 12, 12, dtype=torch.long)  # no set skipped
        idx, _y = BlockSetSampler(4).sample_indices(labels)
        assert idx.shape == (9, 4 * 16)
        assert sorted(idx.flatten().tolist()) == list(range(4 * 12 * 12))

    def test_each_set_holds_one_block_of_every_map(self):
        labels = torch.ones(3, 8, 8, dtype=torch.long)
        idx, _ = BlockSetSampler(4).sample_indices(labels, torch.Generator().manual_seed(0))
        maps = idx // 64
        for row in maps:
            assert sorted(row.unique().tolist()) == [0, 1, 2]
            assert all((row == m).sum() == 16 for m in range(3))

    def test_labels_follow_their_pixels(self):
        labels = torch.randint(0, 4, (2, 8, 8))
        labels[:, 0, 0] = 1
        idx, y = BlockSetSampler(4).sample_indices(labels, torch.Generator().manual_seed(2))
        assert torch.equal(labels.flatten()[idx], y)

    def test_non_multiple_sizes_are_padded_not_dropped(self):
        labels = torch.ones(2, 10, 10, dtype=torch.long)
        idx, y = BlockSetSampler(4).sample_indices(labels)
        covered = set(idx[y != IGNORE].tolist())
        assert covered == set(range(200))

    def test_background_only_sets_are_skipped(self):
        labels = torch.zeros(2, 8, 8, dtype=torch.long)
        labels[:, :4, :4] = 2
        _idx, y = BlockSetSampler(4).sample_indices(labels, torch.Generator().manual_seed(0))
        assert all((row > 0).any() for row in y)

    def test_ignored_pixels_take_no_place_while_valid_ones_remain(self):
        labels = torch.ones(4, 16, 16, dtype=torch.long)
        labels[:2] = IGNORE  # e.g. the unlabelled slices during the contrastive warm-up
        _, y = BlockSetSampler(8, max_pixels_per_set=64).sample_indices(
            labels, torch.Generator().manual_seed(1)
        )
        assert y.shape[1] == 64 and (y != IGNORE).all()

    def test_foreground_is_checked_after_subsampling(self):
        labels = torch.zeros(2, 16, 16, dtype=torch.long)
        labels[:, ::8, ::8] = 1  # one foreground pixel per 8x8 block and map
        sampler = BlockSetSampler(8, max_pixels_per_set=4)
        for seed in range(20):
            _, y = sampler.sample_indices(labels, torch.Generator().manual_seed(seed))
            assert all((row > 0).any() for row in y)

    def test_coarse_scale_labels_come_from_each_cells_centre(self):
        from napari_mcsc.losses.contrastive import _resize_labels

        labels = torch.zeros(1, 8, 8, dtype=torch.long)
        labels[0, 2, 2] = 3  # centre of the top-left 4x4 cell
        labels[0, 0, 4] = 2  # corner of the top-right cell: not its centre
        assert _resize_labels(labels, (2, 2)).tolist() == [[[3, 0], [0, 0]]]

    def test_caps_bound_the_work(self):
        labels = torch.ones(4, 32, 32, dtype=torch.long)
        idx, y = BlockSetSampler(8, max_sets=5, max_pixels_per_set=100).sample_indices(labels)
        assert idx.shape == (5, 100) and y.shape == (5, 100)
        assert all(len(set(row.tolist())) == 100 for row in idx)


class TestMultiScaleLoss:
    def test_projecting_sampled_pixels_equals_projecting_whole_maps(self):
        from napari_mcsc.networks import ProjectionHeads

        torch.manual_seed(0)
        heads = ProjectionHeads((4, 8), (6, 10), hidden=16, out_dim=8)
        fa = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
        fb = [torch.randn(2, 6, 8, 8), torch.randn(2, 10, 4, 4)]
        labels = torch.randint(0, 3, (2, 8, 8))
        za, zb = heads(fa, fb)
        samplers = [BlockSetSampler(4), BlockSetSampler(4)]
        fast = multi_scale_cross_contrastive_loss(
            fa,
            fb,
            labels,
            labels,
            samplers,
            heads.project_vectors,
            num_classes=3,
            generator=torch.Generator().manual_seed(5),
        )
        # Reference: embed whole maps, then sample the same sets.
        reference = []
        for scale, sampler in enumerate(samplers):
            h = fa[scale].shape[-1]
            step = 8 // h  # labels at the centre pixel of each feature cell
            lab = torch.cat([labels, labels])[:, step // 2 :: step, step // 2 :: step]
            gen = torch.Generator().manual_seed(5)
            for _ in range(scale):  # the generator advanced through earlier scales
                both = torch.cat([labels, labels])[:, None].float()
                BlockSetSampler(4).sample_indices(F.interpolate(both, size=(8, 8))[:, 0].long(), gen)
            sets, y = sampler.sample(torch.cat([za[scale], zb[scale]]), lab, gen)
            reference.append(balanced_supcon_loss(sets, y, num_classes=3).mean())
        for a, b in itertools.zip_longest(fast, reference):
            assert a.item() == pytest.approx(b.item(), rel=1e-4)

    def test_gradient_reaches_both_networks_features(self):
        from napari_mcsc.networks import ProjectionHeads

        heads = ProjectionHeads((4, 4), (4, 4), hidden=8, out_dim=8)
        fa = [torch.randn(2, 4, 8, 8, requires_grad=True), torch.randn(2, 4, 4, 4, requires_grad=True)]
        fb = [torch.randn(2, 4, 8, 8, requires_grad=True), torch.randn(2, 4, 4, 4, requires_grad=True)]
        labels = torch.randint(0, 3, (2, 8, 8))
        losses = multi_scale_cross_contrastive_loss(
            fa,
            fb,
            labels,
            labels,
            [BlockSetSampler(4), BlockSetSampler(4)],
            heads.project_vectors,
            num_classes=3,
        )
        sum(losses).backward()
        assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in fa + fb)
