"""What a trial does differently by its space's task, in one table: the rest of a trial (sampling,
dedup, budgets, early stopping, seeds, storage) is the same for a classifier and a detector.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cbam_bench.search.measures import cheap_measures, fold_detection, fold_seeds
from cbam_bench.space import LatencySetup
from cbam_bench.spec import ArchSpec
from cbam_bench.trial_attrs import TrialAttrs


@dataclass(frozen=True)
class TaskSteps:
    """cheap: measures before training; score: an epoch report's validation value of a metric (the
    curve, the pruner and early stopping read it); loss: its mean training loss (the loss curve);
    fold: the seeds' results as one set of measures; untrained: what a candidate over budget
    records for the scores it never earned."""

    cheap: Callable[[ArchSpec, LatencySetup, str], TrialAttrs]
    score: Callable[[Any, str], float]
    loss: Callable[[Any], float]
    fold: Callable[[Sequence[Any]], TrialAttrs]
    untrained: TrialAttrs


def _accuracy(report: Any, metric: str) -> float:
    return float(report.val_top5 if metric == "top5" else report.val_accuracy)


def _map(report: Any, metric: str) -> float:
    """mAP@.5 when that is the metric asked for, else mAP@[.5:.95] (None, no objects: 0)."""
    return float(report.val["map50" if metric == "map50" else "map"] or 0.0)


STEPS = {
    "classification": TaskSteps(
        cheap=cheap_measures,
        score=_accuracy,
        loss=lambda report: float(report.train_loss),
        fold=fold_seeds,
        untrained=TrialAttrs(accuracy=0.0, top5=0.0, accuracy_std=0.0, seed_accuracies=[], train_s=0.0),
    ),
    "detection": TaskSteps(
        cheap=functools.partial(cheap_measures, task="detection"),
        score=_map,
        loss=lambda report: float(report.loss),
        fold=fold_detection,
        untrained=TrialAttrs(map=0.0, map50=0.0, seed_maps={}, train_s=0.0),
    ),
}
