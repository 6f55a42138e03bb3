"""What a space's `task:` changes in its file: the training section's keys, the dataset, the
objectives a trial can score and the backbones a detector takes.

A key or objective of the other task is named as such (not only as unknown), so a file copied from
a classification space is fixed in one pass.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cbam_bench.detection.recipe import DETECTION_FAMILIES, DetectSpec
from cbam_bench.errors import SpecError, allowed
from cbam_bench.metrics import TASK_SCORES, task_objectives
from cbam_bench.models.catalog import backbone_info
from cbam_bench.train_spec import TrainSpec

CLASSIFICATION, DETECTION = "classification", "detection"
# The dataset of a space that names none, by task.
DEFAULT_DATASETS = {CLASSIFICATION: TrainSpec().dataset, DETECTION: DetectSpec().dataset}
# The spec each task's `train:` section fills.
TRAIN_SPECS: dict[str, type] = {CLASSIFICATION: TrainSpec, DETECTION: DetectSpec}


def train_keys(task: str) -> list[str]:
    """The keys a task's `train:` section takes (the dataset is set at the top level)."""
    return [f.name for f in dataclasses.fields(TRAIN_SPECS[task]) if f.name != "dataset"]


def foreign_train_keys(task: str, section: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, problem) for each key of `section` that only the other task's training takes."""
    own = set(train_keys(task))
    out = []
    for other in TRAIN_SPECS:
        if other == task:
            continue
        for key in section:
            if key in train_keys(other) and key not in own:
                out.append((f"train.{key}", f"applies to {other} only, not to a {task} space; allowed: {allowed(own)}"))
    return out


def foreign_objective(task: str, metric: str) -> str | None:
    """Why `metric` cannot be an objective of a `task` space when it is another task's score; else None."""
    for other, scores in TASK_SCORES.items():
        if other != task and metric in scores:
            return (
                f"{metric!r} is a {other} score, not one a {task} space measures; "
                f"allowed: {allowed(task_objectives(task))}"
            )
    return None


def make_train_spec(task: str, dataset: str, fields: dict[str, Any]) -> TrainSpec | DetectSpec:
    """The task's spec from a checked `train:` section; SpecError names the space file's key."""
    try:
        return TRAIN_SPECS[task](dataset=dataset, **fields)
    except SpecError as exc:
        if task == DETECTION and exc.key.startswith("detect."):
            key = exc.key.removeprefix("detect.")
            raise exc.rekeyed("dataset" if key == "dataset" else f"train.{key}") from None
        raise


def detection_backbone_problem(backbone: str, where: str = "in a detection space") -> str | None:
    """Why a detector cannot take `backbone` (its pyramid taps ResNet stages); None when it can."""
    if backbone_info(backbone).family in DETECTION_FAMILIES:
        return None
    return f"{backbone!r} is not allowed {where}; allowed: a ResNet or ResNeXt backbone"
