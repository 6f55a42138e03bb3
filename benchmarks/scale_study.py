"""Studies of thousands of trials shaped like the search's, written straight into Optuna's tables.

Optuna's own `add_trials` goes through its ORM one object per row and takes minutes at 100k trials
(each trial has ~25 user_attrs). Here the study itself is created through Optuna (so its row,
directions, attributes, version_info and alembic_version are Optuna's), and its trials are
bulk-inserted with SQLAlchemy Core into `trials`, `trial_values`, `trial_params`,
`trial_user_attributes` and `trial_system_attributes` as Optuna's RDB schema (v3.2.0.a, schema 12)
lays them out: states and value types by enum name, values and params as floats (a categorical
param as its choice's index), attributes as JSON text.

Every trial's user_attrs are written through the typed record (trial_attrs.TrialAttrs), with the mix a
long search leaves: complete, reused (a network met again copies its original's measures), over
budget (never trained), pruned (stopped early, with a partial curve) and failed (with a reason).
"""

from __future__ import annotations

import datetime
import json
import random
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, distribution_to_json

from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec
from cbam_bench.trial_attrs import CHEAP, TRAINED, VERDICT, TrialAttrs, keys

OBJECTIVES = ("accuracy:max", "macs:min", "latency_ms:min")
BUDGETS = {"latency_ms": 2.6}
DATASET, BACKBONE = "digits-clutter", "cifar_resnet20"
# Share of each status among generated trials; a reused trial needs an earlier complete one.
MIX = (("complete", 0.72), ("reused", 0.08), ("infeasible", 0.06), ("pruned", 0.09), ("failed", 0.05))
EPOCHS = 3
SPREAD = 0.05  # each trial's measures are its network's, varied by up to 5 %
ENV = {"python": "3.11.2", "torch": "2.5.1", "cuda": None, "device": "cpu", "cbam_bench": "0.3.0"}
LATENCY_SETUP = {
    "batch": 1,
    "device": "cpu",
    "dtype": "float32",
    "memory_format": "contiguous",
    "threads": 1,
    "repeats": 10,
}
REUSED = keys(CHEAP, TRAINED, VERDICT)
_KIND_COST = {
    "none": (0.0, 0.0, 1.0),
    "se": (0.002, 0.02, 1.25),
    "eca": (0.0005, 0.001, 1.15),
    "cbam": (0.004, 0.03, 1.6),
}
_KIND_GAIN = {"none": 0.0, "se": 0.03, "eca": 0.02, "cbam": 0.05}
_DIST = {
    "attention.kind": CategoricalDistribution(["none", "se", "eca", "cbam"]),
    "channel.reduction": CategoricalDistribution([4, 8, 16, 32]),
    "spatial.kernel": CategoricalDistribution([3, 7]),
    "attention.order": CategoricalDistribution(["channel-spatial", "parallel"]),
    "placement.stages": CategoricalDistribution(["all", "[3]", "[2, 3]"]),
    "backbone.width": CategoricalDistribution([round(0.25 + 0.05 * k, 2) for k in range(32)]),
}
_STAGES = {"all": None, "[3]": (3,), "[2, 3]": (2, 3)}


@dataclass(frozen=True)
class Network:
    """One candidate of the generated space: its sampled params, spec and nominal measures."""

    params: dict[str, Any]
    arch: ArchSpec
    accuracy: float
    macs: float
    n_params: float
    latency_ms: float


@dataclass(frozen=True)
class Row:
    """One trial as Optuna stores it."""

    number: int
    state: str  # TrialState name
    values: tuple[float, ...] | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    system_attrs: dict[str, Any]


