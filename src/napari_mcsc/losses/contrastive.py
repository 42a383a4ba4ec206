"""Multi-scale cross supervised contrastive loss with a class-balanced denominator.

Method.md §4.3-§4.5, with the reference code's defects fixed (§10.1, §10.2): every pixel
keeps its own label, blocks tile the whole feature map, and the number of sets and of
pixels per set is capped so memory stays bounded. Pixels labelled ``IGNORE`` (-1) take no
part: that is how unlabelled slices are left out during the warm-up and how padding is
handled, while every set keeps the same size so all sets are computed in one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

IGNORE = -1
_CHUNK_ELEMENTS = 48 * 1024 * 1024  # similarity entries computed at once before checkpointing


def balanced_supcon_loss(
    embeddings: Tensor, labels: Tensor, temperature: float = 0.1, num_classes: int | None = None
) -> Tensor:
    """Class-balanced supervised contrastive loss of a batch of pixel sets.

    ``embeddings``: (S, N, D) unit-norm vectors, ``labels``: (S, N) class indices or
    ``IGNORE``. For anchor i, every class present contributes the *mean* of its
    exponentiated similarities to the denominator, so a class with few pixels weighs as
    much as a large one. Anchors without a positive contribute 0 but count in the mean.
    Returns one loss per set (S,); a set without any valid pixel gets 0.
    """
    if embeddings.dim() == 2:
        return balanced_supcon_loss(embeddings[None], labels[None], temperature, num_classes)[0]
    valid = labels >= 0
    k = int(num_classes if num_classes is not None else int(labels.max().clamp(min=0)) + 1)
    onehot = F.one_hot(labels.clamp(min=0).long(), k).to(embeddings.dtype) * valid[..., None]
    sim = torch.matmul(embeddings, embeddings.transpose(1, 2)) / temperature  # (S, N, N)
    self_sim = torch.diagonal(sim, dim1=1, dim2=2)  # (S, N)

    # Denominator: sum over classes of the mean exp-similarity to that class, self excluded.
    # Unit-norm embeddings bound every similarity by 1/temperature, a safe constant shift
    # (no row maximum to compute). Ignored pixels have all-zero one-hot rows, so the
    # product with ``onehot`` leaves them out; the anchor itself is masked out.
    shift = 1.0 / temperature
    n = sim.shape[1]
    off_diagonal = 1.0 - torch.eye(n, dtype=sim.dtype, device=sim.device)
    class_sums = torch.matmul(torch.exp(sim - shift) * off_diagonal, onehot)
    counts = onehot.sum(dim=1, keepdim=True)  # (S, 1, K)
    divisors = (counts - onehot).clamp(min=1.0)  # own class minus the anchor itself
    denominator = (class_sums / divisors).sum(dim=2)
    log_denominator = shift + torch.log(denominator + 1e-30)

    # Positives: same class, self excluded.
    own_counts = (onehot * counts).sum(dim=2)  # n_{c_i} (0 for ignored anchors)
    n_pos = (own_counts - 1.0).clamp(min=0.0)
    pos_sums = (torch.matmul(sim, onehot) * onehot).sum(dim=2) - self_sim * valid
    has_pos = n_pos > 0
    per_anchor = torch.where(
        has_pos, -(pos_sums / n_pos.clamp(min=1.0) - log_denominator), torch.zeros_like(pos_sums)
    )
    n_valid = valid.sum(dim=1)
    return (per_anchor * valid).sum(dim=1) / n_valid.clamp(min=1)


@dataclass(frozen=True)
class BlockSetSampler:
    """Groups pixels of several feature maps into contrastive sets ("inter-slice" mixing).

    Each map is tiled into square blocks of side ``block_size`` covering all of it (the
    map is padded with ignored pixels when the size is not a multiple); each map's blocks
    are shuffled independently; set k is the k-th shuffled block of every map. Sets with
    no foreground pixel are skipped. ``max_sets`` and ``max_pixels_per_set`` cap the work
    (random subsets), so memory is bounded whatever the batch and image size.
    """

    block_size: int
    max_sets: int | None = None
    max_pixels_per_set: int | None = None

    def __post_init__(self) -> None:
        if self.block_size < 1:
            raise ValueError(f"block_size must be at least 1, got {self.block_size}")

    def sample_indices(
        self, labels: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(M, h, w) labels -> (S, N) flat pixel indices into the M maps and (S, N) labels.

        Indices rather than vectors: the caller embeds only the pixels that were drawn,
        which is what keeps the contrastive loss cheap (the projection heads are per-pixel,
        so projecting after sampling gives the same embeddings).
        """
        m, h, w = labels.shape
        device = labels.device
        index = torch.arange(m * h * w, device=device).reshape(m, h, w)
        s = min(self.block_size, h, w)
        gh, gw = -(-h // s), -(-w // s)
        pad_h, pad_w = gh * s - h, gw * s - w
        if pad_h or pad_w:
            index = F.pad(index, (0, pad_w, 0, pad_h))
            labels = F.pad(labels, (0, pad_w, 0, pad_h), value=IGNORE)
        blocks = gh * gw

        def to_blocks(t: Tensor) -> Tensor:
            return t.reshape(m, gh, s, gw, s).permute(0, 1, 3, 2, 4).reshape(m, blocks, s * s)

        idx, y = to_blocks(index), to_blocks(labels.long())
        order = torch.argsort(torch.rand(m, blocks, generator=generator).to(device), dim=1)
        order = order[:, :, None].expand(-1, -1, s * s)
        idx = torch.gather(idx, 1, order).permute(1, 0, 2).reshape(blocks, m * s * s)
        y = torch.gather(y, 1, order).permute(1, 0, 2).reshape(blocks, m * s * s)

        n = idx.shape[1]
        if self.max_pixels_per_set is not None and n > self.max_pixels_per_set and idx.shape[0]:
            # Valid pixels first (ignored ones get noise >= 2), so an ignored pixel takes a
            # place only when the set has fewer valid pixels than places.
            noise = torch.rand(idx.shape[0], n, generator=generator).to(device) + 2.0 * (y < 0)
            cols = torch.argsort(noise, dim=1)[:, : self.max_pixels_per_set]
            idx, y = torch.gather(idx, 1, cols), torch.gather(y, 1, cols)
        # Foreground is checked on the pixels that were kept, not on the whole block.
        keep = (y > 0).any(dim=1)
        idx, y = idx[keep], y[keep]
        if self.max_sets is not None and idx.shape[0] > self.max_sets:
            pick = torch.randperm(idx.shape[0], generator=generator)[: self.max_sets].to(device)
            idx, y = idx[pick], y[pick]
        return idx, y

    def sample(
        self, embeddings: Tensor, labels: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(M, D, h, w) maps and (M, h, w) labels -> (S, N, D) sets and (S, N) labels."""
        idx, y = self.sample_indices(labels, generator)
        flat = embeddings.permute(0, 2, 3, 1).reshape(-1, embeddings.shape[1])
        return flat[idx], y


def _chunked_set_losses(z: Tensor, y: Tensor, temperature: float, num_classes: int) -> Tensor:
    """Per-set losses, computed in chunks (recomputed in backward) when sets are large."""
    per_set = max(1, z.shape[1] ** 2)
    chunk = max(1, _CHUNK_ELEMENTS // per_set)
    if z.shape[0] <= chunk:
        return balanced_supcon_loss(z, y, temperature, num_classes)
    parts = []
    for start in range(0, z.shape[0], chunk):
        zc, yc = z[start : start + chunk], y[start : start + chunk]
        if zc.requires_grad:
            parts.append(
                checkpoint(balanced_supcon_loss, zc, yc, temperature, num_classes, use_reentrant=False)
            )
        else:
            parts.append(balanced_supcon_loss(zc, yc, temperature, num_classes))
    return torch.cat(parts)


Projector = Callable[[str, int, Tensor], Tensor]


def multi_scale_cross_contrastive_loss(
    cnn_features: list[Tensor],
    swin_features: list[Tensor],
    cnn_labels: Tensor,
    swin_labels: Tensor,
    samplers: list[BlockSetSampler],
    project: Projector,
    *,
    num_classes: int,
    temperature: float = 0.1,
    generator: torch.Generator | None = None,
) -> list[Tensor]:
    """One contrastive loss per scale over the pixels of both networks.

    ``cnn_features`` / ``swin_features``: per scale, (B, C, h, w) decoder features.
    ``project(network, scale, vectors)`` maps (P, C) features of ``network`` ("cnn" or
    "swin") at ``scale`` to (P, D) unit-norm embeddings; only sampled pixels are embedded.
    ``cnn_labels`` / ``swin_labels`` (B, H, W) label each network's pixels: ground truth on
    labelled slices, the *other* network's prediction on unlabelled ones ("cross" labels),
    ``IGNORE`` where a pixel must not take part; they are brought to each scale by
    taking the label at the centre of each feature cell.
    """
    losses = []
    for scale, (f_cnn, f_swin, sampler) in enumerate(zip(cnn_features, swin_features, samplers, strict=True)):
        b, _, h, w = f_cnn.shape
        labels = _resize_labels(torch.cat([cnn_labels, swin_labels]).to(f_cnn.device), (h, w))
        idx, set_labels = sampler.sample_indices(labels, generator)
        if idx.shape[0] == 0:
            losses.append((f_cnn.sum() + f_swin.sum()) * 0.0)
            continue
        pixels, inverse = torch.unique(idx, return_inverse=True)
        split = b * h * w  # indices below belong to CNN maps, the rest to Swin maps
        from_cnn = pixels < split
        cnn_vectors = f_cnn.permute(0, 2, 3, 1).reshape(-1, f_cnn.shape[1])[pixels[from_cnn]]
        swin_vectors = f_swin.permute(0, 2, 3, 1).reshape(-1, f_swin.shape[1])
        swin_vectors = swin_vectors[pixels[~from_cnn] - split]
        embedded = torch.cat(
            [project("cnn", scale, cnn_vectors).float(), project("swin", scale, swin_vectors).float()]
        )  # ``pixels`` is sorted, so CNN pixels come first, as here
        sets = embedded[inverse]
        losses.append(_chunked_set_losses(sets, set_labels, temperature, num_classes).mean())
    return losses


def _resize_labels(labels: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, H, W) labels at a feature map's (h, w): the label at each cell's centre pixel.

    (Nearest-neighbour interpolation would take each cell's top-left corner, shifting the
    labels of coarse scales by half a cell.)
    """
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels.long()
    height, width = labels.shape[-2:]
    rows = ((torch.arange(size[0], device=labels.device) + 0.5) * height / size[0]).long()
    cols = ((torch.arange(size[1], device=labels.device) + 0.5) * width / size[1]).long()
    return labels[:, rows.clamp(max=height - 1)][:, :, cols.clamp(max=width - 1)].long()
