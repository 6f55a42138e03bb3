"""Every trial of a stored study in one query per table, where the database's schema is one we know.

Optuna's `get_all_trials` builds an ORM object per row of five tables and then a FrozenTrial per
trial: about 2 ms a trial, 20 s for a study of 10,000. Reports need only a trial's number, state,
values, params and user_attrs, so on an RDB storage this reads them with four SQLAlchemy Core
queries (trials, trial_values, trial_params, trial_user_attributes) and decodes them as Optuna
does (optuna/storages/_rdb/models.py and storage.py's `_build_frozen_trial_from_trial_model`).
`bulk_study` reads the study's own rows (name, directions, user and system attributes) the same
way, so a report need not open Optuna's RDBStorage at all: its opening runs alembic's schema check,
which imports alembic with every dialect it knows.

That layout is Optuna's RDB schema at one alembic revision. The reader runs only when the database
says it is at a revision listed in KNOWN_REVISIONS (and at the schema_version Optuna keeps beside
it); any other revision, or any other kind of storage, is read through Optuna's API instead, which
returns the same trials more slowly.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage

# Alembic revisions whose tables the queries below read, with Optuna's version_info.schema_version
# (frozen at 12 since Optuna 2.x; the alembic revision is what moves).
KNOWN_REVISIONS = frozenset({"v3.2.0.a"})
SCHEMA_VERSION = 12
_INFINITE = {"INF_POS": float("inf"), "INF_NEG": float("-inf")}
_ROWS_AT_ONCE = 10_000
_METRIC_NAMES = "study:metric_names"  # the study system attribute Optuna keeps set_metric_names in


@dataclass(frozen=True)
class StoredTrial:
    """What records.TrialRecord is made from: a trial as stored, states by Optuna's name."""

    number: int
    state: str  # TrialState name: COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    values: tuple[float, ...] | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]

    @classmethod
    def of(cls, trial: optuna.trial.FrozenTrial) -> StoredTrial:
        values = tuple(float(v) for v in trial.values) if trial.values is not None else None
        return cls(trial.number, trial.state.name, values, dict(trial.params), dict(trial.user_attrs))


@dataclass(frozen=True)
class StoredStudy:
    """What records.StudyRecords is made from: a study's settings as stored, and its trials."""

    name: str
    directions: tuple[str, ...]  # StudyDirection names, in objective order: MAXIMIZE, MINIMIZE
    metric_names: list[str] | None
    user_attrs: dict[str, Any]
    trials: list[StoredTrial]

    @classmethod
    def of(cls, study: optuna.Study, trials: list[StoredTrial]) -> StoredStudy:
        return cls(
            study.study_name, tuple(d.name for d in study.directions), study.metric_names, study.user_attrs, trials
        )


def bulk_study(url: str, name: str) -> StoredStudy | None:
    """The study named `name` at url, read with plain queries and without opening Optuna's storage;
    None where that cannot be done (no database yet, another schema, a database that cannot be
    read): the caller then goes through Optuna, which says why. StudyError when the study is not there."""
    import sqlalchemy as sa

    from cbam_bench.storage import not_found, read_engine

    engine = read_engine(url)
    if engine is None:
        return None
    try:
        with engine.connect() as connection:
            if not schema_known(connection):
                return None
            ids = dict(connection.execute(sa.select(*_columns("studies", "study_name", "study_id"))).all())
            if name not in ids:
                raise not_found(url, name, sorted(ids))
            return _study(connection, name, ids[name])
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def _columns(table: str, *names: str) -> list[Any]:
    import sqlalchemy as sa

    return list(sa.table(table, *(sa.column(n) for n in names)).c)


def _study(connection: Any, name: str, study_id: int) -> StoredStudy:
    """The study's directions, attributes and trials, decoded as Optuna's RDBStorage does."""
    import sqlalchemy as sa

    def of_study(table: str, *names: str, order: str) -> list[Any]:
        columns = _columns(table, "study_id", order, *names)
        query = sa.select(*columns[2:]).where(columns[0] == study_id).order_by(columns[1])
        return connection.execute(query).all()

    directions = tuple(_name(d) for (d,) in of_study("study_directions", "direction", order="objective"))
    user_attrs = {
        k: json.loads(v)
        for k, v in of_study("study_user_attributes", "key", "value_json", order="study_user_attribute_id")
    }
    system = {
        k: v for k, v in of_study("study_system_attributes", "key", "value_json", order="study_system_attribute_id")
    }
    metric_names = json.loads(system[_METRIC_NAMES]) if _METRIC_NAMES in system else None
    return StoredStudy(name, directions, metric_names, user_attrs, _read(connection, study_id))


