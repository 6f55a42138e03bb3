"""A stored study as plain records: the one place where reports touch Optuna objects.

Each trial's stored measures are a `TrialAttrs` (trial_attrs.py). Everything downstream (fronts,
hypervolume, tables, exports, plots, comparisons) takes these records, so it can be tested on
hand-made data and never needs a database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cbam_bench import collector
from cbam_bench.bulk_read import StoredStudy, StoredTrial, bulk_study, read_trials
from cbam_bench.metrics import Objective, parse_objective
from cbam_bench.trial_attrs import STORED_KEYS, TrialAttrs

if TYPE_CHECKING:
    import optuna

STATUSES = ("complete", "reused", "infeasible", "pruned", "failed", "duplicate", "running")


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its Optuna number and state, objective values in objective order, params and stored attrs."""

    number: int
    state: str  # Optuna's state name in lower case: complete, pruned, fail, running, waiting
    values: tuple[float, ...] | None
    params: dict[str, Any] = field(default_factory=dict)
    attrs: TrialAttrs = field(default_factory=TrialAttrs)

    @property
    def feasible(self) -> bool:
        """The stored verdict, else the constraints (all <= 0 means within budget)."""
        if self.attrs.feasible is not None:
            return self.attrs.feasible
        return all(c <= 0 for c in self.attrs.constraints or [])

    @property
    def reused_from(self) -> int | None:
        """The trial whose measures this one copied (the search met the same network again), if any."""
        return self.attrs.reused_from

    @property
    def status(self) -> str:
        """complete (within budget, measured here), reused (a copy of an earlier complete trial of the
        same network), infeasible (over budget, never trained), pruned, failed, duplicate, running."""
        if self.state == "complete":
            if not self.feasible:
                return "infeasible"
            return "complete" if self.reused_from is None else "reused"
        return {"pruned": "pruned", "fail": "duplicate" if self.reused_from is not None else "failed"}.get(
            self.state, "running"
        )

    @property
    def usable(self) -> bool:
        """Whether the trial takes part in fronts, ranks and picks: a reused trial does not, since
        its original stands for the network (counting both would list one network twice)."""
        return self.status == "complete" and self.values is not None and all(math.isfinite(v) for v in self.values)

    def measure(self, name: str) -> float | None:
        """A numeric stored key as a float, or None when it was not stored (pruned and failed trials
        lack most); a key this version does not know is looked up among the extra attrs."""
        value = getattr(self.attrs, name) if name in STORED_KEYS else self.attrs.extra.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value)

    @property
    def arch(self) -> dict[str, Any]:
        return self.attrs.arch or {}

    @property
    def attention_kind(self) -> str | None:
        attention = self.arch.get("attention")
        return attention.get("kind") if isinstance(attention, dict) else None

    @property
    def summary(self) -> str:
        return str(self.attrs.summary or self.attention_kind or "?")

    @property
    def device(self) -> str | None:
        """The device the trial was trained on (env)."""
        env = self.attrs.env
        return str(env["device"]) if env and env.get("device") else None

    @property
    def latency_setup(self) -> dict[str, Any] | None:
        """How the latency was timed (device, threads, batch, dtype, memory format), when stored."""
        setup = self.attrs.latency_setup
        return setup if setup and setup.get("device") else None

    @property
    def latency_label(self) -> str | None:
        """Where latency was timed, e.g. 'cpu, 1 thread, batch 1, float32'.

        The search times every candidate under its space's latency set-up, which need not be the
        device it trains on (a GPU worker may time on one CPU thread), so the set-up names it.
        A trial without one falls back to the training device in env; None when neither is stored.
        """
        setup = self.latency_setup
        if setup is None:
            return self.device
        parts = [str(setup["device"])]
        threads = setup.get("threads")
        if setup["device"] == "cpu" and isinstance(threads, int):
            parts.append(f"{threads} thread{'' if threads == 1 else 's'}")
        if setup.get("batch") is not None:
            parts.append(f"batch {setup['batch']}")
        if setup.get("dtype"):
            parts.append(str(setup["dtype"]))
        if setup.get("memory_format") not in (None, "contiguous"):
            parts.append(str(setup["memory_format"]))
        return ", ".join(parts)


@dataclass(frozen=True)
class StudyRecords:
    """One study: its objectives (defining the front), stored budgets and settings, and every trial."""

    name: str
    objectives: tuple[Objective, ...]
    trials: tuple[TrialRecord, ...]
    budgets: dict[str, float] = field(default_factory=dict)
    dataset: str | None = None
    backbone: str | None = None
    storage: str | None = None
    train: dict[str, Any] | None = None  # the training recipe every trial used (TrainSpec fields), if stored
    task: str = "classification"  # or detection (metrics.TASK_SCORES says which scores it has)

    @property
    def usable(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.usable]

    def trial(self, number: int) -> TrialRecord | None:
        return next((t for t in self.trials if t.number == number), None)

    def counts(self) -> dict[str, int]:
        """Trials by status, each counted once: reused and infeasible trials are COMPLETE in Optuna
        but counted apart from complete, so the statuses add up to the total."""
        out = {status: 0 for status in STATUSES}
        for t in self.trials:
            out[t.status] += 1
        return {"total": len(self.trials), **out}


def _objectives(study: StoredStudy) -> tuple[Objective, ...]:
    """From the study's `objectives` user_attr, else its metric names and directions."""
    stored = study.user_attrs.get("objectives")
    directions = ["max" if d == "MAXIMIZE" else "min" for d in study.directions]
    if isinstance(stored, list) and len(stored) == len(directions):
        return tuple(parse_objective(text) for text in stored)
    names = study.metric_names or [f"objective{i}" for i in range(len(directions))]
    return tuple(Objective(name, direction) for name, direction in zip(names, directions))


def records_from_study(study: optuna.Study, storage: str | None = None) -> StudyRecords:
    """Turn a loaded Optuna study into plain records."""
    trials = [StoredTrial.of(t) for t in study.get_trials(deepcopy=False)]
    return records_from_stored(StoredStudy.of(study, trials), storage)


def records_from_stored(study: StoredStudy, storage: str | None = None) -> StudyRecords:
    """Plain records of a study as stored (bulk_read.StoredStudy)."""
    trials = tuple(
        TrialRecord(
            number=t.number,
            state=t.state.lower(),
            values=t.values,
            params=t.params,
            attrs=TrialAttrs.from_user_attrs(t.user_attrs),
        )
        for t in study.trials
    )
    attrs = study.user_attrs
    budgets = attrs.get("budgets") if isinstance(attrs.get("budgets"), dict) else {}
    return StudyRecords(
        name=study.name,
        objectives=_objectives(study),
        trials=trials,
        budgets={str(k): float(v) for k, v in budgets.items()},
        dataset=attrs.get("dataset"),
        backbone=attrs.get("backbone"),
        storage=storage,
        train=dict(attrs["train"]) if isinstance(attrs.get("train"), dict) else None,
        task=str(attrs.get("task", "classification")),
    )


def load_records(storage: str, name: str) -> StudyRecords:
    """Read a study from storage (see cbam_bench.storage.load_study for the errors), in bulk where
    its schema is known (bulk_read) and with the cycle collector paused (see cbam_bench.collector)."""
    from cbam_bench.storage import open_study, redact

    with collector.paused():
        stored = bulk_study(storage, name)
        if stored is None:
            study, opened = open_study(storage, name)
            stored = StoredStudy.of(study, read_trials(opened, opened.get_study_id_from_name(name)))
        return records_from_stored(stored, storage=redact(storage))
