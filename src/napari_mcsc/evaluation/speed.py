"""Speed and memory: train steps, the contrastive loss, whole-volume inference.

Each measurement runs in a fresh Python process so that its peak memory (resident set
size on the CPU, ``max_memory_allocated`` on CUDA) is its own.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from napari_mcsc.devices import precision_name
from napari_mcsc.training.methods import MCSC, METHODS, CrossTeaching


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak(device: torch.device, baseline_mib: float) -> dict:
    if device.type == "cuda":
        return {"peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20}
    return {"peak_rss_mib": _rss_mib(), "rss_before_mib": baseline_mib}


def measure_train_step(
    method: str, profile_name: str, steps: int = 6, warmup: int = 2, device: str | None = None, **overrides
) -> dict:
    """Seconds per training iteration on phantom slices (all slices after the warm-up);
    ``overrides`` change the profile (e.g. ``amp=False``)."""
    from napari_mcsc.data.phantom import make_phantom_set, paint_slices
    from napari_mcsc.data.slices import AnnotatedVolume
    from napari_mcsc.jobs import TrainingJob, run_to_end
    from napari_mcsc.training.spec import RunChoices, run_config

    phantoms = make_phantom_set(3, shape=(12, 96, 96))
    settings = dict(contrastive_warmup=0.0, preview_every_seconds=1e9, **overrides)
    config = run_config(
        RunChoices(profile_name, method=method, iterations=warmup + steps, device=device, settings=settings)
    )
    job = TrainingJob(
        config,
        [AnnotatedVolume(phantoms[0].image, paint_slices(phantoms[0].labels, [3, 8]))],
        [p.image for p in phantoms[1:]],
        predict=False,
    )
    baseline = _rss_mib()
    times, last = [], [time.perf_counter()]

    def clock(event) -> None:
        _sync(job.trainer.device)
        now = time.perf_counter()
        if event.iteration > warmup:
            times.append(now - last[0])
        last[0] = now

    run_to_end(job.run(), clock)
    trainer = job.trainer
    return {
        "case": "train_step",
        "method": method,
        "profile": profile_name,
        "batch": config.batch_size,
        "image_size": config.image_size,
        "amp": precision_name(trainer.live.amp_dtype) if trainer.live.amp_dtype else None,
        "seconds_per_iteration": float(np.median(times)),
        "threads": torch.get_num_threads(),
        "device": str(trainer.device),
        **_peak(trainer.device, baseline),
    }


def measure_contrastive(variant: str, device: str | None = None, repeats: int = 3) -> dict:
    """The contrastive loss alone at paper settings (batch 4, 224 px, both scales).

    ``ours``: sampled pixels projected after sampling, capped sets, chunked matrices.
    ``naive``: whole maps projected, 100 sets per scale (the reference's count at full
    scale) with all their pixels, every similarity matrix materialised at once.
    """
    from napari_mcsc.devices import pick_device
    from napari_mcsc.losses import BlockSetSampler, balanced_supcon_loss, multi_scale_cross_contrastive_loss
    from napari_mcsc.networks import ProjectionHeads
    from napari_mcsc.training.spec import profile_config

    dev = pick_device(device)
    cfg = profile_config("paper")
    torch.manual_seed(0)
    b, size = cfg.batch_size, cfg.image_size
    heads = ProjectionHeads((16, 128), (96, 192)).to(dev)
    feats_a = [
        torch.randn(b, 16, size, size, device=dev, requires_grad=True),
        torch.randn(b, 128, size // 8, size // 8, device=dev, requires_grad=True),
    ]
    feats_b = [
        torch.randn(b, 96, size, size, device=dev, requires_grad=True),
        torch.randn(b, 192, size // 8, size // 8, device=dev, requires_grad=True),
    ]
    labels = torch.randint(0, 4, (b, size, size), device=dev)
    baseline = _rss_mib()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        _sync(dev)
        start = time.perf_counter()
        if variant == "ours":
            samplers = [
                BlockSetSampler(s, m, cfg.max_pixels_per_set)
                for s, m in zip(cfg.block_sizes, cfg.max_sets, strict=True)
            ]
            losses = multi_scale_cross_contrastive_loss(
                feats_a, feats_b, labels, labels, samplers, heads.project_vectors, num_classes=4
            )
        else:
            za, zb = heads(feats_a, feats_b)
            losses = []
            for scale, sampler in enumerate([BlockSetSampler(16, 100), BlockSetSampler(14)]):
                h = za[scale].shape[-1]
                lab = torch.nn.functional.interpolate(
                    torch.cat([labels, labels])[:, None].float(), size=(h, h)
                )[:, 0].long()
                sets, y = sampler.sample(torch.cat([za[scale], zb[scale]]), lab)
                losses.append(balanced_supcon_loss(sets, y, num_classes=4).mean())
        sum(losses).backward()
        _sync(dev)
        times.append(time.perf_counter() - start)
    return {
        "case": "contrastive",
        "variant": variant,
        "seconds": float(np.median(times)),
        "device": str(dev),
        **_peak(dev, baseline),
    }


def measure_inference(
    uncertainty: bool, shape=(10, 256, 256), device: str | None = None, repeats: int = 3
) -> dict:
    """Whole-volume prediction time with the fast profile's networks."""
    from napari_mcsc.data.labels import LabelMapping
    from napari_mcsc.data.normalise import Normalisation
    from napari_mcsc.inference import predict_volume
    from napari_mcsc.model import NETWORK_NAMES, SegmentationModel
    from napari_mcsc.training.spec import profile_config

    settings = profile_config("fast").model_settings()
    model = SegmentationModel.create(settings, LabelMapping((0, 1, 2, 3)), Normalisation())
    model.trained_networks = frozenset(NETWORK_NAMES)  # as after MCSC: uncertainty uses both
    volume = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    predict_volume(model, volume[:2], uncertainty=uncertainty, device=device)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict_volume(model, volume, uncertainty=uncertainty, device=device)
        times.append(time.perf_counter() - start)
    return {
        "case": "inference",
        "uncertainty": uncertainty,
        "shape": list(shape),
        "seconds": float(np.median(times)),
        "threads": torch.get_num_threads(),
    }