def read_trials(storage: BaseStorage, study_id: int) -> list[StoredTrial]:
    """The study's trials in Optuna's order (by trial id): in bulk where the schema is known."""
    rows = bulk_trials(storage, study_id)
    if rows is not None:
        return rows
    return [StoredTrial.of(t) for t in storage.get_all_trials(study_id, deepcopy=False)]


def schema_known(connection: Any) -> bool:
    """Whether the database is at a revision and schema_version whose tables bulk_trials reads."""
    import sqlalchemy as sa

    revisions = {r for (r,) in connection.execute(sa.select(sa.table("alembic_version", sa.column("version_num"))))}
    versions = {v for (v,) in connection.execute(sa.select(sa.table("version_info", sa.column("schema_version"))))}
    return len(revisions) == 1 and revisions <= KNOWN_REVISIONS and versions == {SCHEMA_VERSION}


def bulk_trials(storage: BaseStorage, study_id: int) -> list[StoredTrial] | None:
    """The trials read in one query per table; None when storage is no RDB storage of a known schema."""
    from optuna.storages import RDBStorage

    if not isinstance(storage, RDBStorage):
        return None
    with storage.engine.connect() as connection:
        if not schema_known(connection):
            return None
        return _read(connection, study_id)


def _tables() -> dict[str, Any]:
    import sqlalchemy as sa

    def table(name: str, *columns: str) -> Any:
        return sa.table(name, *(sa.column(c) for c in columns))

    return {
        "trials": table("trials", "trial_id", "number", "study_id", "state"),
        "values": table("trial_values", "trial_value_id", "trial_id", "objective", "value", "value_type"),
        "params": table("trial_params", "param_id", "trial_id", "param_name", "param_value", "distribution_json"),
        "attrs": table("trial_user_attributes", "trial_user_attribute_id", "trial_id", "key", "value_json"),
    }


def _read(connection: Any, study_id: int) -> list[StoredTrial]:
    import sqlalchemy as sa

    t = _tables()
    trials = t["trials"]
    of_study = trials.c.study_id == study_id

    def rows(table: Any, *columns: str, order: str) -> Iterator[Any]:
        query = sa.select(*(table.c[c] for c in columns)).join(trials, trials.c.trial_id == table.c.trial_id)
        result = connection.execute(query.where(of_study).order_by(table.c.trial_id, table.c[order]))
        for part in result.partitions(_ROWS_AT_ONCE):
            yield from part

    head = connection.execute(
        sa.select(trials.c.trial_id, trials.c.number, trials.c.state).where(of_study).order_by(trials.c.trial_id)
    ).all()
    values: dict[int, dict[int, float]] = {}
    for tid, objective, value, kind in rows(
        t["values"], "trial_id", "objective", "value", "value_type", order="objective"
    ):
        values.setdefault(tid, {})[objective] = _INFINITE.get(_name(kind), value)
    params: dict[int, dict[str, Any]] = {}
    distributions: dict[str, Any] = {}
    for tid, name, value, text in rows(
        t["params"], "trial_id", "param_name", "param_value", "distribution_json", order="param_id"
    ):
        params.setdefault(tid, {})[name] = _distribution(distributions, text).to_external_repr(value)
    attrs = _user_attrs(rows(t["attrs"], "trial_id", "key", "value_json", order="trial_user_attribute_id"))
    return [
        StoredTrial(number, _name(state), _values(values.get(tid)), params.get(tid, {}), attrs.get(tid, {}))
        for tid, number, state in head
    ]


def _user_attrs(rows: Iterable[tuple[int, str, str]]) -> dict[int, dict[str, Any]]:
    """Trial id -> user_attrs, from rows grouped by trial. Each trial's values are decoded in one
    json.loads of the object they spell (a key is JSON-quoted; a value_json is JSON already),
    which is several times faster than one call per value."""
    out: dict[int, dict[str, Any]] = {}
    quoted: dict[str, str] = {}
    for tid, group in itertools.groupby(rows, key=lambda row: row[0]):
        items = []
        for _, key, text in group:
            if key not in quoted:
                quoted[key] = json.dumps(key)
            items.append(f"{quoted[key]}:{text}")
        out[tid] = json.loads("{" + ",".join(items) + "}")
    return out


def _name(enum_value: Any) -> str:
    """An enum column's value as its member name (a driver may hand back a Python enum)."""
    return str(getattr(enum_value, "name", enum_value))


def _values(by_objective: dict[int, float] | None) -> tuple[float, ...] | None:
    if not by_objective:
        return None
    return tuple(float(by_objective[i]) for i in range(len(by_objective)))


def _distribution(cache: dict[str, Any], text: str) -> Any:
    """Optuna's distribution for a stored JSON text, parsed once per distinct text."""
    from optuna.distributions import json_to_distribution

    if text not in cache:
        cache[text] = json_to_distribution(text)
    return cache[text]
