"""The strong view of weak-to-strong training: what the student sees of an unlabelled slice.

The teacher labels the weak view (geometry only, ``augment_batch(..., intensity=False)``);
the student learns those labels on a strong view of the same pixels: intensity jitter and
blur, which move no pixel, then CutMix between unlabelled slices, which moves the labels
with the pixels (UniMatch, CVPR 2023: colour jitter + blur + CutMix). Labels stay aligned
because no step of the strong view changes the geometry of the weak one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from napari_mcsc.data.augment import Augmentation, jitter_intensity

BLUR_PROBABILITY = 0.5
BLUR_SIGMA = (0.1, 1.5)  # pixels at the network's input size
CUTMIX_PROBABILITY = 0.5


def strong_view(weak: torch.Tensor, aug: Augmentation, generator: torch.Generator) -> torch.Tensor:
    """(B, H, W) weak views -> strong views of the same geometry (jitter, then blur)."""
    if weak.shape[0] == 0:
        return weak
    out = jitter_intensity(weak, aug, generator)
    return _random_blur(out, generator)


def _random_blur(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur of each image with probability ``BLUR_PROBABILITY``."""
    out = images.clone()
    lo, hi = BLUR_SIGMA
    for i in range(images.shape[0]):
        if float(torch.rand(1, generator=generator)) >= BLUR_PROBABILITY:
            continue
        sigma = lo + (hi - lo) * float(torch.rand(1, generator=generator))
        radius = max(1, round(2 * sigma))
        x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
        kernel = torch.exp(-(x**2) / (2 * sigma**2))
        kernel = kernel / kernel.sum()
        image = images[i].reshape(-1, 1, *images.shape[-2:])  # each of its C slices alike
        image = F.conv2d(F.pad(image, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
        image = F.conv2d(F.pad(image, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
        out[i] = image.reshape(images[i].shape)
    return out


def cutmix(
    images: torch.Tensor, label_maps: list[torch.Tensor], generator: torch.Generator
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Paste a random box of another slice of the batch into each slice, with probability
    ``CUTMIX_PROBABILITY``; every (B, H, W) map of ``label_maps`` gets the same boxes.

    The box covers between 1/4 and 1/2 of the slice's area (UniMatch's range), at a random
    place; the partner is the next slice of a random cyclic shift, never the slice itself.
    """
    n, (h, w) = images.shape[0], images.shape[-2:]
    if n < 2:
        return images, label_maps
    shift = 1 + int(torch.randint(n - 1, (1,), generator=generator))
    partner = (torch.arange(n) + shift) % n
    out_images = images.clone()
    out_maps = [m.clone() for m in label_maps]
    for i in range(n):
        if float(torch.rand(1, generator=generator)) >= CUTMIX_PROBABILITY:
            continue
        area = (0.25 + 0.25 * float(torch.rand(1, generator=generator))) * h * w
        ratio = float(torch.empty(1).uniform_(0.5, 2.0, generator=generator))
        bh = min(h, max(1, round((area * ratio) ** 0.5)))
        bw = min(w, max(1, round(area / bh)))
        top = int(torch.randint(h - bh + 1, (1,), generator=generator))
        left = int(torch.randint(w - bw + 1, (1,), generator=generator))
        j = int(partner[i])
        box = (slice(top, top + bh), slice(left, left + bw))
        out_images[i][..., box[0], box[1]] = images[j][..., box[0], box[1]]
        for source, target in zip(label_maps, out_maps, strict=True):
            target[i][box] = source[j][box]
    return out_images, out_maps
