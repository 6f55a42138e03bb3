"""What a search space is, once its file has been validated: plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cbam_bench.attention.registry import SPACE_KEYS, applies_when
from cbam_bench.detection.recipe import DetectSpec
from cbam_bench.metrics import Objective
from cbam_bench.train_spec import TrainSpec

SAMPLERS = ("tpe", "nsga2", "random", "grid", "gp")
DEFAULT_TRIALS = 20
# Upper bounds of a space's counts (the command line's --trials and --seeds too): far past any real
# study, so that only a slip meets them.
MAX_TRIALS = 100_000
MAX_SEEDS = 100
MAX_TOP = 1000  # front members one confirmation retrains (--confirm, --top)
MAX_TIMING_RUNS = 100_000  # latency warm-up and repeats
MAX_THREADS = 1024
LATENCY_DEVICES = ("cpu", "cuda")
PAPER_PREFIX = "paper:"

# Every searchable parameter, in sampling order, and the spec field it sets. The attention fields
# and when each is sampled come from the attention registry.
PARAM_FIELDS: dict[str, tuple[str, str]] = {
    "backbone.width": ("arch", "width"),
    "backbone.stride_on": ("arch", "stride_on"),
    "attention.variant": ("attention", "*"),
    "attention.kind": ("attention", "kind"),
    **{key: ("attention", name) for name, key in SPACE_KEYS.items()},
    "placement.stages": ("placement", "stages"),
    "placement.position": ("placement", "position"),
    "placement.blocks": ("placement", "blocks"),
}

# When each parameter is sampled (what suggest_fields does, in words, for `spaces show`).
APPLIES_WHEN: dict[str, str] = {
    "backbone.width": "always",
    "backbone.stride_on": "always (changes only bottleneck ResNets)",
    "attention.variant": "always",
    "attention.kind": "always",
    **{key: applies_when(name) for name, key in SPACE_KEYS.items()},
    "placement.stages": "kind is not none",
    "placement.position": "kind is not none",
    "placement.blocks": "kind is not none and position is not between-stages",
}

Choice = str | int | float | bool


@dataclass(frozen=True)
class EarlyStop:
    """Stop a trial whose signal at epoch e is worse than the median of earlier trials at e by more
    than `margin` (cbam_bench/search/early_stop.py)."""

    warmup_epochs: int = 1  # never stop at or before this epoch
    min_trials: int = 4  # earlier trials needed at an epoch before the median is trusted
    # stop only when this far from the median (accuracy: a fraction, 0.1 = 10 points; loss: nats);
    # early epochs are noisy enough that a trial just past it often ends on the front
    margin: float = 0.0
    # what is compared: the validation score ("accuracy": top-1, or mAP), or the epoch's mean
    # training loss ("loss"), which the audit found ranks the final accuracy better early on
    signal: str = "accuracy"


STOP_SIGNALS = ("accuracy", "loss")


@dataclass(frozen=True)
class ConfirmSetup:
    """How the best front members are retrained to confirm the search's short-run ranking."""

    epochs: int | None = None  # None: CONFIRM_EPOCH_FACTOR times the search's epochs
    seeds: int = 3  # enough for a t interval; one run cannot say how much a result moves


CONFIRM_EPOCH_FACTOR = 4


@dataclass(frozen=True)
class LatencySetup:
    """How the latency measure (and any latency budget) is taken for every candidate."""

    device: str = "cpu"
    batch: int = 1
    warmup: int = 5
    repeats: int = 20
    threads: int = 1  # CPU threads while timing: one is steady on a shared machine, like one phone core


@dataclass(frozen=True)
class Space:
    """A validated search space; `source` is the file as a plain dict (stored with the study).

    `task` says what a trial trains: a classifier under a TrainSpec, or (detection) a Faster
    R-CNN over the backbone under a DetectSpec; `train` is the one the task takes.
    """

    name: str
    path: str
    source: dict[str, Any]
    description: str
    backbone: str
    dataset: str
    objectives: tuple[Objective, ...]
    budgets: dict[str, float]
    params: dict[str, tuple[Choice, ...]]  # in sampling order; one choice = fixed, not sampled
    variants: dict[str, dict[str, Any]]  # attention.variant label -> AttentionSpec fields
    sampler: str
    seed: int
    trials: int | None
    seeds: int
    early_stop: EarlyStop | None
    latency: LatencySetup
    train: TrainSpec | DetectSpec
    confirm: ConfirmSetup = ConfirmSetup()
    task: str = "classification"

    @property
    def searched(self) -> dict[str, tuple[Choice, ...]]:
        """The parameters Optuna samples (more than one choice)."""
        return {k: v for k, v in self.params.items() if len(v) > 1}
