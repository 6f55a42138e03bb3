"""Opening Optuna storages for reading: never creates a database or a table as a side effect.

A misspelled SQLite path must not leave an empty database behind, so reading goes through here
rather than through `optuna.load_study(storage=url)`, which would create one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cbam_bench.errors import StudyError, allowed, did_you_mean

if TYPE_CHECKING:
    import optuna

DEFAULT_STORAGE = "sqlite:///results/cbam-bench.db"


def _sqlite_file(url: str) -> Path | None:
    """The database file of a sqlite URL, or None for other databases and in-memory sqlite."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # sqlalchemy raises ArgumentError for text that is not a URL
        raise StudyError(f"--storage: {url!r} is not a database URL; allowed: e.g. {DEFAULT_STORAGE} "
                         "or postgresql://user@host/db") from None
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_storage(url: str) -> optuna.storages.BaseStorage | None:
    """The storage at url for reading, or None when its SQLite file does not exist."""
    import optuna

    path = _sqlite_file(url)
    if path is not None and not path.is_file():
        return None
    try:
        return optuna.storages.RDBStorage(url, skip_table_creation=True)
    except Exception as exc:
        raise StudyError(f"--storage: {url} is not an Optuna storage ({type(exc).__name__})") from None


def study_names(url: str) -> list[str]:
    """Names of the studies stored at url ([] when there is no database yet)."""
    import optuna

    storage = open_storage(url)
    if storage is None:
        return []
    try:
        return sorted(optuna.get_all_study_names(storage))
    except Exception as exc:
        raise StudyError(f"--storage: {url} is not an Optuna storage ({type(exc).__name__})") from None


def load_study(url: str, name: str) -> optuna.Study:
    """The stored study, or a StudyError naming it and listing the studies that do exist there."""
    import optuna

    names = study_names(url)
    if name not in names:
        there = f"studies there: {allowed(names)}" if names else "no studies there yet"
        raise StudyError(f"study {name!r} not found in {url}{did_you_mean(name, names)}; {there}")
    return optuna.load_study(study_name=name, storage=open_storage(url))
