"""A stored study as plain records: the one place where reports touch Optuna objects.

Everything downstream (fronts, hypervolume, tables, exports, plots, comparisons) takes these
records, so it can be tested on hand-made data and never needs a database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cbam_bench.metrics import Objective, parse_objective

if TYPE_CHECKING:
    import optuna

STATUSES = ("complete", "reused", "infeasible", "pruned", "failed", "running")


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its Optuna number and state, objective values in objective order, params and user_attrs."""

    number: int
    state: str  # Optuna's state name in lower case: complete, pruned, fail, running, waiting
    values: tuple[float, ...] | None
    params: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """The stored verdict, else the constraints (all <= 0 means within budget)."""
        if "feasible" in self.attrs:
            return bool(self.attrs["feasible"])
        constraints = self.attrs.get("constraints") or []
        return all(c <= 0 for c in constraints)

    @property
    def reused_from(self) -> int | None:
        """The trial whose measures this one copied (the search met the same network again), if any."""
        source = self.attrs.get("reused_from")
        return source if isinstance(source, int) and not isinstance(source, bool) else None

    @property
    def status(self) -> str:
        """complete (within budget, measured here), reused (a copy of an earlier complete trial of the
        same network), infeasible (over budget, never trained), pruned, failed, running."""
        if self.state == "complete":
            if not self.feasible:
                return "infeasible"
            return "complete" if self.reused_from is None else "reused"
        return {"pruned": "pruned", "fail": "failed"}.get(self.state, "running")

    @property
    def usable(self) -> bool:
        """Whether the trial takes part in fronts, ranks and picks: a reused trial does not, since
        its original stands for the network (counting both would list one network twice)."""
        return (self.status == "complete" and self.values is not None
                and all(math.isfinite(v) for v in self.values))

    def measure(self, name: str) -> float | None:
        """A numeric user_attr, or None when it was not stored (pruned and failed trials lack most)."""
        value = self.attrs.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value)

    @property
    def arch(self) -> dict[str, Any]:
        arch = self.attrs.get("arch")
        return arch if isinstance(arch, dict) else {}

    @property
    def attention_kind(self) -> str | None:
        attention = self.arch.get("attention")
        return attention.get("kind") if isinstance(attention, dict) else None

    @property
    def summary(self) -> str:
        return str(self.attrs.get("summary") or self.attention_kind or "?")

    @property
    def device(self) -> str | None:
        """The device the trial was trained on (env)."""
        env = self.attrs.get("env")
        return str(env["device"]) if isinstance(env, dict) and env.get("device") else None

    @property
    def latency_setup(self) -> dict[str, Any] | None:
        """How the latency was timed (device, threads, batch, dtype, memory format), when stored."""
        setup = self.attrs.get("latency_setup")
        return setup if isinstance(setup, dict) and setup.get("device") else None

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


def _objectives(study: optuna.Study) -> tuple[Objective, ...]:
    """From the study's `objectives` user_attr, else its metric names and directions."""
    stored = study.user_attrs.get("objectives")
    directions = ["max" if d.name == "MAXIMIZE" else "min" for d in study.directions]
    if isinstance(stored, list) and len(stored) == len(directions):
        return tuple(parse_objective(text) for text in stored)
    names = study.metric_names or [f"objective{i}" for i in range(len(directions))]
    return tuple(Objective(name, direction) for name, direction in zip(names, directions))


def records_from_study(study: optuna.Study, storage: str | None = None) -> StudyRecords:
    """Turn a loaded Optuna study into plain records."""
    trials = tuple(
        TrialRecord(
            number=t.number,
            state=t.state.name.lower(),
            values=tuple(float(v) for v in t.values) if t.values is not None else None,
            params=dict(t.params),
            attrs=dict(t.user_attrs),
        )
        for t in study.get_trials(deepcopy=False)
    )
    attrs = study.user_attrs
    budgets = attrs.get("budgets") if isinstance(attrs.get("budgets"), dict) else {}
    return StudyRecords(
        name=study.study_name,
        objectives=_objectives(study),
        trials=trials,
        budgets={str(k): float(v) for k, v in budgets.items()},
        dataset=attrs.get("dataset"),
        backbone=attrs.get("backbone"),
        storage=storage,
        train=dict(attrs["train"]) if isinstance(attrs.get("train"), dict) else None,
    )


def load_records(storage: str, name: str) -> StudyRecords:
    """Read a study from storage (see cbam_bench.storage.load_study for the errors)."""
    from cbam_bench.storage import load_study, redact

    return records_from_study(load_study(storage, name), storage=redact(storage))
