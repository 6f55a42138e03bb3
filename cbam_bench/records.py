"""A stored study as plain records: the one place where reports touch Optuna objects, and the one
definition of what a trial stores.

`TrialAttrs` is a trial's user_attrs with one typed field per key: the search writes through it,
every reader reads through it, and the key lists that others need (cost metrics, measures shown
per trial, what a reused trial copies) are derived from its fields. Everything downstream (fronts,
hypervolume, tables, exports, plots, comparisons) takes these records, so it can be tested on
hand-made data and never needs a database.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cbam_bench import collector
from cbam_bench.bulk_read import StoredStudy, StoredTrial, bulk_study, read_trials
from cbam_bench.metrics import Objective, parse_objective

if TYPE_CHECKING:
    import optuna

STATUSES = ("complete", "reused", "infeasible", "pruned", "failed", "duplicate", "running")

# When a key is written, which says who owns it: a trial that reuses an earlier one's measures
# copies the cheap, trained and verdict keys and writes its own identity and outcome.
IDENTITY = "identity"  # which network, written first by every trial
CHEAP = "cheap"  # measured before any training, cached by archid
TRAINED = "trained"  # the seeds' training folded into one set of measures
VERDICT = "verdict"  # where it was measured, and whether it fits the study's budgets
OUTCOME = "outcome"  # how this trial itself went: reused, curve, stopped early, failed

_CHECKS = {
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, (list, tuple)),
    "dict": lambda v: isinstance(v, dict),
}


def _key(group: str, kind: str, column: bool = False) -> Any:
    """A stored key; `column`: one of the measures every trial's JSON item and export shows."""
    return field(default=None, metadata={"group": group, "kind": kind, "column": column})


@dataclass(frozen=True)
class TrialAttrs:
    """One trial's user_attrs, one field per key (None: not stored). Keys this version does not
    know, or values of another type, are kept in `extra` untouched, so reading never loses them.

    The field order is the order of the measure columns in JSON items and exports.
    """

    accuracy: float | None = _key(TRAINED, "number", column=True)  # validation top-1, mean over seeds
    accuracy_std: float | None = _key(TRAINED, "number", column=True)  # sample std over seeds, 0 for one
    top5: float | None = _key(TRAINED, "number", column=True)
    map: float | None = _key(TRAINED, "number", column=True)  # detection: COCO mAP@[.5:.95] on val, mean over seeds
    map50: float | None = _key(TRAINED, "number", column=True)  # detection: mAP at IoU .5, mean over seeds
    test_accuracy: float | None = _key(TRAINED, "number", column=True)  # None unless every seed had a test split
    test_top5: float | None = _key(TRAINED, "number", column=True)
    seeds: int | None = _key(IDENTITY, "int", column=True)  # seeds the plan trains each candidate with
    params: int | None = _key(CHEAP, "number", column=True)
    macs: int | None = _key(CHEAP, "number", column=True)
    elementwise_ops: int | None = _key(CHEAP, "number", column=True)
    latency_ms: float | None = _key(CHEAP, "number", column=True)
    latency_p90_ms: float | None = _key(CHEAP, "number", column=True)
    latency_ratio: float | None = _key(CHEAP, "number", column=True)  # median of paired rounds' ratios
    latency_ratio_interval: list[float] | None = _key(CHEAP, "list")  # its 95 % [low, high]; [1, 1] without attention
    train_s: float | None = _key(TRAINED, "number", column=True)  # every seed's training, summed
    images_per_s: float | None = _key(TRAINED, "number", column=True)
    seed_accuracies: list[float] | None = _key(TRAINED, "list")
    seed_maps: dict[str, list[float]] | None = _key(TRAINED, "dict")  # detection: {"map": [...], "map50": [...]}
    epochs: int | None = _key(TRAINED, "int")
    weights_artifact: str | None = _key(TRAINED, "str")  # Optuna artifact id of the first seed's weights
    weights_bytes: int | None = _key(TRAINED, "int")  # that file's size
    latency_setup: dict[str, Any] | None = _key(CHEAP, "dict")  # device, threads, batch, dtype, ...
    archid: str | None = _key(IDENTITY, "str")
    arch: dict[str, Any] | None = _key(IDENTITY, "dict")  # ArchSpec.to_dict()
    summary: str | None = _key(IDENTITY, "str")  # AttentionSpec.summary()
    env: dict[str, Any] | None = _key(VERDICT, "dict")  # measure.env of the training device
    feasible: bool | None = _key(VERDICT, "bool")
    constraints: list[float] | None = _key(VERDICT, "list")  # measure - budget per budget; <= 0 within
    reused_from: int | None = _key(OUTCOME, "int")
    curve: list[float] | None = _key(OUTCOME, "list")  # the first seed's validation score per epoch (top-1, or mAP)
    loss_curve: list[float] | None = _key(OUTCOME, "list")  # the first seed's mean training loss per epoch
    stopped_at_epoch: int | None = _key(OUTCOME, "int")
    stopped_reason: str | None = _key(OUTCOME, "str")
    fail_reason: str | None = _key(OUTCOME, "str")
    nulls: frozenset[str] = frozenset()  # keys stored as null: measured, without a value (no test split)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def measured(cls, **values: Any) -> TrialAttrs:
        """Keys that were all measured: those without a value are stored as null, not left out."""
        return cls(**values, nulls=frozenset(k for k, v in values.items() if v is None))

    @classmethod
    def from_user_attrs(cls, attrs: Mapping[str, Any]) -> TrialAttrs:
        """Read stored user_attrs (any version's); nothing is dropped, see `nulls` and `extra`."""
        known, extra = {}, {}
        for key, value in attrs.items():
            spec = _FIELDS.get(key)
            if spec is not None and (value is None or _CHECKS[spec.metadata["kind"]](value)):
                known[key] = value
            else:
                extra[key] = value
        return cls(**known, nulls=frozenset(k for k, v in known.items() if v is None), extra=extra)

    def to_user_attrs(self) -> dict[str, Any]:
        """The keys to store: every field that is set or null, then `extra`."""
        out = {name: value for name in _FIELDS if (value := getattr(self, name)) is not None or name in self.nulls}
        return out | self.extra

    def __or__(self, other: TrialAttrs) -> TrialAttrs:
        """These attrs with every key that `other` stores written over them."""
        known = {k: v for k, v in other.to_user_attrs().items() if k in _FIELDS}
        return dataclasses.replace(self, **known, nulls=self.nulls | other.nulls, extra=self.extra | other.extra)

    def only(self, names: tuple[str, ...]) -> TrialAttrs:
        """A copy that keeps just these keys."""
        return TrialAttrs(**{name: getattr(self, name) for name in names}, nulls=self.nulls & set(names))


_FIELDS = {f.name: f for f in dataclasses.fields(TrialAttrs) if "group" in f.metadata}


def keys(*groups: str, kind: str | None = None) -> tuple[str, ...]:
    """Stored keys of these groups (of one kind when given), in field order."""
    return tuple(n for n, f in _FIELDS.items() if f.metadata["group"] in groups and kind in (None, f.metadata["kind"]))


# Measured before any training, so stored even for an untrained trial; what --budget may cap.
COST_METRICS = keys(CHEAP, kind="number")
BUDGET_METRICS = COST_METRICS
# The numeric measures every trial's JSON item and export shows, in their order.
TRIAL_MEASURES = tuple(n for n, f in _FIELDS.items() if f.metadata["column"])


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
        value = getattr(self.attrs, name) if name in _FIELDS else self.attrs.extra.get(name)
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
