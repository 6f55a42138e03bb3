"""Opening a study's storage for a search (cbam_bench/storage.py opens one for reading only).

Any Optuna RDB URL works: SQLite by default, PostgreSQL for many machines.

Heartbeats are always on: a running trial records one every `heartbeat_s` seconds, and a trial
silent for twice that long is failed by whichever worker looks next and queued again with the
same parameters (retries.py says how often), so a killed worker loses only the trial it was running.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from cbam_bench.errors import check_int
from cbam_bench.storage import DEFAULT_STORAGE, check_sqlite_file, parse_url, redact, unusable

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

HEARTBEAT_S = 30
MAX_HEARTBEAT_S = 3600  # a trial silent for twice this is failed: beyond an hour, a dead worker holds it too long
SQLITE_LOCK_TIMEOUT_S = 60
__all__ = ["DEFAULT_STORAGE", "HEARTBEAT_S", "open_storage", "parse_url", "redact"]


def open_storage(url: str, heartbeat_s: int = HEARTBEAT_S) -> RDBStorage:
    """An RDBStorage with heartbeats and retries of dead workers' trials; creates SQLite's folder."""
    import optuna
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    from cbam_bench.search.retries import RetryStaleTrial

    check_int("--heartbeat", heartbeat_s, 1, MAX_HEARTBEAT_S)
    parsed = parse_url(url)
    engine_kwargs: dict = {"pool_pre_ping": True}
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        # isolation_level None: the driver leaves transactions to us (_begin_immediately)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT_S, "isolation_level": None}}
        if parsed.database and parsed.database != ":memory:":
            check_sqlite_file(Path(parsed.database))  # never add Optuna's tables to another program's file
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for attempt in range(3):
            try:
                storage = RDBStorage(
                    parsed.render_as_string(hide_password=False),
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_s,
                    grace_period=2 * heartbeat_s,
                    heartbeat_stale_trial_callback=RetryStaleTrial(),
                )
                if sqlite:
                    _begin_immediately(storage.engine)
                return storage
            except (OperationalError, IntegrityError, ProgrammingError) as exc:
                # Two workers creating the tables of a new database at once: the loser retries. PostgreSQL
                # reports the lost race as a duplicate key, or as DuplicateObject (a ProgrammingError) when
                # both create the same type or index.
                if attempt == 2:
                    raise unusable(url, exc) from None
                time.sleep(0.5 + attempt)
            except Exception as exc:  # a server that refuses us, a schema Optuna cannot use: bad input
                raise unusable(url, exc) from None
    raise AssertionError("unreachable")


def _begin_immediately(engine: object) -> None:
    """Every SQLite transaction takes the write lock when it begins (BEGIN IMMEDIATE).

    Optuna hands a queued trial to a worker by reading its state and then setting it to RUNNING,
    in one transaction. On PostgreSQL the read locks the row. SQLite has no row locks, and by
    default its transaction takes the write lock only at the update, so two workers asking at once
    both read WAITING and both ran the same trial: measured, 7 of 15 simultaneous pairs of
    study.ask() on a queued trial. Taking the lock at the start makes the read and the update one
    step; SQLite allows one writer at a time anyway."""
    from sqlalchemy import event

    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
