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
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs = {"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT_S}}
        if parsed.database and parsed.database != ":memory:":
            check_sqlite_file(Path(parsed.database))  # never add Optuna's tables to another program's file
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for attempt in range(3):
            try:
                return RDBStorage(
                    parsed.render_as_string(hide_password=False),
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_s,
                    grace_period=2 * heartbeat_s,
                    heartbeat_stale_trial_callback=RetryStaleTrial(),
                )
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
