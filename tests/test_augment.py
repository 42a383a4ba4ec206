"""data/augment.py: augmentations that keep images and labels aligned."""

from __future__ import annotations

import pytest
import torch

from napari_mcsc.data.augment import Augmentation, augment_batch, random_patches


class TestAugmentation:
    @pytest.mark.parametrize("style", ["paper", "strong"])
    def test_image_and_labels_stay_aligned(self, style):
        g = torch.Generator().manual_seed(0)
        targets = torch.zeros(16, 32, 32, dtype=torch.long)
        targets[:, 8:20, 10:26] = 2
        targets[:, 20:28, 4:12] = 1
        images = targets.float() / 2
        aug = Augmentation(style="paper" if style == "paper" else "none")
        if style == "strong":  # geometry of the strong style without its intensity jitter
            aug = _geometry_only(style="strong")
        out, warped = augment_batch(images, targets, aug, g)
        assert torch.equal((out * 2).round().long(), warped)
        assert not torch.equal(warped, targets)  # something moved

    def test_right_angle_rotations_are_exact(self):
        g = torch.Generator().manual_seed(1)
        images = torch.arange(64.0).reshape(1, 8, 8).repeat(32, 1, 1)
        out, _ = augment_batch(images, None, Augmentation(style="paper"), g)
        # Whatever the transform, exact rotations/flips keep the multiset of values.
        exact = [i for i in range(32) if sorted(out[i].flatten().tolist()) == list(range(64))]
        assert len(exact) >= 8

    def test_strong_intensity_stays_in_unit_range(self):
        images = torch.rand(8, 16, 16)
        out, _ = augment_batch(images, None, Augmentation(style="strong"), torch.Generator().manual_seed(0))
        assert out.min() >= 0 and out.max() <= 1

    def test_upright_keeps_the_orientation(self):
        # A mark left of centre stays left: no right angles, no flips, rotations within 20°.
        aug = _geometry_only(style="upright")
        targets, out, warped = _warp_left_mark(aug)
        assert (_centre_x(warped) < 14).all()
        assert torch.equal(out.round().long(), warped)
        assert not torch.equal(warped, targets)

    def test_strong_style_turns_some_slices_around(self):
        # The same check fails for strong: its right angles and flips move the mark right.
        _, _, warped = _warp_left_mark(Augmentation(style="strong"))
        assert (_centre_x(warped) > 18).any()

    def test_the_scale_range_sets_how_much_a_structure_grows_or_shrinks(self):
        # Upright, no rotation: only the zoom changes the mark's area (48 pixels).
        def areas(scale_range):
            aug = _geometry_only(style="upright", max_angle=0.0, scale_range=scale_range)
            _, _, warped = _warp_left_mark(aug)
            return warped.sum(dim=(1, 2)).float()

        narrow, wide = areas((0.95, 1.05)), areas((0.6, 1.6))
        assert narrow.min() > 48 * 0.8 and narrow.max() < 48 * 1.2
        assert wide.min() < 48 * 0.6 and wide.max() > 48 * 1.6

    def test_elastic_deformation_bends_images_and_labels_alike(self):
        base = dict(style="upright", max_angle=0.0, scale_range=(1, 1))
        targets, out, warped = _warp_left_mark(_geometry_only(**base, elastic=0.1))
        assert torch.equal(out.round().long(), warped)  # image and labels warped alike
        assert not torch.equal(warped, targets)  # the mark moved or changed shape
        assert (warped.sum(dim=(1, 2)) > 0).all()  # but no slice lost it (smooth, small)
        _, _, still = _warp_left_mark(_geometry_only(**base))
        assert torch.equal(still, targets)  # without it, this geometry is the identity

    def test_the_stretch_changes_a_structures_width_against_its_height(self):
        # Upright, no rotation, no zoom: a square mark stays square unless stretched.
        def ratios(aspect):
            aug = _geometry_only(style="upright", max_angle=0.0, scale_range=(1, 1), aspect=aspect)
            targets = torch.zeros(64, 32, 32, dtype=torch.long)
            targets[:, 10:22, 10:22] = 1
            _, warped = augment_batch(targets.float(), targets, aug, torch.Generator().manual_seed(3))
            width = warped.any(dim=1).sum(dim=1).float()
            height = warped.any(dim=2).sum(dim=1).float()
            return width / height

        assert torch.equal(ratios(1.0), torch.ones(64))
        stretched = ratios(2.0)
        assert stretched.max() > 1.25 and stretched.min() < 1 / 1.25  # wider in some, taller in others
        assert stretched.max() < 2.3 and stretched.min() > 1 / 2.3  # within the range (and a pixel)

    def test_shading_varies_smoothly_across_a_slice_and_leaves_labels_alone(self):
        # A flat grey slice, no geometry, no other jitter: shading alone makes it uneven,
        # by at most exp(bias) either way, smoothly (neighbouring pixels nearly equal).
        flat = torch.full((16, 32, 32), 0.4)
        targets = torch.ones(16, 32, 32, dtype=torch.long)
        aug = _geometry_only(style="upright", max_angle=0.0, scale_range=(1, 1), bias=0.3)
        out, warped = augment_batch(flat, targets, aug, torch.Generator().manual_seed(4))
        inner = out[:, 2:-2, 2:-2]  # away from the border the warp's zero padding touches
        ratio = (inner / 0.4).log()
        assert ratio.min() >= -0.3 - 1e-4 and ratio.max() <= 0.3 + 1e-4
        spread = inner.amax(dim=(1, 2)) - inner.amin(dim=(1, 2))
        assert (spread > 0.04).sum() >= 12  # most slices visibly shaded
        assert (inner[:, :, 1:] - inner[:, :, :-1]).abs().max() < 0.02  # smooth
        assert torch.equal(warped, targets)
        still = _geometry_only(style="upright", max_angle=0.0, scale_range=(1, 1))
        plain, _ = augment_batch(flat, targets, still, torch.Generator().manual_seed(4))
        assert torch.allclose(plain[:, 2:-2, 2:-2], torch.full_like(inner, 0.4))  # without it: flat

    @pytest.mark.parametrize(
        "change",
        [
            dict(scale_range=(1.2, 0.8)),
            dict(bias=-0.1),
            dict(bias=2.0),
            dict(elastic=-0.1),
            dict(elastic=1.5),
            dict(aspect=0.8),
            dict(aspect=9),
        ],
    )
    def test_impossible_deformations_are_refused(self, change):
        with pytest.raises(ValueError, match=r"augment_scale|augment_elastic|augment_aspect|augment_bias"):
            Augmentation(style="strong", **change)

    def test_unknown_style_names_the_styles(self):
        with pytest.raises(ValueError, match="upright"):
            Augmentation(style="sideways")


