"""Reading a study's trials in bulk gives exactly what Optuna's API gives, or steps aside for it."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState
from synthetic_studies import MIXED, Fake, make_study

from cbam_bench import bulk_read
from cbam_bench.bulk_read import StoredStudy, StoredTrial, bulk_study, bulk_trials, read_trials
from cbam_bench.errors import StudyError
from cbam_bench.records import load_records, records_from_study
from cbam_bench.storage import redact

_names = itertools.count()


def every_state(url: str) -> str:
    """A study at url with a trial in every state, reused trials, infinite values and three kinds of param."""
    name = f"states-{next(_names)}"
    fakes = (
        *MIXED,
        Fake(status="running", kind="se"),
        Fake(accuracy=0.88, reused_from=2),
        Fake(status="infeasible", reused_from=4),
    )
    study = make_study(fakes, storage=url, name=name)
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.COMPLETE,
            values=[math.inf, -math.inf, 3.0],
            params={"lr": 0.03, "depth": 4},
            distributions={"lr": FloatDistribution(1e-3, 1.0, log=True), "depth": IntDistribution(1, 8)},
            user_attrs={"accuracy": 0.5, "nested": {"a": [1, 2.5, None]}, "unknown_key": "kept"},
        )
    )
    study.enqueue_trial({"attention.kind": "none"})  # WAITING
    return name


def api_trials(storage: optuna.storages.BaseStorage, study_id: int) -> list[StoredTrial]:
    return [StoredTrial.of(t) for t in storage.get_all_trials(study_id, deepcopy=False)]


def check_same(url: str, name: str) -> None:
    storage = optuna.storages.RDBStorage(url)
    study_id = storage.get_study_id_from_name(name)
    bulk = bulk_trials(storage, study_id)
    assert bulk is not None  # the bulk path ran
    assert bulk == api_trials(storage, study_id)
    assert [t.state for t in bulk] == ["COMPLETE"] * 5 + ["PRUNED", "FAIL", "RUNNING"] + ["COMPLETE"] * 3 + ["WAITING"]
    assert bulk[10].values == (math.inf, -math.inf, 3.0) and bulk[10].params == {"lr": 0.03, "depth": 4}
    assert bulk[11].values is None and bulk[11].params == {} and bulk[11].user_attrs == {}
    loaded = optuna.load_study(study_name=name, storage=url)
    study = bulk_study(url, name)
    assert study is not None  # the study itself was read without Optuna's storage too
    assert study == StoredStudy.of(loaded, bulk)
    assert study.directions == ("MAXIMIZE", "MINIMIZE", "MINIMIZE") and study.metric_names == [
        "accuracy",
        "macs",
        "latency_ms",
    ]
    api = records_from_study(loaded, storage=redact(url))
    assert load_records(url, name) == api
    assert [t.status for t in api.trials][-5:] == ["running", "reused", "infeasible", "complete", "running"]
    storage.engine.dispose()


def test_bulk_read_equals_optuna_api_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    names = [every_state(url), every_state(url)]  # two studies: each reads only its own trials
    for name in names:
        check_same(url, name)


def test_bulk_read_equals_optuna_api_on_postgresql(postgres) -> None:
    url = postgres.url()
    check_same(url, every_state(url))


def _set(url: str, table: str, column: str, value: object) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.table(table, sa.column(column)).update().values({column: value}))
    engine.dispose()


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [("alembic_version", "version_num", "v3.0.0.d"), ("version_info", "schema_version", 11)],
)
def test_an_unknown_schema_version_falls_back_to_optuna(tmp_path: Path, table: str, column: str, value: object) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    name = every_state(url)
    storage = optuna.storages.RDBStorage(url)  # Optuna checks the version on opening only
    study_id = storage.get_study_id_from_name(name)
    expected = api_trials(storage, study_id)
    _set(url, table, column, value)
    assert bulk_trials(storage, study_id) is None
    assert read_trials(storage, study_id) == expected
    assert bulk_study(url, name) is None  # so load_records goes through Optuna, as it did before
    storage.engine.dispose()


def test_load_records_on_an_older_revision_says_what_optuna_says(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    name = every_state(url)
    _set(url, "alembic_version", "version_num", "v3.0.0.d")
    with pytest.raises(StudyError, match=r"could not be used as an Optuna storage \(RuntimeError: The runtime optuna"):
        load_records(url, name)


def test_load_records_on_another_schema_version_equals_optuna_api(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    name = every_state(url)
    _set(url, "version_info", "schema_version", 11)  # Optuna checks only the alembic revision
    assert bulk_study(url, name) is None
    assert load_records(url, name) == records_from_study(optuna.load_study(study_name=name, storage=url), storage=url)


def test_a_revision_this_version_does_not_know_falls_back(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    name = every_state(url)
    storage = optuna.storages.RDBStorage(url)
    study_id = storage.get_study_id_from_name(name)
    monkeypatch.setattr(bulk_read, "KNOWN_REVISIONS", frozenset({"v9.9.9.a"}))
    assert bulk_trials(storage, study_id) is None
    assert read_trials(storage, study_id) == api_trials(storage, study_id)
    storage.engine.dispose()


def test_a_study_missing_from_a_known_schema_is_one_line_listing_those_there(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    name = every_state(url)
    with pytest.raises(StudyError) as caught:
        bulk_study(url, name[:-1] + "9")
    assert (
        str(caught.value) == f"study '{name[:-1]}9' not found in {url} (did you mean '{name}'?); studies there: {name}"
    )


def test_no_database_yet_is_left_to_optuna_and_creates_no_file(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    assert bulk_study(f"sqlite:///{path}", "x") is None
    assert not path.exists()


def test_a_study_without_an_objectives_attr_takes_metric_names_and_directions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="plain", storage=url, directions=["maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, values=[0.9, 3.0]))
    records = load_records(url, "plain")
    assert [(o.metric, o.direction) for o in records.objectives] == [("objective0", "max"), ("objective1", "min")]
    assert records == records_from_study(optuna.load_study(study_name="plain", storage=url), storage=url)


def test_storages_other_than_rdb_are_read_through_optuna() -> None:
    study = make_study(MIXED)  # in memory
    study_id = study._study_id
    assert bulk_trials(study._storage, study_id) is None
    assert read_trials(study._storage, study_id) == [StoredTrial.of(t) for t in study.get_trials()]