def _networks() -> list[Network]:
    out = []
    for width in _DIST["backbone.width"].choices:
        for kind in ("none", "se", "eca", "cbam"):
            reductions = (4, 8, 16, 32) if kind in ("se", "cbam") else (16,)
            for reduction in reductions:
                for stages in _DIST["placement.stages"].choices if kind != "none" else ("all",):
                    params = {"attention.kind": kind, "backbone.width": width}
                    if kind != "none":
                        params["placement.stages"] = stages
                    if kind in ("se", "cbam"):
                        params["channel.reduction"] = reduction
                    attention = AttentionSpec(kind=kind, reduction=reduction)
                    arch = ArchSpec(
                        BACKBONE,
                        width=float(width),
                        num_classes=10,
                        input_size=32,
                        in_channels=1,
                        attention=attention,
                        placement=PlacementSpec(stages=_STAGES[stages]),
                    )
                    macs_extra, params_extra, latency_factor = _KIND_COST[kind]
                    scale = float(width) ** 2
                    out.append(
                        Network(
                            params,
                            arch,
                            0.78 + 0.04 * float(width) + _KIND_GAIN[kind] - 0.002 * reduction / 4,
                            40.5e6 * scale * (1 + macs_extra),
                            272e3 * scale * (1 + params_extra),
                            0.9 * float(width) * latency_factor,
                        )
                    )
    return out


def _vary(rng: random.Random, value: float) -> float:
    return value * (1 + rng.uniform(-SPREAD, SPREAD))


def _identity(net: Network) -> TrialAttrs:
    return TrialAttrs(archid=net.arch.archid, arch=net.arch.to_dict(), summary=net.arch.attention.summary(), seeds=1)


def _cheap(rng: random.Random, net: Network) -> TrialAttrs:
    latency = _vary(rng, net.latency_ms)
    feasible = latency <= BUDGETS["latency_ms"]
    return TrialAttrs(
        params=int(_vary(rng, net.n_params)),
        macs=int(_vary(rng, net.macs)),
        elementwise_ops=int(_vary(rng, net.macs / 400)),
        latency_ms=latency,
        latency_p90_ms=latency * 1.08,
        latency_ratio=latency / 0.9,
        latency_setup=dict(LATENCY_SETUP),
        env=dict(ENV),
        feasible=feasible,
        constraints=[latency - BUDGETS["latency_ms"]],
    )


def _trained(rng: random.Random, net: Network) -> TrialAttrs:
    accuracy = min(0.999, _vary(rng, net.accuracy))
    curve = [round(accuracy * (e + 1) / EPOCHS, 6) for e in range(EPOCHS)]
    return TrialAttrs.measured(
        accuracy=accuracy,
        accuracy_std=0.0,
        top5=min(1.0, accuracy + 0.05),
        test_accuracy=accuracy - 0.01,
        test_top5=None,
        train_s=_vary(rng, 30.0),
        images_per_s=_vary(rng, 900.0),
        seed_accuracies=[accuracy],
        epochs=EPOCHS,
    ) | TrialAttrs(curve=curve)


def _values(attrs: TrialAttrs) -> tuple[float, ...]:
    return tuple(float(getattr(attrs, o.split(":")[0])) for o in OBJECTIVES)


def generate(count: int, seed: int = 0) -> Iterator[Row]:
    """`count` trials numbered 0.. in the MIX of statuses; trial 0 is the no-attention baseline."""
    rng = random.Random(seed)
    networks = _networks()
    statuses, weights = zip(*MIX)
    done: list[tuple[int, Network, TrialAttrs]] = []  # complete trials, to be reused
    for number in range(count):
        net = networks[0] if number == 0 else rng.choice(networks)
        status = "complete" if number == 0 else rng.choices(statuses, weights)[0]
        if status == "reused" and done:
            origin, net, stored = rng.choice(done)
            attrs = _identity(net) | stored.only(REUSED) | TrialAttrs(reused_from=origin)
            yield _row(number, "COMPLETE", _values(attrs), net, attrs)
            continue
        attrs = _identity(net) | _cheap(rng, net)
        if status == "failed":
            yield _row(
                number,
                "FAIL",
                None,
                net,
                attrs | TrialAttrs(fail_reason="TrainingError: loss became nan at epoch 2, step 7 (lr 0.1)"),
            )
        elif status == "pruned":
            curve = _trained(rng, net).curve[:2]
            stop = TrialAttrs(
                curve=curve,
                stopped_at_epoch=2,
                stopped_reason=f"validation accuracy {curve[-1]:.4f} at epoch 2 "
                "is below the median 0.6000 of 12 earlier trials no costlier than it",
            )
            yield _row(number, "PRUNED", None, net, attrs | stop)
        elif status == "infeasible" or not attrs.feasible:
            attrs = replace(attrs, feasible=False, constraints=[abs(attrs.constraints[0]) + 0.1]) | TrialAttrs(
                accuracy=0.0, top5=0.0, accuracy_std=0.0, seed_accuracies=[], train_s=0.0
            )
            yield _row(number, "COMPLETE", _values(attrs), net, attrs)
        else:
            attrs = attrs | _trained(rng, net)
            done.append((number, net, attrs))
            yield _row(number, "COMPLETE", _values(attrs), net, attrs)