def _geometry_only(**settings) -> Augmentation:
    """An ``Augmentation`` with ``settings`` and no intensity jitter: only its geometry moves pixels."""
    return Augmentation(**settings, gamma_range=(1, 1), contrast_range=(1, 1), noise_std=0)


def _warp_left_mark(aug: Augmentation):
    """64 slices with a mark left of centre, and the images and labels ``aug`` makes of them."""
    targets = torch.zeros(64, 32, 32, dtype=torch.long)
    targets[:, 12:20, 4:10] = 1
    out, warped = augment_batch(targets.float(), targets, aug, torch.Generator().manual_seed(2))
    return targets, out, warped


def _centre_x(masks: torch.Tensor) -> torch.Tensor:
    """The column of each (H, W) mask's centre of mass."""
    columns = torch.arange(masks.shape[-1], dtype=torch.float32)
    return (masks.float() * columns).sum(dim=(1, 2)) / masks.sum(dim=(1, 2)).clamp(min=1)


class TestRandomPatches:
    def test_each_patch_is_the_same_square_of_its_image_and_its_targets(self):
        g = torch.Generator().manual_seed(0)
        positions = torch.arange(40 * 40).reshape(1, 40, 40).repeat(8, 1, 1)
        images, targets = positions.float(), positions.clone()
        patches, cut = random_patches(images, targets, 16, g)
        assert patches.shape == (8, 16, 16) and cut.shape == (8, 16, 16)
        assert torch.equal(patches.long(), cut)
        for patch in cut:  # a contiguous square of the original grid
            y, x = divmod(int(patch[0, 0]), 40)
            assert torch.equal(patch, positions[0, y : y + 16, x : x + 16])
        assert len({int(p[0, 0]) for p in cut}) > 1  # not the same square for every slice

    def test_context_channels_are_cut_alike(self):
        images = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
        patches, none = random_patches(images, None, 16, torch.Generator().manual_seed(1))
        assert patches.shape == (2, 3, 16, 16) and none is None
        assert torch.equal(patches[:, 1] - patches[:, 0], torch.full((2, 16, 16), 32.0 * 32))

    def test_a_foreground_share_of_the_squares_holds_a_painted_pixel(self):
        targets = torch.zeros(400, 64, 64, dtype=torch.long)
        targets[:, 2:6, 2:6] = 2  # a small structure in a corner, far from most squares
        targets[:200, 58:60, 58:60] = 1  # and in half the slices a second one, in the other
        targets[300:] = 0  # a quarter of the slices painted empty
        images = torch.rand(400, 64, 64)

        def holding(share: float) -> float:
            _, cut = random_patches(images, targets, 16, torch.Generator().manual_seed(3), share)
            return float((cut[:300] > 0).flatten(1).any(dim=1).float().mean())

        assert holding(0.0) < 0.15
        assert 0.45 < holding(0.5) < 0.7  # about half of the squares, plus the uniform ones that hit
        assert holding(1.0) == 1.0
        _, cut = random_patches(images, targets, 16, torch.Generator().manual_seed(3), 1.0)
        assert not (cut[300:] > 0).any()  # an empty slice's square is drawn anywhere

    def test_a_patch_as_large_as_the_slice_changes_nothing(self):
        images, targets = torch.rand(3, 32, 32), torch.zeros(3, 32, 32, dtype=torch.long)
        out, cut = random_patches(images, targets, 32, torch.Generator().manual_seed(0))
        assert out is images and cut is targets

    def test_the_squares_reach_the_corners_of_the_slice(self):
        # Corners drawn uniformly would start a 48 px square of a 64 px slice at 0 once in 17.
        positions = torch.arange(64 * 64).reshape(1, 64, 64).repeat(1000, 1, 1)
        _, cut = random_patches(positions.float(), positions, 48, torch.Generator().manual_seed(2))
        at_top_left = (cut[:, 0, 0] == 0).float().mean()
        assert 0.1 < at_top_left < 0.2  # about (25/64)^2
