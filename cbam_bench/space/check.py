"""Validating a parsed space file: every problem becomes one line naming the key and what is allowed.

The checker carries on past a problem, so a user fixes a file in one pass.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cbam_bench.detection.recipe import DetectSpec
from cbam_bench.errors import SpaceError, SpecError, allowed, did_you_mean
from cbam_bench.metrics import METRICS, OBJECTIVE_METRICS, TASKS, Objective, task_objectives
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.space.check_base import is_number
from cbam_bench.space.check_params import ParamChecks
from cbam_bench.space.check_settings import SettingChecks
from cbam_bench.space.codec import show as _show
from cbam_bench.space.model import (
    MAX_SEEDS,
    MAX_TRIALS,
    SAMPLERS,
    Space,
)
from cbam_bench.space.task import (
    DEFAULT_DATASETS,
    DETECTION,
    detection_backbone_problem,
    foreign_objective,
    foreign_train_keys,
    make_train_spec,
    train_keys,
)
from cbam_bench.spec import MAX_SEED
from cbam_bench.storage import STUDY_NAME, STUDY_NAME_RULE
from cbam_bench.train_spec import TrainSpec
from cbam_bench.trial_attrs import BUDGET_METRICS

_TOP_KEYS = (
    "name",
    "description",
    "task",
    "backbone",
    "dataset",
    "objectives",
    "budgets",
    "sampler",
    "seed",
    "trials",
    "seeds",
    "early_stop",
    "latency",
    "train",
    "params",
    "confirm",
)


def check_space(path: Path, data: Any) -> Space:
    """The Space a parsed file describes; SpaceError with one line per problem, each naming the file."""
    checker = _Checker(path)
    space = checker.space(data)
    if checker.problems or space is None:
        raise SpaceError("\n".join(f"{path}: {p}" for p in checker.problems))
    return space


class _Checker(ParamChecks, SettingChecks):
    """The checks of a whole file: its top-level keys, and the recipe, objectives and budgets they name."""

    # -- the whole file -----------------------------------------------------------------------

    def top(self, data: Any) -> dict[str, Any] | None:
        """The file's top-level mapping with its required keys, or None (reported) if it is not one."""
        if data is None:
            self.bad("file", "is empty; a space needs at least backbone, objectives and params")
            return None
        top = self.mapping("", data, _TOP_KEYS) if isinstance(data, dict) else None
        if top is None:
            self.problems.append(
                f"the file must be a mapping with keys from: {allowed(_TOP_KEYS)}; got {type(data).__name__}"
            )
            return None
        for key in ("backbone", "objectives", "params"):
            if key not in top:
                self.bad(key, "is required")
        return top

    def description(self, value: Any) -> Any:
        if not isinstance(value, str):
            self.bad("description", f"must be text; got {_show(value)}")
        return value

    def dataset(self, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            self.bad("dataset", f"must be a dataset name such as digits-clutter or cifar10; got {_show(value)}")
        return value

    def sampler(self, value: Any) -> Any:
        if value not in SAMPLERS:
            self.bad(
                "sampler",
                f"{_show(value)} is not allowed{did_you_mean(str(value), SAMPLERS)}; allowed: {allowed(SAMPLERS)}",
            )
        return value

    def space(self, data: Any) -> Space | None:
        top = self.top(data)
        if top is None:
            return None
        name = self.name(top.get("name", self.path.stem))
        description = self.description(top.get("description", ""))
        task = self.task(top.get("task", TASKS[0]))
        backbone = self.backbone(top.get("backbone"), task)
        dataset = self.dataset(top.get("dataset", DEFAULT_DATASETS[task]))
        objectives = self.objectives(top["objectives"], task) if "objectives" in top else ()
        budgets = self.budgets(top.get("budgets", {}))
        sampler = self.sampler(top.get("sampler", "tpe"))
        seed = self.integer("seed", top.get("seed", 0), 0, MAX_SEED)
        trials = self.integer("trials", top["trials"], 1, MAX_TRIALS) if "trials" in top else None
        seeds = self.integer("seeds", top.get("seeds", 1), 1, MAX_SEEDS)
        early_stop = self.early_stop(top.get("early_stop", True))
        latency = self.latency(top.get("latency", {}))
        confirm = self.confirm(top.get("confirm", {}))
        train = self.train(
            top.get("train", {}), dataset if isinstance(dataset, str) and dataset else DEFAULT_DATASETS[task], task
        )
        params, variants = self.params(top["params"], backbone) if "params" in top else ({}, {})
        if self.problems or backbone is None or train is None or latency is None:
            return None
        return Space(
            name=name,
            path=str(self.path),
            source=data,
            description=description,
            backbone=backbone,
            dataset=dataset,
            objectives=objectives,
            budgets=budgets,
            params=params,
            variants=variants,
            sampler=sampler,
            seed=seed or 0,
            trials=trials,
            seeds=seeds or 1,
            early_stop=early_stop,
            latency=latency,
            train=train,
            confirm=confirm,
            task=task,
        )

    def task(self, value: Any) -> str:
        """The space's task; an unknown one is reported and read as the default, classification."""
        if value in TASKS:
            return value
        self.bad("task", f"{_show(value)} is not allowed; allowed: {allowed(TASKS)}")
        return TASKS[0]

    def name(self, value: Any) -> str:
        if isinstance(value, str) and STUDY_NAME.fullmatch(value):
            return value
        self.bad("name", f"{_show(value)} is not allowed; allowed: {STUDY_NAME_RULE}")
        return ""

    def backbone(self, value: Any, task: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and value in BACKBONES:
            problem = detection_backbone_problem(value) if task == DETECTION else None
            if problem:
                self.bad("backbone", problem)
                return None
            return value
        self.bad(
            "backbone",
            f"{_show(value)} is not allowed{did_you_mean(str(value), BACKBONES)}; allowed: {allowed(BACKBONES)}",
        )
        return None

    def objectives(self, value: Any, task: str) -> tuple[Objective, ...]:
        example = "a list such as [accuracy:max, macs:min]"
        if not isinstance(value, list) or not value:
            if value != []:
                self.bad("objectives", f"must be {example}; got {_show(value)}")
            else:
                self.bad("objectives", f"must name at least one metric: {example}")
            return ()
        out: list[Objective] = []
        for item in value:
            if not isinstance(item, str):
                self.bad("objectives", f"{_show(item)} is not allowed; each item is METRIC or METRIC:max|min")
                continue
            metric, _, direction = item.partition(":")
            if metric not in OBJECTIVE_METRICS:
                own = task_objectives(task)
                self.bad("objectives", f"{metric!r} is not allowed{did_you_mean(metric, own)}; allowed: {allowed(own)}")
                continue
            if foreign_objective(task, metric):
                self.bad("objectives", foreign_objective(task, metric) or "")
                continue
            best = METRICS[metric].direction
            if direction and direction != best:
                self.bad("objectives", f"{item!r} is not allowed: {metric} can only be {best}imised ({metric}:{best})")
                continue
            if any(o.metric == metric for o in out):
                self.bad("objectives", f"{metric!r} is listed twice")
                continue
            out.append(Objective(metric, best))
        return tuple(out)

    def budgets(self, value: Any) -> dict[str, float]:
        if not isinstance(value, dict):
            self.bad(
                "budgets", f"must be a mapping of metric to maximum, such as {{latency_ms: 5}}; got {_show(value)}"
            )
            return {}
        out: dict[str, float] = {}
        for metric, limit in value.items():
            key = f"budgets.{metric}"
            if metric in METRICS and metric not in BUDGET_METRICS:  # known only after training
                self.bad(
                    key, f"only measures known before training can carry a budget; allowed: {allowed(BUDGET_METRICS)}"
                )
            elif metric not in BUDGET_METRICS:
                self.bad(
                    key,
                    f"unknown metric{did_you_mean(str(metric), BUDGET_METRICS)}; allowed: {allowed(BUDGET_METRICS)}",
                )
            elif is_number(limit) and math.isfinite(limit) and limit > 0:
                out[metric] = float(limit)
            else:
                self.bad(key, f"{_show(limit)} is not allowed; allowed: a number > 0 (the maximum)")
        return out

    def train(self, value: Any, dataset: str, task: str) -> TrainSpec | DetectSpec | None:
        names = train_keys(task)
        if isinstance(value, dict) and "dataset" in value:
            self.bad("train.dataset", "set the dataset at the top level (dataset: NAME)")
            value = {k: v for k, v in value.items() if k != "dataset"}
        if isinstance(value, dict):
            for key, problem in foreign_train_keys(task, value):
                self.bad(key, problem)
                value = {k: v for k, v in value.items() if f"train.{k}" != key}
        fields = self.mapping("train", value, names)
        if "nesterov" in fields and not isinstance(fields["nesterov"], bool):
            self.bad("train.nesterov", f"{_show(fields.pop('nesterov'))} is not allowed; allowed: true, false")
        if "data_dir" in fields and not isinstance(fields["data_dir"], (str, type(None))):
            self.bad("train.data_dir", f"{_show(fields.pop('data_dir'))} is not allowed; allowed: a folder path")
        try:
            return make_train_spec(task, dataset, fields)
        except SpecError as exc:
            self.problems.append(str(exc))
            return None
