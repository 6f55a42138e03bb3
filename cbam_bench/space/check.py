"""Validating a parsed space file: every problem becomes one line naming the key and what is allowed.

The checker carries on past a problem, so a user fixes a file in one pass.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from cbam_bench.detection.recipe import DetectSpec
from cbam_bench.errors import SpaceError, SpecError, allowed, did_you_mean
from cbam_bench.metrics import METRICS, OBJECTIVE_METRICS, TASKS, Objective, task_objectives
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.space.check_base import is_number
from cbam_bench.space.check_params import ParamChecks
from cbam_bench.space.codec import show as _show
from cbam_bench.space.model import (
    LATENCY_DEVICES,
    MAX_SEEDS,
    MAX_THREADS,
    MAX_TIMING_RUNS,
    MAX_TRIALS,
    SAMPLERS,
    STOP_SIGNALS,
    ConfirmSetup,
    EarlyStop,
    LatencySetup,
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
from cbam_bench.spec import MAX_BATCH, MAX_EPOCHS, MAX_SEED, AttentionSpec
from cbam_bench.storage import STUDY_NAME, STUDY_NAME_RULE
from cbam_bench.train_spec import TrainSpec
from cbam_bench.trial_attrs import BUDGET_METRICS

_ATTENTION_FIELDS = [f.name for f in dataclasses.fields(AttentionSpec)]
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


class _Checker(ParamChecks):
    """The checks of a whole file: its top-level keys, and the recipe, objectives and budgets they name."""

    # -- the whole file -----------------------------------------------------------------------

    def space(self, data: Any) -> Space | None:
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
        name = self.name(top.get("name", self.path.stem))
        description = top.get("description", "")
        if not isinstance(description, str):
            self.bad("description", f"must be text; got {_show(description)}")
        task = self.task(top.get("task", TASKS[0]))
        backbone = self.backbone(top.get("backbone"), task)
        dataset = top.get("dataset", DEFAULT_DATASETS[task])
        if not isinstance(dataset, str) or not dataset:
            self.bad("dataset", f"must be a dataset name such as digits-clutter or cifar10; got {_show(dataset)}")
        objectives = self.objectives(top["objectives"], task) if "objectives" in top else ()
        budgets = self.budgets(top.get("budgets", {}))
        sampler = top.get("sampler", "tpe")
        if sampler not in SAMPLERS:
            self.bad(
                "sampler",
                f"{_show(sampler)} is not allowed{did_you_mean(str(sampler), SAMPLERS)}; allowed: {allowed(SAMPLERS)}",
            )
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

    def early_stop(self, value: Any) -> EarlyStop | None:
        if value is False:
            return None
        if value is True:
            return EarlyStop()
        names = [f.name for f in dataclasses.fields(EarlyStop)]
        if not isinstance(value, dict):
            self.bad("early_stop", f"must be true, false or a mapping with {allowed(names)}; got {_show(value)}")
            return None
        fields = self.mapping("early_stop", value, names)
        warmup = self.integer(
            "early_stop.warmup_epochs", fields.get("warmup_epochs", EarlyStop.warmup_epochs), 0, MAX_EPOCHS
        )
        min_trials = self.integer(
            "early_stop.min_trials", fields.get("min_trials", EarlyStop.min_trials), 1, MAX_TRIALS
        )
        margin = fields.get("margin", EarlyStop.margin)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 1:
            self.bad("early_stop.margin", f"{_show(margin)} is not allowed; allowed: a number in [0, 1)")
            margin = 0.0
        signal = fields.get("signal", EarlyStop.signal)
        if signal not in STOP_SIGNALS:
            self.bad("early_stop.signal", f"{_show(signal)} is not allowed; allowed: {allowed(STOP_SIGNALS)}")
            signal = EarlyStop.signal
        return EarlyStop(warmup or 0, min_trials or 1, float(margin), signal)

    def confirm(self, value: Any) -> ConfirmSetup:
        fields = self.mapping("confirm", value, [f.name for f in dataclasses.fields(ConfirmSetup)])
        epochs = self.integer("confirm.epochs", fields["epochs"], 1, MAX_EPOCHS) if "epochs" in fields else None
        seeds = self.integer("confirm.seeds", fields.get("seeds", ConfirmSetup.seeds), 1, MAX_SEEDS)
        return ConfirmSetup(epochs, seeds or ConfirmSetup.seeds)

    def latency(self, value: Any) -> LatencySetup | None:
        names = [f.name for f in dataclasses.fields(LatencySetup)]
        fields = self.mapping("latency", value, names)
        device = fields.get("device", LatencySetup.device)
        if device not in LATENCY_DEVICES:
            self.bad("latency.device", f"{_show(device)} is not allowed; allowed: {allowed(LATENCY_DEVICES)}")
        batch = self.integer("latency.batch", fields.get("batch", LatencySetup.batch), 1, MAX_BATCH)
        warmup = self.integer("latency.warmup", fields.get("warmup", LatencySetup.warmup), 0, MAX_TIMING_RUNS)
        repeats = self.integer("latency.repeats", fields.get("repeats", LatencySetup.repeats), 1, MAX_TIMING_RUNS)
        threads = self.integer("latency.threads", fields.get("threads", LatencySetup.threads), 1, MAX_THREADS)
        if batch is None or warmup is None or repeats is None or threads is None or device not in LATENCY_DEVICES:
            return None
        return LatencySetup(device=device, batch=batch, warmup=warmup, repeats=repeats, threads=threads)

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
