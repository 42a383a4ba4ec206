"""The training methods as objects: supervised, cross teaching, and MCSC.

Each method says which networks it trains (and so which optimisers a run has), whether it
draws unlabelled slices, how the networks are put in training mode, and the losses of one
batch. The trainer asks the method; nothing else compares method names. ``method_named``
turns the name a configuration or a command line holds into the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from napari_mcsc.losses import (
    cross_teaching_loss,
    hard_labels,
    multi_scale_cross_contrastive_loss,
    supervised_loss,
)
from napari_mcsc.losses.contrastive import IGNORE
from napari_mcsc.training.schedules import sigmoid_rampup
from napari_mcsc.training.teachers import CrossTargets, cross_targets


@dataclass
class Batch:
    """One step's rows on the device: ``n_labelled`` painted slices then ``n_unlabelled``
    others. ``cross``: the unlabelled rows' targets made by a separate teacher pass (None:
    from this pass, the paper's way); ``truth``: their truth where a benchmark knows it."""

    x: torch.Tensor
    targets: torch.Tensor
    n_labelled: int
    n_unlabelled: int
    progress: float
    cross: CrossTargets | None = None
    truth: torch.Tensor | None = None


class Supervised:
    """The CNN on the painted slices alone; the Swin-UNet stays untrained."""

    name: ClassVar[str] = "sup"
    label: ClassVar[str] = "supervised (CNN only)"
    train_text: ClassVar[str] = "Train (supervised)"  # what a Train button says
    networks: ClassVar[tuple[str, ...]] = ("cnn",)
    uses_unlabelled: ClassVar[bool] = False

    @property
    def trains_transformer(self) -> bool:
        return "swin" in self.networks

    def optimizers(self, nets, cfg) -> dict[str, torch.optim.Optimizer]:
        """One AdamW per trained network, at its base learning rate."""
        rates = {"cnn": cfg.cnn_lr, "swin": cfg.swin_lr, "projector": cfg.projector_lr}
        return {
            name: torch.optim.AdamW(
                getattr(nets, name).parameters(), lr=rates[name], weight_decay=cfg.weight_decay
            )
            for name in self.networks
        }

    def train_mode(self, nets) -> None:
        """Training mode for the trained networks (an untrained one stays in eval mode)."""
        nets.train()
        if not self.trains_transformer:
            nets.swin.eval()

    def losses(self, trainer, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total loss of ``batch`` and its terms (tensors)."""
        out_a = trainer.model.networks.cnn(batch.x)
        losses = {"sup_cnn": supervised_loss(out_a.logits[: batch.n_labelled].float(), batch.targets)}
        losses["total"] = losses["sup_cnn"]
        return losses["total"], losses

    def report(self, cfg, progress: float) -> dict[str, float]:
        """Figures of the step beyond its losses."""
        return {}


class CrossTeaching(Supervised):
    """Both networks on the painted slices, each learning the other's labels of the
    unlabelled ones with a weight that ramps up (cross teaching)."""

    name: ClassVar[str] = "ct"
    label: ClassVar[str] = "cross teaching only"
    train_text: ClassVar[str] = "Train semi-supervised (cross teaching)"
    networks: ClassVar[tuple[str, ...]] = ("cnn", "swin")
    uses_unlabelled: ClassVar[bool] = True

    def losses(self, trainer, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, losses, _ = self._cross_teaching(trainer, batch)
        losses["total"] = total
        return total, losses

    def _cross_teaching(self, trainer, batch: Batch):
        """Supervised and cross-teaching terms; also the outputs and targets the
        contrastive loss of MCSC reuses."""
        nets, n_lab = trainer.model.networks, batch.n_labelled
        out_a = nets.cnn(batch.x)
        losses = {"sup_cnn": supervised_loss(out_a.logits[:n_lab].float(), batch.targets)}
        out_b = nets.swin(batch.x)
        losses["sup_swin"] = supervised_loss(out_b.logits[:n_lab].float(), batch.targets)
        total = losses["sup_cnn"] + losses["sup_swin"]
        weight = consistency_weight(trainer.config, batch.progress)
        cross = batch.cross
        if cross is None:
            cross = same_pass_targets(trainer, out_a.logits[n_lab:], out_b.logits[n_lab:], batch.truth)
        if batch.n_unlabelled:
            la, lb = out_a.logits[n_lab:].float(), out_b.logits[n_lab:].float()
            losses["ct_cnn"] = cross_teaching_loss(la, cross.for_cnn)
            losses["ct_swin"] = cross_teaching_loss(lb, cross.for_swin)
            total = total + weight * (losses["ct_cnn"] + losses["ct_swin"])
        return total, losses, (out_a, out_b, cross)

    def report(self, cfg, progress: float) -> dict[str, float]:
        return {"ct_weight": consistency_weight(cfg, progress)}


class MCSC(CrossTeaching):
    """Cross teaching plus the multi-scale, class-balanced cross contrastive loss on the
    networks' features (method.md §4)."""

    name: ClassVar[str] = "mcsc"
    label: ClassVar[str] = "semi-supervised (MCSC)"
    train_text: ClassVar[str] = "Train semi-supervised (MCSC)"
    networks: ClassVar[tuple[str, ...]] = ("cnn", "swin", "projector")

    def losses(self, trainer, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, losses, (out_a, out_b, cross) = self._cross_teaching(trainer, batch)
        total = total + _contrastive(trainer, batch, out_a, out_b, cross, losses)
        losses["total"] = total
        return total, losses


#: Every method by name: the full method, then its ablations.
METHOD_CLASSES = {cls.name: cls for cls in (MCSC, CrossTeaching, Supervised)}
METHODS = tuple(METHOD_CLASSES)


def method_named(name: str) -> Supervised:
    """The method called ``name`` (``TrainConfig.method``); a ValueError names the choices."""
    if name not in METHOD_CLASSES:
        raise ValueError(f"method must be one of {METHODS}, got {name!r}")
    return METHOD_CLASSES[name]()


def consistency_weight(cfg, progress: float) -> float:
    """Cross-teaching weight: ramps up over the semi-supervised part of the run."""
    return cfg.consistency_max * sigmoid_rampup(cfg.semi_progress(progress), cfg.consistency_rampup)


def same_pass_targets(trainer, logits_a, logits_b, truth) -> CrossTargets:
    """Each network's hard prediction on the unlabelled rows from the training pass,
    computed once: the other's cross-teaching target and its contrastive labels.
    Unfiltered (the paper) unless a threshold or agreement is set."""
    cfg = trainer.config
    pred_a, pred_b = hard_labels(logits_a), hard_labels(logits_b)
    filtered = cfg.pseudo_threshold > 0 or cfg.pseudo_agreement
    if filtered:
        probs_a = torch.softmax(logits_a.detach().float(), dim=1)
        probs_b = torch.softmax(logits_b.detach().float(), dim=1)
        cross = cross_targets(probs_a, probs_b, cfg.pseudo_threshold, cfg.pseudo_agreement)
    else:
        cross = CrossTargets(for_cnn=pred_b, for_swin=pred_a)
    if len(pred_a) and (truth is not None or filtered):  # else all kept: nothing to measure
        trainer.pseudo_labels.update("swin", cross.for_cnn, pred_b, truth)
        trainer.pseudo_labels.update("cnn", cross.for_swin, pred_a, truth)
    return cross


def _contrastive(trainer, batch: Batch, out_a, out_b, cross, losses) -> torch.Tensor:
    cfg, nets = trainer.config, trainer.model.networks
    for_cnn, for_swin = cross.for_cnn, cross.for_swin
    if cfg.semi_progress(batch.progress) < cfg.contrastive_warmup:  # labelled slices only at first
        for_cnn = torch.full_like(for_cnn, IGNORE)
        for_swin = torch.full_like(for_swin, IGNORE)
    # Cross labels: CNN pixels take the Swin's prediction and vice versa.
    labels_a = torch.cat([batch.targets, for_cnn])
    labels_b = torch.cat([batch.targets, for_swin])
    per_scale = multi_scale_cross_contrastive_loss(
        list(out_a.features),
        list(out_b.features),
        labels_a,
        labels_b,
        trainer.samplers,
        nets.projector.project_vectors,
        num_classes=trainer.model.num_classes,
        temperature=cfg.temperature,
        generator=trainer.generator,
    )
    for name, value in zip(("con_full", "con_low"), per_scale, strict=False):
        losses[name] = value
    # Both networks' objectives hold the same contrastive terms (method.md §4.6).
    return 2.0 * cfg.contrastive_weight * sum(per_scale)
