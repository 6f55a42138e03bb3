"""What a search space is, once its file has been validated: plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cbam_bench.metrics import Objective
from cbam_bench.spec import TrainSpec

SAMPLERS = ("tpe", "nsga2", "random", "grid", "gp")
DEFAULT_TRIALS = 20
# Upper bounds of a space's counts (the command line's --trials and --seeds too): far past any real
# study, so that only a slip meets them.
MAX_TRIALS = 100_000
MAX_SEEDS = 100
MAX_TIMING_RUNS = 100_000  # latency warm-up and repeats
MAX_THREADS = 1024
LATENCY_DEVICES = ("cpu", "cuda")
PAPER_PREFIX = "paper:"

# Every searchable parameter, in sampling order, and the spec field it sets.
PARAM_FIELDS: dict[str, tuple[str, str]] = {
    "backbone.width": ("arch", "width"),
    "backbone.stride_on": ("arch", "stride_on"),
    "attention.variant": ("attention", "*"),
    "attention.kind": ("attention", "kind"),
    "attention.order": ("attention", "order"),
    "channel.pooling": ("attention", "pooling"),
    "channel.reduction": ("attention", "reduction"),
    "channel.min_hidden": ("attention", "min_hidden"),
    "spatial.descriptor": ("attention", "descriptor"),
    "spatial.kernel": ("attention", "kernel"),
    "spatial.bn": ("attention", "spatial_bn"),
    "placement.stages": ("placement", "stages"),
    "placement.blocks": ("placement", "blocks"),
    "placement.position": ("placement", "position"),
}

# When each parameter is sampled (what suggest_fields does, in words, for `spaces show`).
APPLIES_WHEN: dict[str, str] = {
    "backbone.width": "always",
    "backbone.stride_on": "always (changes only bottleneck ResNets)",
    "attention.variant": "always",
    "attention.kind": "always",
    "attention.order": "kind is cbam",
    "channel.pooling": "kind is cbam with a channel gate (SE pools by average)",
    "channel.reduction": "kind is se, or cbam with a channel gate",
    "channel.min_hidden": "kind is se, or cbam with a channel gate",
    "spatial.descriptor": "kind is cbam with a spatial gate",
    "spatial.kernel": "kind is cbam with a spatial gate",
    "spatial.bn": "kind is cbam with a spatial gate",
    "placement.stages": "kind is not none",
    "placement.blocks": "kind is not none",
    "placement.position": "kind is not none",
}

Choice = str | int | float | bool


@dataclass(frozen=True)
class EarlyStop:
    """Stop a trial whose validation accuracy at epoch e is below the median of earlier trials at e."""

    warmup_epochs: int = 1  # never stop at or before this epoch
    min_trials: int = 4  # earlier trials needed at an epoch before the median is trusted


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
    """A validated search space; `source` is the file as a plain dict (stored with the study)."""

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
    train: TrainSpec

    @property
    def searched(self) -> dict[str, tuple[Choice, ...]]:
        """The parameters Optuna samples (more than one choice)."""
        return {k: v for k, v in self.params.items() if len(v) > 1}
