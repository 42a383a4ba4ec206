"""Batched geometric and intensity augmentation of training slices, in torch.

One affine warp per sample (grid_sample on the whole batch) instead of per-slice scipy
calls: cheap in Python, so the training thread leaves the UI thread alone.

``paper`` reproduces method.md §2.2: with p=0.5 a random multiple of 90° then a random
flip; otherwise with p=0.5 a random integer rotation in [-20, 19]° (nearest neighbour for
image and label); otherwise nothing. ``strong`` (the fast profile) adds zoom (0.7-1.4:
the slices nobody painted show a structure smaller or larger than the painted ones do),
intensity jitter and, as options, a stretch (a zoom that differs across and along) and a
smooth deformation, which matter when only two or three slices are painted. ``upright``
is ``strong`` without the right angles and flips: every slice keeps the scan's
orientation, as the slices it will predict do (one scan, or a study of one protocol), so
the networks may learn where a structure lies relative to the others (the right ventricle
beside the left).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

STYLES = ("paper", "strong", "upright", "none")
# the styles that scale and jitter intensity on top of their rotations
STRONG_STYLES = ("strong", "upright")


@dataclass(frozen=True)
class Augmentation:
    """Augmentation settings; see the module docstring for the styles."""

    style: str = "paper"  # "paper" | "strong" | "upright" | "none"
    image_mode: str = "nearest"  # resampling of images: "nearest" (paper) or "bilinear"
    # the zoom range, and the fast profile's (TrainConfig.augment_scale; why: its comment)
    scale_range: tuple[float, float] = (0.7, 1.4)
    max_angle: float = 20.0
    gamma_range: tuple[float, float] = (0.7, 1.5)
    contrast_range: tuple[float, float] = (0.8, 1.2)
    noise_std: float = 0.03
    # smooth random displacement (strong styles): its largest shift as a share of the
    # slice's half-side, drawn on a coarse grid and interpolated (0: affine warps only)
    elastic: float = 0.0
    # stretch (strong styles): the width-to-height ratio of the zoom, drawn log-uniformly in
    # [1 / aspect, aspect], so a round cross-section is also seen oval (1: the same zoom both ways)
    aspect: float = 1.0
    # intensity inhomogeneity (strong styles): a smooth multiplicative field, its log drawn in
    # [-bias, bias] on a coarse grid, as an MRI coil's sensitivity shades one slice unlike the
    # next (0: none)
    bias: float = 0.0

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"augmentation style must be one of {', '.join(STYLES)}, got {self.style!r}")
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(
                f"the zoom range (augment_scale) must be (low, high) with 0 < low <= high, "
                f"e.g. (0.7, 1.4); got {self.scale_range}"
            )
        if not 0 <= self.elastic < 1:
            raise ValueError(
                f"the deformation (augment_elastic) must be a share in [0, 1) of the half-side, "
                f"e.g. 0.05; got {self.elastic}"
            )
        if not 1 <= self.aspect <= 4:
            raise ValueError(
                f"the stretch (augment_aspect) must be a ratio in [1, 4] (1: none), e.g. 1.3; "
                f"got {self.aspect}"
            )
        if not 0 <= self.bias <= 1:
            raise ValueError(
                f"the shading (augment_bias) must be a log-amplitude in [0, 1] (0: none), e.g. 0.3; "
                f"got {self.bias}"
            )

    @property
    def jitters_intensity(self) -> bool:
        """Whether the style adds intensity jitter to the geometry (strong and upright)."""
        return self.style in STRONG_STYLES


def _rotation_flip_matrices(n: int, aug: Augmentation, gen) -> torch.Tensor:
    """(n, 2, 3) affine matrices in normalised coordinates (output -> input)."""
    style = aug.style
    u = torch.rand(n, 4, generator=gen)
    mats = torch.eye(3).repeat(n, 1, 1)
    for i in range(n):
        if style != "upright" and u[i, 0] < 0.5:  # right angles and a flip: exact, no interpolation
            k = int(u[i, 1] * 4) % 4
            rot = _rot(k * math.pi / 2)
            flip = torch.diag(torch.tensor([-1.0, 1.0, 1.0] if u[i, 2] < 0.5 else [1.0, -1.0, 1.0]))
            mats[i] = rot @ flip
        elif u[i, 3] < 0.5 or style in STRONG_STYLES:
            if style == "paper":
                angle = float(torch.randint(-20, 20, (1,), generator=gen))
            else:
                angle = (float(torch.rand(1, generator=gen)) * 2 - 1) * aug.max_angle
            mats[i] = _rot(math.radians(angle))
        if style in STRONG_STYLES:
            lo, hi = aug.scale_range
            scale = lo + (hi - lo) * float(torch.rand(1, generator=gen))
            stretch = 1.0
            if aug.aspect > 1:  # no draw otherwise: runs without a stretch keep their random stream
                stretch = math.exp((float(torch.rand(1, generator=gen)) * 2 - 1) * math.log(aug.aspect) / 2)
            mats[i] = mats[i] @ torch.diag(torch.tensor([1 / (scale * stretch), stretch / scale, 1.0]))
    return mats[:, :2, :]


def _smooth_displacement(n: int, size, amount: float, gen, coarse: int = 5) -> torch.Tensor:
    """(n, H, W, 2) displacements in normalised coordinates: uniform draws in
    [-amount, amount] on a ``coarse`` x ``coarse`` grid, bicubically interpolated, so a
    structure bends and changes width without tearing."""
    return _smooth_field(n, size, amount, gen, coarse, channels=2).permute(0, 2, 3, 1)


def _smooth_field(n: int, size, amount: float, gen, coarse: int, channels: int = 1) -> torch.Tensor:
    """(n, channels, H, W): uniform draws in [-amount, amount] on a ``coarse`` x ``coarse``
    grid, bicubically interpolated."""
    knots = (torch.rand(n, channels, coarse, coarse, generator=gen) * 2 - 1) * amount
    return F.interpolate(knots, size=tuple(size), mode="bicubic", align_corners=True)


def _rot(theta: float) -> torch.Tensor:
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def augment_batch(
    images: torch.Tensor,
    targets: torch.Tensor | None,
    aug: Augmentation,
    generator: torch.Generator | None = None,
    *,
    intensity: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Augment (B, H, W) images (or (B, C, H, W): a slice with its neighbours, all warped
    alike) and optional (B, H, W) class targets the same way.

    ``intensity=False`` leaves out the ``strong`` style's intensity jitter: the geometry-only
    (weak) view that weak-to-strong training labels with its teacher (``jitter_intensity``
    applies the rest later)."""
    if aug.style == "none" or images.shape[0] == 0:
        return images, targets
    n = images.shape[0]
    theta = _rotation_flip_matrices(n, aug, generator)
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, (n, 1, *images.shape[-2:]), align_corners=False)
    if aug.elastic > 0 and aug.style in STRONG_STYLES:
        grid = grid + _smooth_displacement(n, images.shape[-2:], aug.elastic, generator).to(grid)
    stacked = images if images.ndim == 4 else images[:, None]
    out = F.grid_sample(stacked, grid, mode=aug.image_mode, padding_mode="zeros", align_corners=False)
    out = out if images.ndim == 4 else out[:, 0]
    warped_targets = None
    if targets is not None:
        warped_targets = F.grid_sample(
            targets[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False
        )[:, 0].long()
    if aug.jitters_intensity and intensity:
        out = jitter_intensity(out, aug, generator)
    return out, warped_targets


def jitter_intensity(images: torch.Tensor, aug: Augmentation, gen) -> torch.Tensor:
    """Random gamma, contrast and noise per (B, H, W) image (or (B, C, H, W), one draw
    for its C slices), in [0, 1] (no geometry)."""
    n = images.shape[0]
    shape = (n,) + (1,) * (images.ndim - 1)

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(shape, generator=gen)).to(images.device, images.dtype)

    out = images.clamp(0.0, 1.0)
    if aug.bias > 0:  # no draw otherwise: runs without shading keep their random stream
        field = torch.exp(_smooth_field(n, images.shape[-2:], aug.bias, gen, coarse=3))  # (n, 1, H, W)
        field = field.to(images.device, images.dtype)
        out = (out * (field if images.ndim == 4 else field[:, 0])).clamp(0.0, 1.0)  # context alike
    out = out ** uniform(*aug.gamma_range)
    mean = out.mean(dim=tuple(range(1, images.ndim)), keepdim=True)
    out = (out - mean) * uniform(*aug.contrast_range) + mean
    if aug.noise_std > 0:
        noise = torch.randn(images.shape, generator=gen).to(images.device, images.dtype)
        out = out + noise * aug.noise_std * torch.rand(shape, generator=gen).to(images.device)
    return out.clamp(0.0, 1.0)


