"""What a trial stores: its user_attrs as one typed record, and the key lists derived from it.

`TrialAttrs` has one typed field per key: the search writes through it, every reader reads
through it, and the key lists that others need (cost metrics, measures shown per trial, what a
reused trial copies) are derived from its fields, so a new measure is one new field here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
            spec = STORED_KEYS.get(key)
            if spec is not None and (value is None or _CHECKS[spec.metadata["kind"]](value)):
                known[key] = value
            else:
                extra[key] = value
        return cls(**known, nulls=frozenset(k for k, v in known.items() if v is None), extra=extra)

    def to_user_attrs(self) -> dict[str, Any]:
        """The keys to store: every field that is set or null, then `extra`."""
        out = {name: value for name in STORED_KEYS if (value := getattr(self, name)) is not None or name in self.nulls}
        return out | self.extra

    def __or__(self, other: TrialAttrs) -> TrialAttrs:
        """These attrs with every key that `other` stores written over them."""
        known = {k: v for k, v in other.to_user_attrs().items() if k in STORED_KEYS}
        return dataclasses.replace(self, **known, nulls=self.nulls | other.nulls, extra=self.extra | other.extra)

    def only(self, names: tuple[str, ...]) -> TrialAttrs:
        """A copy that keeps just these keys."""
        return TrialAttrs(**{name: getattr(self, name) for name in names}, nulls=self.nulls & set(names))


# Every stored key by name (the fields that have a group: not nulls, not extra).
STORED_KEYS = {f.name: f for f in dataclasses.fields(TrialAttrs) if "group" in f.metadata}


def keys(*groups: str, kind: str | None = None) -> tuple[str, ...]:
    """Stored keys of these groups (of one kind when given), in field order."""
    return tuple(
        n for n, f in STORED_KEYS.items() if f.metadata["group"] in groups and kind in (None, f.metadata["kind"])
    )


# Measured before any training, so stored even for an untrained trial; what --budget may cap.
COST_METRICS = keys(CHEAP, kind="number")
BUDGET_METRICS = COST_METRICS
# The numeric measures every trial's JSON item and export shows, in their order.
TRIAL_MEASURES = tuple(n for n, f in STORED_KEYS.items() if f.metadata["column"])
