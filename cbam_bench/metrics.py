"""The measures a trial stores, each with its direction, unit and counting convention, in one place.

Searches pick objectives and budgets from here; reports take column headers, units and captions
from here, so a table can never drift from what was measured.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from cbam_bench.errors import SpecError, allowed, did_you_mean

DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class Metric:
    """One stored measure. `ideal` is the best value it could take (None when unbounded)."""

    name: str
    direction: str
    label: str
    unit: str  # "%" (stored as a fraction), "count" (shown with K/M/G), or a physical unit such as "ms"
    convention: str
    ideal: float | None = None


# Latency is timed under the search space's latency set-up, stored per trial as `latency_setup`,
# not on the device the trial trained on (`env`); reports name the set-up after this text.
LATENCY_CONVENTION = (
    "{statistic} of timed forward passes of one batch, under the trial's latency set-up "
    "(latency_setup: device, threads, batch, dtype), not the training device"
)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "accuracy", "max", "Acc.", "%", "validation top-1, mean over seeds (stored as a fraction, shown as %)", 1.0
        ),
        Metric(
            "top5", "max", "Top-5", "%", "validation top-5, mean over seeds (stored as a fraction, shown as %)", 1.0
        ),
        Metric(
            "map",
            "max",
            "mAP",
            "%",
            "COCO mAP@[.5:.95], pycocotools' COCOeval (bbox) on the validation split, mean over seeds",
            1.0,
        ),
        Metric("map50", "max", "mAP@.5", "%", "COCO mAP at IoU 0.5, as map otherwise", 1.0),
        Metric("test_accuracy", "max", "Test acc.", "%", "test-split top-1, never used for selection", 1.0),
        Metric("test_top5", "max", "Test top-5", "%", "test-split top-5, never used for selection", 1.0),
        Metric("params", "min", "Params", "count", "every parameter, exact", 0.0),
        Metric(
            "macs",
            "min",
            "MACs",
            "count",
            "multiply-adds of convolution and linear layers, one image, eval mode (the paper's FLOPs)",
            0.0,
        ),
        Metric(
            "elementwise_ops",
            "min",
            "Elem. ops",
            "count",
            "inside attention only: one op per element of each sigmoid, multiply, add, norm and pooling",
            0.0,
        ),
        Metric("latency_ms", "min", "Latency", "ms", LATENCY_CONVENTION.format(statistic="median"), 0.0),
        Metric(
            "latency_p90_ms", "min", "Latency p90", "ms", LATENCY_CONVENTION.format(statistic="90th percentile"), 0.0
        ),
        Metric(
            "latency_ratio",
            "min",
            "Lat. ratio",
            "",
            "median latency over that of the same network without attention, the two timed alternately "
            "(A B A B) in one window under the trial's latency set-up, so drift between trials cancels: the "
            "median of the rounds' ratios, its 95 % interval in --json and exports; 1 without attention",
            0.0,
        ),
    )
}

# What a search may optimise.
OBJECTIVE_METRICS = (
    "accuracy",
    "top5",
    "map",
    "map50",
    "macs",
    "params",
    "latency_ms",
    "latency_ratio",
    "elementwise_ops",
)
# The scores only training gives, by the task a search space names (`task:`); every other
# objective is a cost, measured alike for both. The first is the task's primary score: the one a
# trial's per-epoch curve follows unless the first objective is another of the task's scores.
TASK_SCORES = {"classification": ("accuracy", "top5"), "detection": ("map", "map50")}
TASKS = tuple(TASK_SCORES)


def task_objectives(task: str) -> tuple[str, ...]:
    """The objectives a space of `task` may name: its scores and every cost."""
    others = {m for t, scores in TASK_SCORES.items() if t != task for m in scores}
    return tuple(m for m in OBJECTIVE_METRICS if m not in others)


# What a user may cap with --budget (only what is known before training can rule a candidate out)
# is cbam_bench.trial_attrs.BUDGET_METRICS, derived from the stored record's fields.

# Largest first: how counts are shown (1.5M) and read back (--budget params=1.5M).
SI_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "K"))
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([kKmMgG]?)\s*$")


@dataclass(frozen=True)
class Objective:
    """One objective of a study, e.g. accuracy:max."""

    metric: str
    direction: str

    def __str__(self) -> str:
        return f"{self.metric}:{self.direction}"

    @property
    def sign(self) -> float:
        """Multiplier that turns this objective into one to minimise."""
        return -1.0 if self.direction == "max" else 1.0


def parse_objective(text: str) -> Objective:
    """'accuracy:max' -> Objective; a bare known metric takes its natural direction."""
    name, _, direction = str(text).partition(":")
    name = name.strip()
    if not direction:
        if name not in METRICS:
            raise SpecError(
                "objectives",
                f"{text!r} is not allowed{did_you_mean(name, METRICS)}; "
                f"allowed: {allowed(f'{m}:{METRICS[m].direction}' for m in OBJECTIVE_METRICS)}",
            )
        direction = METRICS[name].direction
    if direction not in DIRECTIONS:
        raise SpecError("objectives", f"{text!r} has direction {direction!r}; allowed: {allowed(DIRECTIONS)}")
    return Objective(name, direction)


def parse_number(text: str) -> float:
    """'5', '3e6', '50M' -> float; K, M and G are powers of ten."""
    match = _NUMBER.match(str(text))
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * dict((p.lower(), v) for v, p in SI_PREFIXES).get(match.group(2).lower(), 1.0)


def parse_limits(items: list[str] | None, option: str, metrics: tuple[str, ...]) -> dict[str, float]:
    """['latency_ms=5', 'params=3M'] -> {'latency_ms': 5.0, 'params': 3e6}; errors name the option."""
    out: dict[str, float] = {}
    hint = f"allowed: METRIC=NUMBER with METRIC one of {allowed(metrics)}"
    for item in items or []:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep:
            raise SpecError(option, f"{item!r} has no value; {hint}")
        if name not in metrics:
            raise SpecError(option, f"{item!r} is not allowed{did_you_mean(name, metrics)}; {hint}")
        try:
            value = parse_number(raw)
        except ValueError:
            raise SpecError(f"{option} {name}", f"{raw.strip()!r} is not a number; {hint}") from None
        if not math.isfinite(value) or value < 0:
            raise SpecError(f"{option} {name}", f"{raw.strip()!r} is not allowed; {hint} (a finite number >= 0)")
        out[name] = value
    return out
