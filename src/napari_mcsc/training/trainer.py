"""The trainer: a generator that trains a model and reports every iteration.

``Trainer.run()`` yields a ``ProgressEvent`` after each optimisation step, so a caller
(CLI progress bar, napari worker thread) can show progress and stop at any yield: the
model is always usable, since a step is complete before it is reported. What is trained
and with which losses is the method's (``training.methods``); the trainer owns the
loop: data, augmentation, schedules, mixed precision, stop and time cap, selection,
preview and history.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from napari_mcsc._torch_env import keep_torch_from_importing_triton
from napari_mcsc.data.augment import augment_batch, jitter_intensity, random_patches
from napari_mcsc.data.slices import FAR, SliceSet
from napari_mcsc.data.strong_view import cutmix, strong_view
from napari_mcsc.devices import mixed_precision_dtype, pick_device, precision_name
from napari_mcsc.losses import BlockSetSampler
from napari_mcsc.model import SegmentationModel
from napari_mcsc.networks import load_pretrained_swin
from napari_mcsc.training.batches import NearestFirstBatches, TwoStreamBatches
from napari_mcsc.training.config import TrainConfig
from napari_mcsc.training.events import Preview, ProgressEvent
from napari_mcsc.training.methods import Batch, method_named
from napari_mcsc.training.outcome import RunOutcome
from napari_mcsc.training.schedules import poly_lr, warmup_poly_lr
from napari_mcsc.training.selection import BestCheckpoint
from napari_mcsc.training.speed_memory import remember_speed
from napari_mcsc.training.state import LiveRun
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
        focus: Sequence[int] = (),
    ) -> None:
        keep_torch_from_importing_triton()
        if init is not None:
            config = config.with_architecture_of(init.settings)
            if data.image_size != config.image_size:
                raise ValueError(
                    f"the data was prepared at {data.image_size} px but the model to fine-tune "
                    f"expects {config.image_size} px"
                )
        self.config = config
        self.method = method_named(config.method)
        self.data = data
        self.focus = list(focus)  # labelled slices drawn more often (config.focus_share)
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
        self.augmentation = config.augmentation_settings()
        self.samplers = [
            BlockSetSampler(size, sets, config.max_pixels_per_set)
            for size, sets in zip(config.block_sizes, config.max_sets, strict=True)
        ]
        # The targets the networks teach each other, measured (training/teachers.py).
        self.pseudo_labels = PseudoLabelMonitor(self.model.num_classes)
        self.ema: EmaTeachers | None = None
        self.average: EmaTeachers | None = None  # the averaged weights (config.average_weights)
        # The optimisers, scaler, batch streams and EMA teachers of the run (``run()``
        # makes them): what ``TrainState`` carries to a next round and resume restores.
        self.live: LiveRun | None = None

    # ----------------------------------------------------------------- setup
    def _make_model(self, init: SegmentationModel | None) -> SegmentationModel:
        data, cfg = self.data, self.config
        settings = cfg.model_settings(data.field_share)
        fresh = SegmentationModel.create(settings, data.mapping, data.normalisation, data.axis)
        if init is None:
            if cfg.swin_pretrained and self.method.trains_transformer:
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
        fresh.trained_networks = init.trained_networks
        return fresh

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

    def _start(self) -> int:
        """Put the networks on the device in training mode, make the run's optimisers,
        scaler and batch streams, and continue a carried or resumed run; returns the
        iteration the run starts at."""
        cfg, data, method = self.config, self.data, self.method
        nets = self.model.networks.to(self.device)
        if self.device.type in ("cpu", "cuda"):
            # oneDNN and cuDNN convolve channels-last tensors faster: 10-30 % of a CPU step
            # in bfloat16 (docs/benchmarks.md, section 26); the weights' values are unchanged
            nets.cnn.to(memory_format=torch.channels_last)
        method.train_mode(nets)
        amp_dtype = mixed_precision_dtype(self.device) if cfg.amp else None
        self.run_notes["precision"] = precision_name(amp_dtype)
        unlabelled = data.num_unlabelled if method.uses_unlabelled else 0
        focus = {"focus": self.focus, "focus_share": cfg.focus_share}
        self._nearest_first = (
            cfg.unlabelled_order == "nearest_first"
            and data.unlabelled_distance is not None
            and unlabelled > 0
        )
        if self._nearest_first:
            near = data.unlabelled_distance[data.unlabelled_distance < FAR]
            self._widest_reach = int(near.max()) if len(near) else 1  # once, not every step
            batches = NearestFirstBatches(
                data.num_labelled,
                data.unlabelled_distance,
                cfg.batch_size,
                cfg.labelled_batch_size,
                self.generator,
                **focus,
            )
        else:
            batches = TwoStreamBatches(
                data.num_labelled,
                unlabelled,
                cfg.batch_size,
                cfg.labelled_batch_size,
                self.generator,
                **focus,
            )
        # During the supervised warm-up both networks see painted slices only: their
        # predictions on unlabelled slices are still noise, not worth the compute.
        warmup_batches = TwoStreamBatches(
            data.num_labelled, 0, cfg.batch_size, cfg.labelled_batch_size, self.generator, **focus
        )
        if method.uses_unlabelled and cfg.teacher == "ema":
            self.ema = EmaTeachers(nets.cnn, nets.swin, cfg.ema_decay).to(self.device)
        if cfg.average_weights is not None:
            self.average = EmaTeachers(
                nets.cnn, nets.swin, cfg.average_weights, warm_up=True, networks=method.networks
            )
            self.average.to(self.device)
        self.live = LiveRun(
            optimizers=method.optimizers(nets, cfg),
            scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
            streams=(warmup_batches, batches),
            ema=self.ema,
            amp_dtype=amp_dtype,
        )
        self.model.trained_networks = self.model.trained_networks | set(method.networks)
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
        return iteration

    # ------------------------------------------------------------------- run
    def run(self) -> Iterator[ProgressEvent]:
        """Train, yielding one event per iteration; the model stays usable at any yield.

        The run ends after ``config.iterations`` iterations, or earlier at a Stop or when
        ``config.max_seconds`` has passed; ``outcome`` then says how far it got.
        """
        cfg = self.config
        tuner = ThreadTuner() if self.device.type == "cpu" else None
        iteration = self._start()
        start, last_preview, step_times, ended_by = time.perf_counter(), -np.inf, [], "iterations"
        try:
            while iteration < cfg.iterations:
                ended_by = self._verdict(time.perf_counter() - start)
                if ended_by is not None:
                    break
                t0 = time.perf_counter()
                losses, lrs = self._train_one(iteration)
                step_times.append(time.perf_counter() - t0)
                if tuner is not None:
                    tuner.record(step_times[-1])
                iteration += 1
                self.schedule_position += 1
                self.model.trained_iterations += 1
                self._select(iteration)
                elapsed = time.perf_counter() - start
                preview = None
                if self.preview_request is not None and elapsed - last_preview >= cfg.preview_every_seconds:
                    preview, last_preview = self._preview(), elapsed
                yield self._event(iteration, elapsed, step_times, losses, lrs, preview)
            ended_by = ended_by or "iterations"
        except KeyboardInterrupt:
            ended_by = "stop"
            raise
        finally:
            self._finish(iteration, ended_by or "iterations", time.perf_counter() - start, step_times, tuner)

    def _verdict(self, elapsed: float) -> str | None:
        """Why the run ends before its next iteration (a Stop, the time cap), or None."""
        cap = self.config.max_seconds
        verdict = "stop" if self._stop else ("time cap" if cap is not None and elapsed >= cap else None)
        if self.distributed is not None:
            verdict = self.distributed.agree(verdict)  # one decision for every process
        return verdict

    def _train_one(self, iteration: int) -> tuple[dict[str, float], dict[str, float]]:
        """One optimisation step at ``iteration`` of this run: its losses and learning rates."""
        progress = self.schedule_progress(iteration)
        lrs = self._learning_rates(progress)
        for name, opt in self.live.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = lrs[name]
        warmup_batches, batches = self.live.streams
        stream = warmup_batches if progress < self.config.supervised_warmup else batches
        if self._nearest_first:
            batches.reach = self._reach(progress)
        losses = self._step(stream, progress, self._on_squares(iteration))
        if self.distributed is not None:
            losses = self.distributed.average(losses)  # report the mean over processes
        return losses, lrs

    def _on_squares(self, iteration: int) -> bool:
        """Whether iteration ``iteration`` of this run trains on squares of the slices
        (``patch_size``, for the first ``patch_share`` of the run)."""
        cfg = self.config
        return cfg.patch_size is not None and iteration < cfg.patch_share * cfg.iterations

    def _select(self, iteration: int) -> None:
        """Evaluate for model selection when due (``validation``)."""
        if self.validation is not None and self.validation.due(iteration, self.config.iterations):
            self.validation.evaluate(self.model, iteration)
            self._back_to_train_mode()

    def _finish(self, iteration, ended_by, seconds, step_times, tuner) -> None:
        """Keep the selected model, set ``outcome`` and append the run to the history."""
        cfg = self.config
        if self.average is not None and iteration > 0:
            self.average.copy_into(self.model.networks.cnn, self.model.networks.swin)
        if self.validation is not None:
            self.validation.restore_best(self.model)
        self.model.networks.eval()
        self.outcome = RunOutcome(
            planned=cfg.iterations,
            done=iteration,
            ended_by=ended_by,
            seconds=round(seconds, 2),
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
        if self.validation is not None:
            entry["selected"] = self.validation.summary()
        self.model.history.append(entry)
        if step_times and self.outcome.complete and self.distributed is None:
            remember_speed(cfg, self.device.type, self.outcome.seconds_per_iteration)

    def _back_to_train_mode(self) -> None:
        self.method.train_mode(self.model.networks)

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
            learning_rates={k: lrs[k] for k in self.live.optimizers},
            seconds_per_iteration=per_iter,
            elapsed=elapsed,
            eta_seconds=eta,
            preview=preview,
        )

    # ------------------------------------------------------------------ step
    def _step(self, batches, progress: float, squares: bool = False) -> dict[str, float]:
        cfg, data, live = self.config, self.data, self.live
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
        two_views = cfg.strong_view and self.method.uses_unlabelled and n_unlab > 0
        images, all_targets = augment_batch(
            images,
            torch.cat([targets, unlab_targets]),
            self.augmentation,
            self.generator,
            intensity=not two_views,
        )
        if squares:
            images, all_targets = random_patches(
                images, all_targets, cfg.patch_size, self.generator, cfg.patch_foreground
            )
        targets = all_targets[:n_lab].to(self.device)
        unlab_truth = all_targets[n_lab:].to(self.device) if truth is not None else None

        autocast = (
            torch.autocast(self.device.type, dtype=live.amp_dtype)
            if live.amp_dtype is not None
            else contextlib.nullcontext()
        )
        cross = None
        if self.method.uses_unlabelled and n_unlab and cfg.teacher != "same_pass":
            weak = images[n_lab:]
            with autocast:
                cross = self._teacher_targets(_channels(weak).to(self.device), unlab_truth)
            if two_views:
                student = strong_view(weak, self.augmentation, self.generator)
                maps = [cross.for_cnn.cpu(), cross.for_swin.cpu()]
                student, maps = cutmix(student, maps, self.generator)
                cross = CrossTargets(*(m.to(self.device) for m in maps))
                labelled = images[:n_lab]
                if self.augmentation.jitters_intensity:  # the labelled rows as without two views
                    labelled = jitter_intensity(labelled, self.augmentation, self.generator)
                images = torch.cat([labelled, student])
        x = _channels(images).to(self.device, non_blocking=True)
        batch = Batch(x, targets, n_lab, n_unlab, progress, cross, unlab_truth)

        with autocast:  # through ``_forward``: DistributedDataParallel needs the forward pass
            total, losses = self._forward(lambda: self.method.losses(self, batch))
        for opt in live.optimizers.values():
            opt.zero_grad(set_to_none=True)
        if not torch.isfinite(total):
            raise FloatingPointError(
                f"the training loss became {float(total)} at iteration {self.model.trained_iterations}; "
                "try a lower learning rate or check the image for extreme values"
            )
        live.scaler.scale(total).backward()
        for opt in live.optimizers.values():
            live.scaler.step(opt)
        live.scaler.update()
        for copies in (self.ema, self.average):
            if copies is not None:
                copies.update(self.model.networks.cnn, self.model.networks.swin)
        report = {k: float(v.detach()) for k, v in losses.items()}
        report.update(self.method.report(cfg, progress))
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

    def _reach(self, progress: float) -> int:
        """How far from a painted slice unlabelled slices are drawn (``nearest_first``):
        1 slice at the start of the semi-supervised part, every slice of a painted volume
        by its middle, and slices of unpainted volumes only then."""
        fraction = min(1.0, 2.0 * self.config.semi_progress(progress))
        return FAR if fraction >= 1.0 else max(1, round(fraction * self._widest_reach))

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
        half = self.model.settings.network.context_slices // 2
        low = max(0, slice_index - half)  # the slice with its neighbours, for their context
        classes = predict_slices(
            self.model,
            volumes[volume_index][low : slice_index + half + 1],
            normalised=True,
            device=self.device,
            box=self.data.boxes[volume_index] if self.data.boxes else None,
        ).labels[slice_index - low]
        self._back_to_train_mode()
        return Preview(volume_index, slice_index, classes)


def _channels(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W) slices as (B, 1, H, W) network inputs; (B, C, H, W) context stacks as they are."""
    return images if images.ndim == 4 else images[:, None]


def _call(compute: Callable[[], tuple]) -> tuple:
    """The forward pass of a single-process run: just compute the losses."""
    return compute()
