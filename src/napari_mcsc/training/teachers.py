"""What the two networks teach each other on unlabelled slices, and how good it is.

Cross teaching gives each network the other's hard prediction as its target. Where those
targets come from is a ``TrainConfig.teacher`` choice:

- ``same_pass`` (the paper): the argmax of the training pass itself, on the same augmented
  tensor, with dropout and drop-path on, every pixel kept;
- ``no_grad``: a separate pass of each network in eval mode, without gradient;
- ``ema``: a pass of an exponential moving average of each network (Mean Teacher style).

With the last two a pixel keeps its label only where the teacher's probability is at least
``pseudo_threshold`` and (``pseudo_agreement``) where both networks agree; every other pixel
is ``IGNORE`` in the cross-teaching Dice and in the contrastive loss. ``PseudoLabelMonitor``
measures, when the truth of the unlabelled slices is known (benchmarks), each teacher's
Dice against it and the share of pixels kept: a weak teacher and a bad schedule look alike
in the final Dice, not in these two figures.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from napari_mcsc.losses.contrastive import IGNORE

TEACHERS = ("same_pass", "no_grad", "ema")


@dataclass
class CrossTargets:
    """Targets on the unlabelled rows of a batch: the CNN learns ``for_cnn`` (made by the
    Transformer), the Transformer learns ``for_swin`` (made by the CNN); (U, H, W)."""

    for_cnn: Tensor
    for_swin: Tensor


def filter_labels(probs: Tensor, threshold: float, partner: Tensor | None = None) -> Tensor:
    """Hard labels of (B, K, H, W) ``probs``, ``IGNORE`` where the top probability is below
    ``threshold`` or, given the ``partner``'s labels, where the two disagree."""
    confidence, labels = probs.max(dim=1)
    keep = confidence >= threshold
    if partner is not None:
        keep &= labels == partner
    return torch.where(keep, labels, torch.full_like(labels, IGNORE))


def cross_targets(probs_cnn: Tensor, probs_swin: Tensor, threshold: float, agreement: bool) -> CrossTargets:
    """Filtered targets from both teachers' probabilities on the same pixels."""
    labels_cnn, labels_swin = probs_cnn.argmax(dim=1), probs_swin.argmax(dim=1)
    return CrossTargets(
        for_cnn=filter_labels(probs_swin, threshold, labels_cnn if agreement else None),
        for_swin=filter_labels(probs_cnn, threshold, labels_swin if agreement else None),
    )


class EmaTeachers(nn.Module):
    """Exponential moving averages of the CNN and the Transformer (``decay`` per step);
    always in eval mode. Buffers (batch-norm statistics) are copied, not averaged.

    Also the run's averaged weights (``TrainConfig.average_weights``): then ``warm_up``
    lowers the decay over the first steps, (1 + n) / (10 + n) at the n-th, so that a short
    run's average is not its starting weights, ``copy_into`` makes it the run's model, and
    ``networks`` names those the run trains (an untrained one is not copied or averaged)."""

    def __init__(
        self,
        cnn: nn.Module,
        swin: nn.Module,
        decay: float,
        *,
        warm_up: bool = False,
        networks: tuple[str, ...] = ("cnn", "swin"),
    ) -> None:
        super().__init__()
        self.decay, self.warm_up, self.updates = decay, warm_up, 0
        self.cnn = copy.deepcopy(cnn).eval().requires_grad_(False) if "cnn" in networks else None
        self.swin = copy.deepcopy(swin).eval().requires_grad_(False) if "swin" in networks else None

    def train(self, mode: bool = True) -> EmaTeachers:
        return super().train(False)  # a teacher never trains

    @torch.no_grad()
    def update(self, cnn: nn.Module, swin: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates)) if self.warm_up else self.decay
        for teacher, student in self._pairs(cnn, swin):
            for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
                t.lerp_(s.detach(), 1.0 - decay)
            for t, s in zip(teacher.buffers(), student.buffers(), strict=True):
                t.copy_(s)

    @torch.no_grad()
    def copy_into(self, cnn: nn.Module, swin: nn.Module) -> None:
        """Give ``cnn`` and ``swin`` the averaged weights (their buffers are the latest)."""
        for average, network in self._pairs(cnn, swin):
            for a, n in zip(average.parameters(), network.parameters(), strict=True):
                n.copy_(a)

    def _pairs(self, cnn: nn.Module, swin: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
        return [(mine, theirs) for mine, theirs in ((self.cnn, cnn), (self.swin, swin)) if mine is not None]


class PseudoLabelMonitor:
    """Running figures of the targets each network received since the last ``flush``:
    the share of unlabelled pixels kept, and the mean foreground Dice against the truth of
    the kept pixels (``dice``) and of the unfiltered argmax (``dice_all``)."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self._sums: dict[str, Tensor] = {}

    def update(self, name: str, kept_labels: Tensor, all_labels: Tensor, truth: Tensor | None) -> None:
        """Add one batch of ``name``'s targets (IGNORE where filtered) and the unfiltered
        labels they came from; ``truth`` None records the kept share only."""
        kept = kept_labels != IGNORE
        sums = self._sums.setdefault(name, torch.zeros(2 + 6 * self.num_classes, dtype=torch.float64))
        sums[0] += float(kept.sum())
        sums[1] += kept.numel()
        if truth is None:
            return
        truth = truth.to(kept_labels.device)
        k = self.num_classes
        for c in range(1, k):
            t, p, pa = truth == c, (kept_labels == c), (all_labels == c)
            row = 2 + 6 * c
            sums[row : row + 6] += torch.tensor(
                [
                    float((p & t).sum()),
                    float(p.sum()),
                    float((t & kept).sum()),
                    float((pa & t).sum()),
                    float(pa.sum()),
                    float(t.sum()),
                ],
                dtype=torch.float64,
            )

    def flush(self) -> dict[str, float]:
        """``{kept_<name>, dice_<name>, dice_all_<name>}`` since the last flush; then reset."""
        out: dict[str, float] = {}
        for name, sums in self._sums.items():
            if sums[1] > 0:
                out[f"kept_{name}"] = round(float(sums[0] / sums[1]), 4)
            kept, unfiltered = [], []
            for c in range(1, self.num_classes):
                inter, pred, true, inter_all, pred_all, true_all = sums[2 + 6 * c : 8 + 6 * c].tolist()
                if true_all > 0:
                    unfiltered.append(2 * inter_all / (pred_all + true_all))
                if true > 0:
                    kept.append(2 * inter / (pred + true))
            if kept:
                out[f"dice_{name}"] = round(sum(kept) / len(kept), 4)
            if unfiltered:
                out[f"dice_all_{name}"] = round(sum(unfiltered) / len(unfiltered), 4)
        self._sums.clear()
        return out