def _row(number: int, state: str, values: tuple[float, ...] | None, net: Network, attrs: TrialAttrs) -> Row:
    system = {"constraints": list(attrs.constraints)} if state == "COMPLETE" and attrs.constraints else {}
    return Row(number, state, values, net.params, attrs.to_user_attrs(), system)


def create(url: str, name: str, count: int, seed: int = 0, chunk: int = 5000) -> None:
    """A study `name` at `url` with `count` generated trials (see the module's docstring)."""
    directions = ["maximize" if o.endswith(":max") else "minimize" for o in OBJECTIVES]
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(storage=storage, study_name=name, directions=directions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.split(":")[0] for o in OBJECTIVES])
    for key, value in {
        "budgets": BUDGETS,
        "space": {"name": name, "backbone": BACKBONE, "dataset": DATASET},
        "dataset": DATASET,
        "backbone": BACKBONE,
        "train": {"dataset": DATASET, "epochs": EPOCHS, "batch_size": 128},
        "objectives": list(OBJECTIVES),
    }.items():
        study.set_user_attr(key, value)
    study_id = storage.get_study_id_from_name(name)
    rows = generate(count, seed)
    while batch := [r for _, r in zip(range(chunk), rows)]:
        insert(storage.engine, study_id, batch, _DIST)
    storage.engine.dispose()


def insert(engine: Any, study_id: int, rows: Sequence[Row], distributions: dict[str, Any]) -> None:
    """Bulk-insert rows as trials of the study, one executemany per table."""
    import sqlalchemy as sa

    meta = sa.MetaData()
    meta.reflect(
        bind=engine, only=["trials", "trial_values", "trial_params", "trial_user_attributes", "trial_system_attributes"]
    )
    t = meta.tables
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(
            t["trials"].insert(),
            [
                {
                    "number": r.number,
                    "study_id": study_id,
                    "state": r.state,
                    "datetime_start": now,
                    "datetime_complete": None if r.state == "RUNNING" else now,
                }
                for r in rows
            ],
        )
        first, last = rows[0].number, rows[-1].number
        ids = dict(
            connection.execute(
                sa.select(t["trials"].c.number, t["trials"].c.trial_id).where(
                    t["trials"].c.study_id == study_id, t["trials"].c.number.between(first, last)
                )
            ).all()
        )
        _many(
            connection,
            t["trial_values"],
            [
                {"trial_id": ids[r.number], "objective": i, "value": v, "value_type": "FINITE"}
                for r in rows
                for i, v in enumerate(r.values or ())
            ],
        )
        _many(
            connection,
            t["trial_params"],
            [
                {
                    "trial_id": ids[r.number],
                    "param_name": k,
                    "param_value": distributions[k].to_internal_repr(v),
                    "distribution_json": distribution_to_json(distributions[k]),
                }
                for r in rows
                for k, v in r.params.items()
            ],
        )
        for table, attr in (("trial_user_attributes", "user_attrs"), ("trial_system_attributes", "system_attrs")):
            _many(
                connection,
                t[table],
                [
                    {"trial_id": ids[r.number], "key": k, "value_json": json.dumps(v)}
                    for r in rows
                    for k, v in getattr(r, attr).items()
                ],
            )


def _many(connection: Any, table: Any, values: Iterable[dict[str, Any]]) -> None:
    values = list(values)
    if values:
        connection.execute(table.insert(), values)
