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

from cbam_bench.errors import StudyError
from cbam_bench.storage import DEFAULT_STORAGE

if TYPE_CHECKING:
    from optuna.storages import RDBStorage
    from sqlalchemy.engine import URL

HEARTBEAT_S = 30
SQLITE_LOCK_TIMEOUT_S = 60
_EXAMPLES = f"{DEFAULT_STORAGE} or postgresql://USER:PASSWORD@HOST:5432/DB"


def parse_url(url: str) -> URL:
    """The URL, checked: a known database whose Python driver is installed; StudyError otherwise."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise StudyError(f"--storage: {url!r} is not a database URL Optuna can use; for example {_EXAMPLES}") from None
    try:
        dialect.import_dbapi()
    except ImportError:
        hint = " (pip install 'cbam-bench[postgres]')" if parsed.get_backend_name() == "postgresql" else ""
        raise StudyError(f"--storage: the Python driver for {parsed.drivername} is not installed{hint}") from None
    return parsed


def redact(url: str) -> str:
    """The URL with any password masked, for messages and JSON output."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing to hide that parse_url did not already reject
        return url


def open_storage(url: str, heartbeat_s: int = HEARTBEAT_S) -> RDBStorage:
    """An RDBStorage with heartbeats and retries of dead workers' trials; creates SQLite's folder."""
    import optuna
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import IntegrityError, OperationalError

    from cbam_bench.search.retries import RetryStaleTrial

    if heartbeat_s < 1:
        raise StudyError(f"--heartbeat: {heartbeat_s} is not allowed; allowed: an integer >= 1 (seconds)")
    parsed = parse_url(url)
    engine_kwargs: dict = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs = {"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT_S}}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for attempt in range(3):
            try:
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_s,
                    grace_period=2 * heartbeat_s,
                    heartbeat_stale_trial_callback=RetryStaleTrial(),
                )
            except (OperationalError, IntegrityError):
                # Two workers creating the tables of a new database at once: the loser retries.
                if attempt == 2:
                    raise
                time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")