def run_isolated(function: str, **kwargs) -> dict:
    """Run ``function(**kwargs)`` of this module in a fresh interpreter; return its dict."""
    code = (
        "import json, sys\n"
        "from napari_mcsc.evaluation import speed\n"
        f"print('RESULT' + json.dumps(speed.{function}(**json.loads(sys.argv[1]))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[len("RESULT") :])
    return {"case": function, **kwargs, "error": (proc.stderr or proc.stdout).strip()[-500:]}


def run_speed(device: str | None = None, log=print, profiles=("fast", "paper")) -> dict:
    results = []
    for name in profiles:
        for method in reversed(METHODS):  # sup, ct, mcsc
            steps = 6 if name == "fast" else 3
            r = run_isolated(
                "measure_train_step", method=method, profile_name=name, steps=steps, device=device
            )
            results.append(r)
            log(json.dumps(r))
    for variant in ("ours", "naive"):
        r = run_isolated("measure_contrastive", variant=variant, device=device)
        results.append(r)
        log(json.dumps(r))
    for unc in (False, True):
        r = run_isolated("measure_inference", uncertainty=unc, device=device)
        results.append(r)
        log(json.dumps(r))
    ratios = {}
    for name in profiles:
        by = {
            r["method"]: r.get("seconds_per_iteration")
            for r in results
            if r.get("case") == "train_step" and r.get("profile") == name
        }
        if by.get(CrossTeaching.name) and by.get(MCSC.name):
            ratios[name] = by[MCSC.name] / by[CrossTeaching.name]
    return {"scenario": "speed", "results": results, "mcsc_over_ct": ratios}
