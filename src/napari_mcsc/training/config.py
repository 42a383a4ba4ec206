"""Training settings: one dataclass, two named profiles (``paper`` and ``fast``).

A run's length is a number of iterations (work), never a duration: a slow or busy
machine gets the same training, later. ``max_seconds`` is only a cap; a run it cuts
short is reported as incomplete. Schedules are fractions of the planned iterations
(``progress`` = iteration / iterations). With ``iterations=40000`` the ``paper``
profile reproduces method.md §4-§5: cross-teaching ramp over 30 000 iterations (0.75),
contrastive warm-up 3 000 (0.075), Swin learning-rate warm-up ~5 %.

Each profile names its method: ``paper`` runs MCSC; ``fast`` trains the CNN on the
painted slices alone (``sup``), which MCSC did not beat at its run length (see PROFILES).

When a profile starts with a supervised warm-up (painted slices only), the
semi-supervised schedules (cross-teaching ramp, contrastive warm-up) are fractions of
the part of the run that follows it, so unlabelled slices enter with a weight that
ramps up from ~0 instead of jumping to its maximum.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from napari_mcsc.data.augment import Augmentation
from napari_mcsc.model import ModelSettings
from napari_mcsc.networks.config import NETWORK_FIELDS, NetworkConfig
from napari_mcsc.training.methods import method_named
from napari_mcsc.training.teachers import TEACHERS

# METHODS: the full method, then its ablations (training/methods.py). None of them is "the"
# default: each profile names its method (``PROFILES[name]["method"]``): sup for fast,
# mcsc for paper.
DEFAULT_PROFILE = "fast"


@dataclass
class TrainConfig:
    """Every knob of the method and of the run. See ``profile()`` for the presets."""

    profile: str = DEFAULT_PROFILE
    # mcsc | ct (cross teaching only) | sup (CNN on labelled slices only). The dataclass
    # defaults are the fast profile's, whose method is sup (see PROFILES); paper: mcsc.
    method: str = "sup"
    # data
    image_size: int = 128
    image_interpolation: str = "bilinear"  # "nearest" in the paper profile (method.md §10.10)
    augmentation: str = "strong"  # "paper" | "strong" | "upright" | "none" (data/augment.py)
    # The strong styles' zoom range, smooth deformation and stretch (data/augment.py). A structure's
    # cross-section changes size from slice to slice (the left ventricle at the apex is a
    # fraction of its width at the base), so a model taught on two slices must see it
    # smaller and larger: 0.7-1.4 against 0.85-1.15 gained 0.019 Dice on the train split's
    # ES frames, level on its ED frames, and 0.008 on val (docs/benchmarks.md, section 23).
    # Neither the deformation nor the stretch added to the zoom on the train split
    # (sections 23-24): off.
    augment_scale: tuple[float, float] = Augmentation.scale_range  # (0.7, 1.4)
    augment_elastic: float = Augmentation.elastic  # 0.0
    augment_bias: float = Augmentation.bias  # 0.0: no shading (data/augment.py)
    augment_aspect: float = Augmentation.aspect  # 1.0: the same zoom across and along
    # Networks see the square around the painted structures grown by this share of its side
    # on each side (data/field_of_view.py); None: whole slices, both profiles' default: a
    # model trained on the square transfers badly to scans nobody painted (first-seen Dice
    # of a study's next scan 0.03-0.24 against 0.08-0.82 on whole slices; docs/benchmarks.md,
    # section 16) for no gain on the painted scan (section 15, train split)
    crop_margin: float | None = None
    # The CNN learns on a random square of this side (network pixels) of each augmented
    # slice and predicts whole slices (data/augment.py, ``random_patches``); None: whole
    # slices, both profiles' default. Supervised training (sup) only: the Swin-UNet and the
    # contrastive loss need whole slices. 96 px makes a step about a third shorter but, on
    # the train split's 13 volumes with 3 painted slices, the mask 0.0035 lower and the CNN
    # alone 0.018 lower, finding structures far from the heart (docs/benchmarks.md, section 50)
    patch_size: int | None = None
    # The share of each run's first iterations that train on those squares; the rest train
    # on whole slices, so a run (a study's round too) ends on what it predicts. 1: squares
    # throughout. 64 px for 0.6 of a round halves a study round's time in float32 (58-62 s
    # against 102-113 s alone) but the CNN alone is 0.028 lower on the train split's 13
    # volumes with 3 painted slices and a study took 39 slices against 36 (section 51)
    patch_share: float = 1.0
    # The share of those squares centred on a painted pixel (the rest: anywhere in the
    # slice); 0.5 won back half of the CNN's loss of 64 px squares (0.835 against 0.820
    # and 0.848 on whole slices; the mask level, 0.877) but a study painted more still
    # (26 slices against 16 on the scans reached; section 51)
    patch_foreground: float = 0.0
    batch_size: int = 6
    labelled_batch_size: int = 4
    # run length in iterations; max_seconds is an optional cap (a capped run is incomplete)
    iterations: int = 400
    max_seconds: float | None = None
    seed: int = 1337
    device: str | None = None  # None/"auto": CUDA, then MPS, then CPU
    # mixed precision where the device computes it natively (devices.mixed_precision_dtype):
    # CUDA, and CPUs with bfloat16 instructions (a supervised CPU step 1.7x faster, section 26)
    amp: bool = True
    # networks (saved flat: ``to_dict`` and ``from_dict`` spell their fields at this level)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    swin_pretrained: str | None = None  # a weights file, or "timm" (from the local hub cache)
    # optimisation (AdamW, poly decay)
    cnn_lr: float = 1e-3
    swin_lr: float = 5e-4
    projector_lr: float = 1e-3
    weight_decay: float = 5e-4
    swin_warmup: float = 0.05
    # Schedules (learning rates, warm-up, ramps) run over schedule_horizon iterations of
    # training carried from run to run (a study's rounds, training/state.py); None: over
    # this run's iterations. Learning rates never fall below lr_floor x their base.
    schedule_horizon: int | None = None
    lr_floor: float = 0.0
    # supervised warm-up: fraction of the run on painted slices only (0 in the paper)
    supervised_warmup: float = 0.4
    # cross teaching: lambda = max * exp(-5 (1 - min(t / rampup, 1))^2), t = semi_progress
    consistency_max: float = 0.5
    consistency_rampup: float = 0.3
    # contrastive (method.md §4.3-§4.6)
    contrastive_weight: float = 0.01
    temperature: float = 0.1
    contrastive_warmup: float = 0.1
    block_sizes: tuple[int, ...] = (16, 16)  # full scale, 1/8 scale
    max_sets: tuple[int, ...] = (16, 4)
    max_pixels_per_set: int = 256
    # targets on unlabelled slices (training/teachers.py). The paper's (its profile):
    # "same_pass", no threshold, no agreement, one view. teacher "no_grad" | "ema" makes them
    # in a separate pass without gradient; a pixel keeps its target where the teacher's
    # probability is >= pseudo_threshold (and both networks agree, with pseudo_agreement);
    # strong_view: the teacher labels a geometry-only view, the student learns on a strong
    # view of it. The fast profile's: no_grad, 0.95 (UniMatch's value, not tuned), strong
    # view, which in the interactive scenario put MCSC ahead of sup where the paper's
    # targets left it level (docs/benchmarks.md, section 16).
    teacher: str = "no_grad"
    pseudo_threshold: float = 0.95
    pseudo_agreement: bool = False
    strong_view: bool = True
    ema_decay: float = 0.99
    # "random": unlabelled slices drawn from all of them; "nearest_first": at first only those
    # next to a painted slice, the reach widening to all of them by the middle of the
    # semi-supervised part of the run (slices of unpainted volumes last)
    unlabelled_order: str = "random"
    # Share of each batch's painted slices drawn from the focus scan's alone (a study's round
    # focuses on the scan being corrected, ``TrainingJob(focus=...)``); 0: all painted
    # slices alike, as in a run without a focus
    focus_share: float = 0.0
    # The run's model is an exponential moving average of its weights over the steps, with
    # this decay per step (None: the last step's weights). A later round of a study starts
    # from that average.
    average_weights: float | None = None
    # feedback
    preview_every_seconds: float = 3.0

    def __post_init__(self) -> None:
        method_named(self.method)  # a ValueError naming the methods
        if not 0 < self.labelled_batch_size <= self.batch_size:
            raise ValueError("labelled_batch_size must be between 1 and batch_size")
        if self.image_size % 32:
            raise ValueError(f"image_size must be a multiple of 32, got {self.image_size}")
        self.network.check_image_size(self.image_size)
        if self.iterations < 1:
            raise ValueError("iterations must be at least 1")
        if self.crop_margin is not None and not 0 <= self.crop_margin <= 2:
            raise ValueError(
                f"crop_margin must be a share in [0, 2] (or None: whole slices), got {self.crop_margin}"
            )
        if self.patch_size is not None:
            self._check_patch_size()
        if not 0 < self.patch_share <= 1:
            raise ValueError(
                f"patch_share must be a share in (0, 1] of a run's iterations, got {self.patch_share}"
            )
        if not 0 <= self.patch_foreground <= 1:
            raise ValueError(
                f"patch_foreground must be a share in [0, 1] of the squares, got {self.patch_foreground}"
            )
        if self.max_seconds is not None and not (0 < self.max_seconds < float("inf")):
            raise ValueError("max_seconds must be a positive number of seconds (or None for no cap)")
        if not 0 <= self.supervised_warmup < 1:
            raise ValueError("supervised_warmup must be a fraction in [0, 1)")
        if self.schedule_horizon is not None and self.schedule_horizon < 1:
            raise ValueError("schedule_horizon must be at least 1 iteration (or None: the run's own)")
        if not 0 <= self.lr_floor <= 1:
            raise ValueError(f"lr_floor must be a fraction in [0, 1], got {self.lr_floor}")
        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {TEACHERS}, got {self.teacher!r}")
        if not 0 <= self.pseudo_threshold <= 1:
            raise ValueError(f"pseudo_threshold must be a probability in [0, 1], got {self.pseudo_threshold}")
        if self.strong_view and self.teacher == "same_pass":
            raise ValueError(
                "strong_view needs a teacher that labels the weak view in its own pass: "
                "set teacher to 'no_grad' or 'ema'"
            )
        if self.unlabelled_order not in ("random", "nearest_first"):
            raise ValueError(
                f"unlabelled_order must be random or nearest_first, got {self.unlabelled_order!r}"
            )
        if not 0 <= self.focus_share < 1:
            raise ValueError(f"focus_share must be a share in [0, 1), got {self.focus_share}")
        if self.average_weights is not None and not 0 <= self.average_weights < 1:
            raise ValueError(f"average_weights must be a decay in [0, 1) or None, got {self.average_weights}")
        if not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        self.augmentation_settings()  # a ValueError that says what is wrong with it

    def _check_patch_size(self) -> None:
        size = self.patch_size
        if not 32 <= size <= self.image_size or size % 16:
            raise ValueError(
                f"patch_size must be a multiple of 16 from 32 to image_size ({self.image_size}), "
                f"or None for whole slices; got {size}"
            )
        if method_named(self.method).trains_transformer:
            raise ValueError(
                f"patch_size trains on squares of the slices, which only the supervised method can: the "
                f"Swin-UNet of {self.method} needs whole slices. Use --method sup, or leave patch_size out"
            )

    def augmentation_settings(self) -> Augmentation:
        """How training slices are augmented (data/augment.py)."""
        return Augmentation(
            style=self.augmentation,
            image_mode="nearest" if self.image_interpolation == "nearest" else "bilinear",
            scale_range=tuple(self.augment_scale),
            elastic=self.augment_elastic,
            aspect=self.augment_aspect,
            bias=self.augment_bias,
        )

    def semi_progress(self, progress: float) -> float:
        """Progress through the semi-supervised part of the run (after the supervised
        warm-up), in [0, 1]: the clock of the cross-teaching ramp and contrastive warm-up."""
        if progress < self.supervised_warmup:
            return 0.0
        return min(1.0, (progress - self.supervised_warmup) / (1.0 - self.supervised_warmup))

    def with_pretrained_swin(self, source: str | None) -> TrainConfig:
        """A copy that loads pretrained Swin weights from ``source`` (a file, "timm" or
        "imagenet"), with the Swin-T width and heads those weights need (the fast
        profile's narrower Swin could use none of them). None: no pretrained weights."""
        if not source:
            return self.replace(swin_pretrained=None)
        return self.replace(swin_pretrained=source, swin_embed_dim=96, swin_heads=(3, 6, 12, 24))

    def with_architecture_of(self, model: ModelSettings) -> TrainConfig:
        """A copy with the image size and network shape of a model's settings: what a warm
        start from that model must keep."""
        return self.replace(image_size=model.image_size, network=self.network.shaped_like(model.network))

    def model_settings(self, field_share: float | None = None) -> ModelSettings:
        """The settings of the model this configuration trains (what it predicts with);
        ``field_share``: the data's (``SliceSet.field_share``)."""
        margin = self.crop_margin if field_share is not None else None
        return ModelSettings(self.network, self.image_size, self.image_interpolation, margin, field_share)

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated again); network fields may be given
        by name (``replace(swin_embed_dim=48)``) or as a whole ``network``."""
        return dataclasses.replace(self, **_nest(changes, self.network))

    def to_dict(self) -> dict:
        """JSON- and ``torch.load(weights_only=True)``-safe dict, flat (network fields at
        the top level, as in every model file so far)."""
        values = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "network":
                values.update(value.to_dict())
            else:
                values[f.name] = list(value) if isinstance(value, tuple) else value
        return values

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """The config of a ``to_dict`` result; unknown keys (from other versions) are left
        out, a nested ``network`` dict is read too."""
        flat = dict(data)
        nested = flat.pop("network", None)
        if isinstance(nested, dict):
            flat = {**nested, **flat}
        names = {f.name for f in dataclasses.fields(cls)} | set(NETWORK_FIELDS)
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in flat.items() if k in names}
        return cls(**_nest(kwargs, NetworkConfig()))


def _nest(values: dict, network: NetworkConfig) -> dict:
    """``values`` with the network fields named in it gathered into ``network`` (applied
    to the given ``network``, or to ``values["network"]`` when there is one)."""
    values = dict(values)
    changes = {name: values.pop(name) for name in NETWORK_FIELDS if name in values}
    if changes or "network" in values:
        values["network"] = values.get("network", network).replace(**changes)
    return values


#: The paper's targets on unlabelled slices: each network's argmax from the training pass,
#: every pixel kept, one view (the paper profile's; the fast profile filters them).
PAPER_TARGETS: dict = {"teacher": "same_pass", "pseudo_threshold": 0.0, "strong_view": False}

PROFILES: dict[str, dict] = {
    # method.md's values: 224 px, batch 4 (2 labelled), 40 000 iterations, nearest resize.
    "paper": dict(
        method="mcsc",  # faithful to the paper
        image_size=224,
        image_interpolation="nearest",
        augmentation="paper",
        crop_margin=None,  # whole slices, as in the paper
        batch_size=4,
        labelled_batch_size=2,
        iterations=40_000,
        max_seconds=None,
        network=NetworkConfig(
            swin_embed_dim=96,
            swin_depths=(2, 2, 2, 2),
            swin_heads=(3, 6, 12, 24),
            swin_window=7,
            swin_drop_path=0.2,
        ),
        cnn_lr=5e-4,
        swin_lr=1e-4,
        projector_lr=5e-4,
        swin_warmup=0.05,
        supervised_warmup=0.0,
        consistency_max=0.1,
        consistency_rampup=0.75,
        contrastive_weight=0.001,
        contrastive_warmup=0.075,
        block_sizes=(16, 14),
        max_sets=(16, 4),
        max_pixels_per_set=1024,
        preview_every_seconds=10.0,
        **PAPER_TARGETS,
    ),
    # Interactive CPU use (the dataclass defaults): 128 px, a 32-wide Swin-UNet, batch 6 with
    # 4 painted slices, 400 iterations, stronger augmentation (zoom 0.7-1.4), a supervised warm-up over
    # the first 40 % of the run. The run length comes from Dice-versus-iterations curves on
    # ACDC val (docs/benchmarks.md, "Run length"); the other settings from 3 val volumes.
    # Method sup: at this run length MCSC did not beat the CNN trained on the painted slices
    # alone, on 20 ACDC val volumes x 2 seeds (K=2: 0.780 vs 0.785, K=3: 0.781 vs 0.817),
    # for ~5x the cost per iteration (docs/benchmarks.md, "20 validation volumes on a GPU").
    # With the filtered targets on the defaults (whole slices, 3D-consistent mask) MCSC ties
    # it on the train split (0.867 vs 0.865) and trails on val (0.816 vs 0.827), for 1.8x
    # the time (docs/benchmarks.md, section 17).
    # MCSC stays one choice away: method="mcsc".
    "fast": dict(method="sup"),
}


def profile(name: str = DEFAULT_PROFILE, **overrides) -> TrainConfig:
    """The named profile with ``overrides`` applied (network fields by name too, e.g.
    ``profile("fast", swin_embed_dim=48)``, on top of the profile's network)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return TrainConfig(**_nest({"profile": name, **PROFILES[name], **overrides}, NetworkConfig()))