def random_patches(
    images: torch.Tensor,
    targets: torch.Tensor | None,
    size: int,
    generator: torch.Generator | None = None,
    foreground_share: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A random ``size`` x ``size`` square of each (B, H, W) or (B, C, H, W) image, and the
    same square of its (B, H, W) targets: the network learns on fewer pixels a step (a
    96 px square is 56 % of a 128 px slice) and, being fully convolutional, still predicts
    whole slices. Squares no smaller than the images leave them as they are.

    Each square is centred on a pixel drawn uniformly from the whole image, then moved
    inside it: squares whose corners were drawn uniformly would almost never reach the
    slice's corners, and a network that rarely sees the far background there finds
    structures in it (docs/benchmarks.md, section 50). ``foreground_share`` of the squares
    (drawn at random) are centred on a painted pixel instead, where the slice has one: a
    small square drawn uniformly often holds none of the structures (nnU-Net's patch
    sampling does the same)."""
    height, width = images.shape[-2:]
    if size >= height and size >= width:
        return images, targets
    size_y, size_x = min(size, height), min(size, width)
    n = images.shape[0]
    ys = torch.randint(0, height, (n,), generator=generator)
    xs = torch.randint(0, width, (n,), generator=generator)
    if targets is not None and foreground_share > 0:
        on_structure = torch.rand(n, generator=generator) < foreground_share
        for i in torch.nonzero(on_structure).flatten().tolist():
            painted = torch.nonzero(targets[i] > 0)
            if len(painted):
                ys[i], xs[i] = painted[int(torch.randint(0, len(painted), (1,), generator=generator))]
    ys, xs = _corners(ys, height, size_y), _corners(xs, width, size_x)
    corners = list(enumerate(zip(ys, xs, strict=True)))
    patches = torch.stack([images[i, ..., y : y + size_y, x : x + size_x] for i, (y, x) in corners])
    if targets is None:
        return patches, None
    return patches, torch.stack([targets[i, y : y + size_y, x : x + size_x] for i, (y, x) in corners])


def _corners(centres: torch.Tensor, length: int, size: int) -> list[int]:
    """First indices of windows of ``size`` along ``length`` centred on ``centres``,
    moved inside."""
    return (centres - size // 2).clamp(0, length - size).tolist()
