"""A study's training settings, and the run configuration of each of its rounds.

The first round trains a model from scratch on the first scan's painted slices (the
profile's usual run length). Every later round fine-tunes that model for a short, fixed
number of iterations on all slices painted so far, continuing one schedule: the learning
rates decay polynomially over ``schedule_horizon`` iterations (by default the first
round's) and then stay at ``lr_floor`` of their base for every later round. So the first
model is trained as a single scan's model is, corrections made late in a study still move
the model (a poly schedule that reached zero would ignore them), and no round starts again
at the peak or repeats a warm-up. See docs/benchmarks.md, "Studies", for the figures
behind the defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from napari_mcsc.training.config import TrainConfig
from napari_mcsc.training.spec import RunChoices, profile_config, run_config


@dataclass
class StudySettings:
    """How a study trains and predicts; saved in its session file."""

    profile: str = "fast"
    method: str | None = None  # None: the profile's method
    axis: int = 0
    first_round_iterations: int | None = None  # None: the profile's run length
    # 200: on the train split's 3-class study (12 scans) rounds of 200 iterations took 28
    # painted slices where rounds of 120 took 43 (and left 2 scans below the target, against
    # none); with bfloat16 on the CPU a round of 200 costs what one of 120 did in float32
    # (docs/benchmarks.md, section 26)
    round_iterations: int = 200
    schedule_horizon: int | None = None  # None: the first round's iterations
    lr_floor: float = 0.25
    unlabelled_scans: int = 6  # other scans of the study used as unlabelled data (ct, mcsc)
    seed: int = 1337
    device: str | None = None
    # Predictions made 3D-consistent (``postprocess.consistent_mask``: stray pieces removed,
    # holes filled, painted voxels kept; a scan's painted slices carried to its other slices,
    # ``propagation``), as the single-scan widget's checkbox does. On: on
    # the train split's 3-class study it took 24 painted slices where the raw CNN took 34
    # (docs/benchmarks.md, section 21).
    consistent_mask: bool = True
    # Accepted scans teach later rounds: every slice of the mask the user accepted is
    # trained on as painted slices are (``Study.training_labels``); off: only painted slices.
    learn_from_accepted: bool = False
    # The CNN predicts a scan with nothing annotated on it with batch-norm statistics taken
    # from that scan's slices (``scan_statistics``), not from its training batches: a scan
    # the model was never taught is seen as itself, not as the painted scans look under
    # augmentation. Once the scan is painted, its rounds' statistics hold for it. On: a
    # model of one scan looked first at another 0.47 -> 0.58 (train) and 0.35 -> 0.51 (val
    # scans) on average, and the train split's study 1 (8 scans) took 56 painted slices
    # against 62 over three seeds (docs/benchmarks.md, section 47).
    scan_statistics: bool = True
    # Other TrainConfig fields for every round, by name: the targets on unlabelled
    # slices (teacher, pseudo_threshold, ...) or anything a tuning run sets.
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.round_iterations < 1:
            raise ValueError(f"a round needs at least 1 iteration, got {self.round_iterations}")
        if self.first_round_iterations is not None and self.first_round_iterations < 1:
            raise ValueError("the first round needs at least 1 iteration")
        if self.unlabelled_scans < 0:
            raise ValueError("unlabelled_scans must be 0 or more")
        self.train_config(first=True)  # any wrong choice fails now, not at the first round

    def train_config(self, *, first: bool, **overrides) -> TrainConfig:
        """The configuration of a round: the first (from scratch) or a later one;
        ``overrides``: other ``TrainConfig`` fields (``iterations``: this round's length)."""
        first_length = self.first_round_iterations or profile_config(self.profile).iterations
        length = overrides.pop("iterations", None) or (first_length if first else self.round_iterations)
        settings = {
            **self.training,
            "schedule_horizon": self.schedule_horizon or first_length,
            "lr_floor": self.lr_floor,
            **overrides,
        }
        choices = RunChoices(
            self.profile,
            method=self.method,
            iterations=length,
            seed=self.seed,
            device=self.device,
            settings=settings,
        )
        return run_config(choices)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StudySettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
