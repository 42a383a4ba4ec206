"""The MCSC trainer: a generator that trains both networks and reports every iteration.

``Trainer.run()`` yields a ``ProgressEvent`` after each optimisation step, so a caller
(CLI progress bar, napari worker thread) can show progress and stop at any yield: the
model is always usable, since a step is complete before it is reported.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch

from napari_mcsc._torch_env import keep_torch_from_importing_triton
from napari_mcsc.data.augment import Augmentation, augment_batch, jitter_intensity
from napari_mcsc.data.slices import FAR, SliceSet
from napari_mcsc.data.strong_view import cutmix, strong_view
from napari_mcsc.devices import pick_device
from napari_mcsc.losses import (
    BlockSetSampler,
    cross_teaching_loss,
    hard_labels,
    multi_scale_cross_contrastive_loss,
    supervised_loss,
)
from napari_mcsc.losses.contrastive import IGNORE
from napari_mcsc.model import SegmentationModel
from napari_mcsc.networks import load_pretrained_swin
from napari_mcsc.training.batches import NearestFirstBatches, TwoStreamBatches
from napari_mcsc.training.config import TrainConfig
from napari_mcsc.training.events import Preview, ProgressEvent
from napari_mcsc.training.outcome import RunOutcome
from napari_mcsc.training.schedules import poly_lr, sigmoid_rampup, warmup_poly_lr
from napari_mcsc.training.selection import BestCheckpoint
from napari_mcsc.training.speed_memory import remember_speed
from napari_mcsc.training.teachers import CrossTargets, EmaTeachers, PseudoLabelMonitor, cross_targets
from napari_mcsc.training.threads import ThreadTuner

PreviewRequest = Callable[[], "tuple[int, int] | None"]


class Trainer:
    """Trains a ``SegmentationModel`` on a ``SliceSet`` with MCSC (or CT / supervised).

    ``init``: a model to fine-tune (warm start); its architecture is kept, and classes
    it does not know yet are added. ``preview_request`` returns the (volume, slice) to
    preview, or None; it is called from the training thread, so it must only read.
    ``validation``: keep the best of several evaluations instead of the last iteration
    (the paper's model selection). On the CPU the thread count follows ``ThreadTuner``.
    ``resume``: a ``training.resume.Resume`` to continue a checkpointed run where it
    stopped; ``training.resume.capture(trainer, iteration)`` captures one at any yield.
    ``distributed``: a started ``training.distributed.DistributedRun`` (torchrun): this
    process trains its shard of ``data`` under DistributedDataParallel.
    ``carry``: a ``training.state.TrainState`` of an earlier run (a study's previous
    round): its optimisers, EMA teachers and schedule position continue here;
    ``TrainState.capture(trainer)`` takes the one to hand on.
    """

    def __init__(
        self,
        config: TrainConfig,
        data: SliceSet,
        *,
        init: SegmentationModel | None = None,
        preview_request: PreviewRequest | None = None,
        validation: BestCheckpoint | None = None,
        resume=None,
        distributed=None,
        carry=None,
    ) -> None:
        keep_torch_from_importing_triton()
        if init is not None:
            config = config.with_architecture_of(init.config)
            if data.image_size != config.image_size:
                raise ValueError(
                    f"the data was prepared at {data.image_size} px but the model to fine-tune "
                    f"expects {config.image_size} px"
                )
        self.config = config
        self.data = data
        self.preview_request = preview_request
        self.validation = validation
        self.outcome: RunOutcome | None = None
        self.device = pick_device(config.device)
        self._stop = False
        self.resume = resume
        self.distributed = distributed
        self.carry = carry
        # Iterations done on the schedules before this run (a carried state's position).
        self.schedule_start = 0
        self.schedule_position = 0
        # Facts for the history entry: resumed at, processes, global batch and slice counts.
        self.run_notes: dict = {} if distributed is None else dict(distributed.notes)
        # Each process of a distributed run draws its own augmentations and samples.
        seed = config.seed + (distributed.rank if distributed is not None else 0)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        self.generator = torch.Generator().manual_seed(seed)
        self.model = self._make_model(init)
        if resume is not None:
            from napari_mcsc.training.resume import check_resume

            check_resume(self, resume)  # before any work
        self.augmentation = Augmentation(
            style=config.augmentation,
            image_mode="nearest" if config.image_interpolation == "nearest" else "bilinear",
        )
        self.samplers = [
            BlockSetSampler(size, sets, config.max_pixels_per_set)
            for size, sets in zip(config.block_sizes, config.max_sets, strict=True)
        ]
        # The targets the networks teach each other, measured (training/teachers.py).
        self.pseudo_labels = PseudoLabelMonitor(self.model.num_classes)
        self.ema: EmaTeachers | None = None

    # ----------------------------------------------------------------- setup
    def _make_model(self, init: SegmentationModel | None) -> SegmentationModel:
        data, cfg = self.data, self.config
        fresh = SegmentationModel.create(cfg, data.mapping, data.normalisation, data.axis)
        if init is None:
            if cfg.swin_pretrained and cfg.method != "sup":
                load_pretrained_swin(fresh.networks.swin, cfg.swin_pretrained)
            return fresh
        if init.axis != data.axis:
            raise ValueError(f"the model was trained on slices along axis {init.axis}, not {data.axis}")
        # Keep the old weights; layers whose shape changed (new classes) start fresh.
        current = fresh.networks.state_dict()
        kept = {
            k: v
            for k, v in init.networks.state_dict().items()
            if k in current and current[k].shape == v.shape
        }
        fresh.networks.load_state_dict(kept, strict=False)
        fresh.trained_iterations = init.trained_iterations
        fresh.history = list(init.history)
        return fresh

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        nets, cfg = self.model.networks, self.config
        adamw = dict(weight_decay=cfg.weight_decay)
        optimizers = {"cnn": torch.optim.AdamW(nets.cnn.parameters(), lr=cfg.cnn_lr, **adamw)}
        if cfg.method != "sup":
            optimizers["swin"] = torch.optim.AdamW(nets.swin.parameters(), lr=cfg.swin_lr, **adamw)
        if cfg.method == "mcsc":
            optimizers["projector"] = torch.optim.AdamW(
                nets.projector.parameters(), lr=cfg.projector_lr, **adamw
            )
        return optimizers

    def _learning_rates(self, progress: float) -> dict[str, float]:
        cfg, floor = self.config, self.config.lr_floor
        return {
            "cnn": poly_lr(cfg.cnn_lr, progress, floor=floor),
            "swin": warmup_poly_lr(cfg.swin_lr, progress, cfg.swin_warmup, floor=floor),
            "projector": poly_lr(cfg.projector_lr, progress, floor=floor),
        }

    def schedule_progress(self, iteration: int) -> float:
        """Where iteration ``iteration`` of this run stands on the schedules, in [0, 1]:
        over the run itself, or over ``schedule_horizon`` counted from a carried position."""
        cfg = self.config
        horizon = cfg.schedule_horizon or cfg.iterations
        return min(1.0, (self.schedule_start + iteration) / horizon)

    def request_stop(self) -> None:
        """Ask the run to end after the current iteration (thread-safe)."""
        self._stop = True

    # ------------------------------------------------------------------- run
    def run(self) -> Iterator[ProgressEvent]:
        """Train, yielding one event per iteration; the model stays usable at any yield.

        The run ends after ``config.iterations`` iterations, or earlier at a Stop or when
        ``config.max_seconds`` has passed; ``outcome`` then says how far it got.
        """
        cfg = self.config
        tuner = ThreadTuner() if self.device.type == "cpu" else None
        nets = self.model.networks.to(self.device)
        nets.train()
        if cfg.method == "sup":
            nets.swin.eval()
        optimizers = self._optimizers()
        self._optimizer_names = tuple(optimizers)
        use_amp = cfg.amp and self.device.type == "cuda"
        amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
        nearest_first = (
            cfg.unlabelled_order == "nearest_first"
            and cfg.method != "sup"
            and self.data.unlabelled_distance is not None
            and self.data.num_unlabelled > 0
        )
        if nearest_first:
            near = self.data.unlabelled_distance[self.data.unlabelled_distance < FAR]
            self._widest_reach = int(near.max()) if len(near) else 1  # once, not every step
            batches = NearestFirstBatches(
                self.data.num_labelled,
                self.data.unlabelled_distance,
                cfg.batch_size,
                cfg.labelled_batch_size,
                self.generator,
            )
        else:
            batches = TwoStreamBatches(
                self.data.num_labelled,
                self.data.num_unlabelled if cfg.method != "sup" else 0,
                cfg.batch_size,
                cfg.labelled_batch_size,
                self.generator,
            )
        # During the supervised warm-up both networks see painted slices only: their
        # predictions on unlabelled slices are still noise, not worth the compute.
        warmup_batches = TwoStreamBatches(
            self.data.num_labelled, 0, cfg.batch_size, cfg.labelled_batch_size, self.generator
        )
        if cfg.method != "sup" and cfg.teacher == "ema":
            self.ema = EmaTeachers(nets.cnn, nets.swin, cfg.ema_decay).to(self.device)
        self._live = {
            "optimizers": optimizers,
            "streams": (warmup_batches, batches),
            "scaler": scaler,
            "ema": self.ema,
        }
        iteration = 0
        if self.carry is not None:
            fresh = self.carry.restore(self)
            self.run_notes["carried_from"] = self.schedule_start
            if fresh:
                self.run_notes["fresh_optimizers"] = fresh
        if self.resume is not None:
            from napari_mcsc.training.resume import restore

            iteration = restore(self, self.resume)
        self.schedule_position = self.schedule_start + iteration
        self._forward = self.distributed.wrap(nets) if self.distributed is not None else _call
        selector = self.validation
        start = time.perf_counter()
        last_preview = -np.inf
        step_times: list[float] = []
        ended_by = "iterations"
        try:
            while iteration < cfg.iterations:
                elapsed = time.perf_counter() - start
                verdict = (
                    "stop"
                    if self._stop
                    else ("time cap" if cfg.max_seconds is not None and elapsed >= cfg.max_seconds else None)
                )
                if self.distributed is not None:
                    verdict = self.distributed.agree(verdict)  # one decision for every process
                if verdict is not None:
                    ended_by = verdict
                    break
                progress = self.schedule_progress(iteration)
                lrs = self._learning_rates(progress)
                for name, opt in optimizers.items():
                    for group in opt.param_groups:
                        group["lr"] = lrs[name]
                t0 = time.perf_counter()
                stream = warmup_batches if progress < cfg.supervised_warmup else batches
                if nearest_first:
                    batches.reach = self._reach(progress)
                losses = self._step(stream, optimizers, progress, scaler, use_amp, amp_dtype)
                if self.distributed is not None:
                    losses = self.distributed.average(losses)  # report the mean over processes
                step_times.append(time.perf_counter() - t0)
                if tuner is not None:
                    tuner.record(step_times[-1])
                iteration += 1
                self.schedule_position += 1
                self.model.trained_iterations += 1
                if selector is not None and selector.due(iteration, cfg.iterations):
                    selector.evaluate(self.model, iteration)
                    self._back_to_train_mode()
                elapsed = time.perf_counter() - start
                preview = None
                if self.preview_request is not None and elapsed - last_preview >= cfg.preview_every_seconds:
                    preview = self._preview()
                    last_preview = elapsed
                yield self._event(iteration, elapsed, step_times, losses, lrs, preview)
        except KeyboardInterrupt:
            ended_by = "stop"
            raise
        finally:
            if selector is not None:
                selector.restore_best(self.model)
            nets.eval()
            self.outcome = RunOutcome(
                planned=cfg.iterations,
                done=iteration,
                ended_by=ended_by,
                seconds=round(time.perf_counter() - start, 2),
                seconds_per_iteration=round(float(np.median(step_times)), 4) if step_times else None,
            )
            entry = {
                "method": cfg.method,
                "profile": cfg.profile,
                **self.outcome.to_dict(),
                "labelled_slices": self.data.num_labelled,
                "unlabelled_slices": self.data.num_unlabelled,
                **self.run_notes,
            }
            if tuner is not None:
                entry.update(tuner.summary())
            if selector is not None:
                entry["selected"] = selector.summary()
            self.model.history.append(entry)
            if step_times and self.outcome.complete and self.distributed is None:
                remember_speed(cfg, self.device.type, self.outcome.seconds_per_iteration)

    def _back_to_train_mode(self) -> None:
        self.model.networks.train()
        if self.config.method == "sup":
            self.model.networks.swin.eval()

    def _event(self, iteration, elapsed, step_times, losses, lrs, preview) -> ProgressEvent:
        cfg = self.config
        per_iter = float(np.median(step_times[-20:]))
        eta = max(0.0, (cfg.iterations - iteration) * per_iter)
        if cfg.max_seconds is not None:
            eta = min(eta, max(0.0, cfg.max_seconds - elapsed))
        return ProgressEvent(
            iteration=iteration,
            total=cfg.iterations,
            progress=min(1.0, iteration / cfg.iterations),
            losses=losses,
            learning_rates={k: lrs[k] for k in self._optimizer_names},
            seconds_per_iteration=per_iter,
            elapsed=elapsed,
            eta_seconds=eta,
            preview=preview,
        )

    # ------------------------------------------------------------------ step
    def _step(self, batches, optimizers, progress, scaler, use_amp, amp_dtype) -> dict[str, float]:
        cfg, data = self.config, self.data
        lab_idx, unlab_idx = batches.next()
        images = torch.cat([data.labelled_images[lab_idx], data.unlabelled_images[unlab_idx]])
        targets = data.labelled_targets[lab_idx]
        n_lab, n_unlab = len(lab_idx), len(unlab_idx)
        # Labelled and unlabelled slices are warped together; the unlabelled rows' targets
        # are their truth where a benchmark knows it (to measure pseudo-labels), else dummies.
        truth = data.unlabelled_truth
        unlab_targets = (
            truth[unlab_idx]
            if truth is not None
            else torch.zeros((n_unlab, *targets.shape[1:]), dtype=targets.dtype)
        )
        two_views = cfg.strong_view and cfg.method != "sup" and n_unlab > 0
        images, all_targets = augment_batch(
            images,
            torch.cat([targets, unlab_targets]),
            self.augmentation,
            self.generator,
            intensity=not two_views,
        )
        targets = all_targets[:n_lab].to(self.device)
        unlab_truth = all_targets[n_lab:].to(self.device) if truth is not None else None

        autocast = torch.autocast("cuda", dtype=amp_dtype) if use_amp else contextlib.nullcontext()
        cross = None
        if cfg.method != "sup" and n_unlab and cfg.teacher != "same_pass":
            weak = images[n_lab:]
            with autocast:
                cross = self._teacher_targets(weak[:, None].to(self.device), unlab_truth)
            if two_views:
                student = strong_view(weak, self.augmentation, self.generator)
                maps = [cross.for_cnn.cpu(), cross.for_swin.cpu()]
                student, maps = cutmix(student, maps, self.generator)
                cross = CrossTargets(*(m.to(self.device) for m in maps))
                labelled = images[:n_lab]
                if self.augmentation.style == "strong":  # the labelled rows as without two views
                    labelled = jitter_intensity(labelled, self.augmentation, self.generator)
                images = torch.cat([labelled, student])
        x = images[:, None].to(self.device, non_blocking=True)

        with autocast:  # through ``_forward``: DistributedDataParallel needs the forward pass
            total, losses = self._forward(
                lambda: self._losses(x, targets, n_lab, n_unlab, progress, cross, unlab_truth)
            )
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        if not torch.isfinite(total):
            raise FloatingPointError(
                f"the training loss became {float(total)} at iteration {self.model.trained_iterations}; "
                "try a lower learning rate or check the image for extreme values"
            )
        scaler.scale(total).backward()
        for opt in optimizers.values():
            scaler.step(opt)
        scaler.update()
        if self.ema is not None:
            self.ema.update(self.model.networks.cnn, self.model.networks.swin)
        report = {k: float(v.detach()) for k, v in losses.items()}
        if cfg.method != "sup":
            report["ct_weight"] = self._consistency_weight(progress)
        return report

    @torch.no_grad()
    def _teacher_targets(self, weak: torch.Tensor, truth: torch.Tensor | None) -> CrossTargets:
        """Each network's filtered labels of the unlabelled rows, from a pass without
        gradient: the EMA copies, or the networks themselves in eval mode."""
        cfg = self.config
        teachers = self.ema if self.ema is not None else self.model.networks
        if self.ema is None:
            teachers.eval()
        probs_a = torch.softmax(teachers.cnn(weak).logits.float(), dim=1)
        probs_b = torch.softmax(teachers.swin(weak).logits.float(), dim=1)
        if self.ema is None:
            self._back_to_train_mode()
        cross = cross_targets(probs_a, probs_b, cfg.pseudo_threshold, cfg.pseudo_agreement)
        self.pseudo_labels.update("swin", cross.for_cnn, probs_b.argmax(dim=1), truth)
        self.pseudo_labels.update("cnn", cross.for_swin, probs_a.argmax(dim=1), truth)
        return cross

    def _losses(
        self, x, targets, n_lab, n_unlab, progress, cross=None, truth=None
    ) -> tuple[torch.Tensor, dict]:
        """The forward pass: the total loss and its terms (tensors) for one batch.

        ``cross``: the targets of the unlabelled rows made by a separate teacher pass; None
        makes them from this pass (the paper's ``same_pass``)."""
        cfg, nets = self.config, self.model.networks
        losses: dict[str, torch.Tensor] = {}
        out_a = nets.cnn(x)
        losses["sup_cnn"] = supervised_loss(out_a.logits[:n_lab].float(), targets)
        total = losses["sup_cnn"]
        out_b = None
        if cfg.method != "sup":
            out_b = nets.swin(x)
            losses["sup_swin"] = supervised_loss(out_b.logits[:n_lab].float(), targets)
            total = total + losses["sup_swin"]
            weight = self._consistency_weight(progress)
            if cross is None:
                cross = self._same_pass_targets(out_a.logits[n_lab:], out_b.logits[n_lab:], truth)
            if n_unlab:
                la, lb = out_a.logits[n_lab:].float(), out_b.logits[n_lab:].float()
                losses["ct_cnn"] = cross_teaching_loss(la, cross.for_cnn)
                losses["ct_swin"] = cross_teaching_loss(lb, cross.for_swin)
                total = total + weight * (losses["ct_cnn"] + losses["ct_swin"])
        if cfg.method == "mcsc":
            total = total + self._contrastive(out_a, out_b, targets, cross, progress, losses)
        losses["total"] = total
        return total, losses

    def _same_pass_targets(self, logits_a, logits_b, truth) -> CrossTargets:
        """Each network's hard prediction on the unlabelled rows from the training pass,
        computed once: the other's cross-teaching target and its contrastive labels.
        Unfiltered (the paper) unless a threshold or agreement is set."""
        cfg = self.config
        pred_a, pred_b = hard_labels(logits_a), hard_labels(logits_b)
        filtered = cfg.pseudo_threshold > 0 or cfg.pseudo_agreement
        if filtered:
            probs_a = torch.softmax(logits_a.detach().float(), dim=1)
            probs_b = torch.softmax(logits_b.detach().float(), dim=1)
            cross = cross_targets(probs_a, probs_b, cfg.pseudo_threshold, cfg.pseudo_agreement)
        else:
            cross = CrossTargets(for_cnn=pred_b, for_swin=pred_a)
        if len(pred_a) and (truth is not None or filtered):  # else all kept: nothing to measure
            self.pseudo_labels.update("swin", cross.for_cnn, pred_b, truth)
            self.pseudo_labels.update("cnn", cross.for_swin, pred_a, truth)
        return cross

    def _reach(self, progress: float) -> int:
        """How far from a painted slice unlabelled slices are drawn (``nearest_first``):
        1 slice at the start of the semi-supervised part, every slice of a painted volume
        by its middle, and slices of unpainted volumes only then."""
        fraction = min(1.0, 2.0 * self.config.semi_progress(progress))
        return FAR if fraction >= 1.0 else max(1, round(fraction * self._widest_reach))

    def _consistency_weight(self, progress: float) -> float:
        """Cross-teaching weight: ramps up over the semi-supervised part of the run."""
        cfg = self.config
        return cfg.consistency_max * sigmoid_rampup(cfg.semi_progress(progress), cfg.consistency_rampup)

    def _contrastive(self, out_a, out_b, targets, cross, progress, losses) -> torch.Tensor:
        cfg, nets = self.config, self.model.networks
        for_cnn, for_swin = cross.for_cnn, cross.for_swin
        if cfg.semi_progress(progress) < cfg.contrastive_warmup:  # labelled slices only at first
            for_cnn = torch.full_like(for_cnn, IGNORE)
            for_swin = torch.full_like(for_swin, IGNORE)
        # Cross labels: CNN pixels take the Swin's prediction and vice versa.
        labels_a = torch.cat([targets, for_cnn])
        labels_b = torch.cat([targets, for_swin])
        per_scale = multi_scale_cross_contrastive_loss(
            list(out_a.features),
            list(out_b.features),
            labels_a,
            labels_b,
            self.samplers,
            nets.projector.project_vectors,
            num_classes=self.model.num_classes,
            temperature=cfg.temperature,
            generator=self.generator,
        )
        for name, value in zip(("con_full", "con_low"), per_scale, strict=False):
            losses[name] = value
        # Both networks' objectives hold the same contrastive terms (method.md §4.6).
        return 2.0 * cfg.contrastive_weight * sum(per_scale)

    # --------------------------------------------------------------- preview
    def _preview(self) -> Preview | None:
        from napari_mcsc.inference import predict_slices

        request = self.preview_request() if self.preview_request else None
        if request is None:
            return None
        volume_index, slice_index = request
        volumes = self.data.volumes
        if not (0 <= volume_index < len(volumes) and 0 <= slice_index < volumes[volume_index].shape[0]):
            return None
        classes = predict_slices(
            self.model,
            volumes[volume_index][slice_index : slice_index + 1],
            normalised=True,
            device=self.device,
        ).labels[0]
        self._back_to_train_mode()
        return Preview(volume_index, slice_index, classes)


def _call(compute: Callable[[], tuple]) -> tuple:
    """The forward pass of a single-process run: just compute the losses."""
    return compute()
