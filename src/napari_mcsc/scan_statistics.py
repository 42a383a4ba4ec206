"""The CNN's batch-norm statistics taken from the scan it predicts.

A CNN taught a few painted slices keeps, for prediction, the batch-norm statistics of its
training batches: painted slices under strong augmentation (zoom, gamma, contrast,
noise), from the scans painted so far. A scan nobody painted yet, of another patient,
differs from them in contrast and in what its slices show. Taking the statistics from
that scan's own slices, as prediction sees them (AdaBN: Li et al., "Revisiting batch
normalization for practical domain adaptation", 2016), adapts the CNN to it without any
training and without a label; the weights do not change. docs/benchmarks.md, section 47,
measures it on a study's first looks and on painted scans, section 48 with a model taught
many scans. A scan with something painted keeps its training statistics (``first_look``).

The Swin-UNet normalises each token by itself (layer norm) and has nothing to adapt.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from torch import nn

from napari_mcsc.data.context import context_stack
from napari_mcsc.data.slices import resize_slices

#: The statistics are taken from at most this many of a scan's slices, evenly spread: one
#: forward pass, whose time and memory do not grow with a scan of hundreds of slices
#: (an 88-slice scan took 3.5-4.5 s more with all of them, 1-2 s with 32; section 47).
MAX_SLICES = 32


def statistics_slices(n: int) -> np.ndarray:
    """Which of a scan's ``n`` slices the statistics are taken from: all, or ``MAX_SLICES``
    evenly spread from the first to the last."""
    return np.unique(np.linspace(0, n - 1, min(n, MAX_SLICES)).round().astype(int))


def first_look(painted: np.ndarray | None, reviewed=()) -> bool:
    """Whether a scan is predicted with nothing painted or reviewed on it: the case its own
    statistics are for. A painted scan was (or is about to be) trained on, and its training
    statistics served it as well (section 47: 0.886 against 0.882 on eight painted volumes)."""
    return not len(reviewed) and (painted is None or not np.any(painted))


@torch.no_grad()
def with_scan_statistics(model, slices: np.ndarray, device: torch.device | None = None):
    """A copy of ``model`` whose CNN normalises with the batch-norm statistics of
    ``slices`` (N, H, W: a scan's slices along the model's axis, already normalised; at
    most ``MAX_SLICES`` of them, ``statistics_slices``), each seen whole at the networks'
    size as ``inference.predict_slices`` sees it. The model itself is left as it was (its
    Swin-UNet and projection heads are shared, not copied). A model trained on the square
    around painted structures is given back as it is."""
    if model.settings.field_share is not None:
        return model
    cnn = copy.deepcopy(model.networks.cnn)
    norms = [m for m in cnn.modules() if isinstance(m, nn.BatchNorm2d)]
    if not norms or len(slices) == 0:
        return model
    device = device or next(cnn.parameters()).device
    cnn.to(device)
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # the running statistics become this batch's
    cnn.train()
    for module in cnn.modules():
        if isinstance(module, nn.Dropout):
            module.eval()  # the statistics of the network as it predicts, not a thinned one
    data = np.asarray(slices, dtype=np.float32)
    context = model.settings.network.context_slices
    mode = "nearest" if model.settings.image_interpolation == "nearest" else "bilinear"
    chosen = statistics_slices(len(data))
    rows = data[chosen] if context == 1 else context_stack(data, chosen, context)
    batch = torch.from_numpy(np.ascontiguousarray(rows)).to(device)
    batch = batch if batch.ndim == 4 else batch[:, None]
    cnn(resize_slices(batch, model.image_size, mode))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    cnn.eval()
    networks = type(model.networks)(cnn, model.networks.swin, model.networks.projector)
    return dataclasses.replace(model, networks=networks)
