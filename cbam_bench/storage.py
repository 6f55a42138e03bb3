"""Storage URLs and databases: checked, masked and opened without side effects.

Every command that takes `--storage` goes through here. A URL is checked before use (a known
database, its driver installed; a SQLite file that is an Optuna database, or none yet), its
password never appears in a message, log line or stored field (`redact`), and reading never
creates a database or a table: a misspelled SQLite path must not leave an empty database behind,
so reading does not go through `optuna.load_study(storage=url)`, which would create one.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from cbam_bench.errors import StudyError, allowed, did_you_mean

if TYPE_CHECKING:
    import optuna
    from sqlalchemy.engine import URL, Engine

DEFAULT_STORAGE = "sqlite:///results/cbam-bench.db"
EXAMPLES = f"{DEFAULT_STORAGE} or postgresql://USER@HOST:5432/DB"
SQLITE_HEADER = b"SQLite format 3\x00"
# Files SQLite keeps beside a database while it is open: writing over one loses data too.
SQLITE_SIDECARS = ("-journal", "-wal", "-shm")
# Tables of Optuna's RDB schema. A database with none of them belongs to another program (one
# with only some may be being created by another worker at this moment).
OPTUNA_TABLES = frozenset({"studies", "trials", "version_info", "alembic_version", "study_directions"})
# A study's name: also a file-name-safe word in exports and the STUDY of STUDY:N, so no ':' or '/'.
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
STUDY_NAME_RULE = "1-100 letters, digits, '.', '_' and '-', starting with a letter or digit"
# scheme://user:password@ anywhere in a text (URLs inside driver messages too), and the same
# user:password@host typed without a scheme.
_PASSWORD_IN_URL = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)[^\s/]*@")
_PASSWORD_BARE = re.compile(r"(?<![\w/:.+-])([\w.+-]+:)[^@\s/:]+@")


def redact_text(text: str) -> str:
    """The text with the password of every URL in it masked."""
    return _PASSWORD_BARE.sub(r"\1***@", _PASSWORD_IN_URL.sub(r"\1***@", text))


def redact(url: str) -> str:
    """The URL with its password masked, for messages, JSON output and stored fields."""
    return redact_text(url)


def check_study_name(name: str, where: str = "--study") -> str:
    """The name, or a StudyError naming `where` when it is not one a study may have."""
    if not isinstance(name, str) or not STUDY_NAME.fullmatch(name):
        raise StudyError(f"{where}: {name!r} is not allowed; allowed: {STUDY_NAME_RULE}")
    return name


def _bad_url(url: str) -> StudyError:
    return StudyError(f"--storage: {redact(url)!r} is not a database URL Optuna can use; for example {EXAMPLES}")


def parse_url(url: str) -> URL:
    """The URL, checked and with a driver that is installed; StudyError otherwise.

    A plain postgresql:// URL names no driver, and SQLAlchemy's choice for it changed (psycopg2
    up to 2.0, psycopg 3 from 2.1): it is given whichever of the two is installed.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise _bad_url(url) from None
    try:
        dialect.import_dbapi()
    except ImportError:
        if parsed.drivername == "postgresql" and _installed("psycopg2"):
            return parsed.set(drivername="postgresql+psycopg2")
        hint = " (pip install 'cbam-bench[postgres]')" if parsed.get_backend_name() == "postgresql" else ""
        raise StudyError(f"--storage: the Python driver for {parsed.drivername} is not installed{hint}") from None
    return parsed


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def engine_url(url: str) -> str:
    """The URL to hand to SQLAlchemy (with the driver parse_url chose), password included."""
    return parse_url(url).render_as_string(hide_password=False)


def sqlite_file(url: str) -> Path | None:
    """The database file of a sqlite URL, or None for other databases and in-memory sqlite."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def storage_files(url: str) -> list[Path]:
    """The files a SQLite storage lives in (the database and its sidecars), resolved; [] otherwise."""
    path = sqlite_file(url)
    if path is None:
        return []
    db = path.resolve()
    return [db, *(db.with_name(db.name + suffix) for suffix in SQLITE_SIDECARS)]


def check_sqlite_file(path: Path) -> bool:
    """Whether `path` holds an Optuna database (False: nothing there yet, or an empty file).

    StudyError naming the file for a folder, a file that is not SQLite, a damaged database, or
    another program's database: cbam-bench never writes into any of them.
    """
    if path.is_dir():
        raise StudyError(
            f"--storage: {str(path)!r} is a folder; allowed: a SQLite database file, e.g. {DEFAULT_STORAGE}"
        )
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise StudyError(f"--storage: {str(path)!r} is not a SQLite database (it lacks SQLite's header); refused")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            check = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise StudyError(f"--storage: {str(path)!r} is a damaged SQLite database ({exc}); refused") from None
    if check != "ok":
        first = str(check).replace("\n", " ").strip()
        raise StudyError(f"--storage: {str(path)!r} is a damaged SQLite database ({first}); refused")
    if not tables:
        return False
    if not OPTUNA_TABLES & tables:
        shown = allowed(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StudyError(
            f"--storage: {str(path)!r} is another program's SQLite database (tables: {shown}), not an Optuna one; refused"
        )
    return True


def open_storage(url: str) -> optuna.storages.BaseStorage | None:
    """The storage at url for reading, or None when its SQLite file holds no database yet."""
    import optuna

    path = sqlite_file(url)
    if path is not None and not check_sqlite_file(path):
        return None
    try:
        return optuna.storages.RDBStorage(engine_url(url), skip_table_creation=True)
    except Exception as exc:
        raise unusable(url, exc) from None


def unusable(url: str, exc: BaseException) -> StudyError:
    """One line for a database that could not be opened or read: the URL masked, the first line of why."""
    while exc.__cause__ is not None:  # Optuna's StorageInternalError wraps the driver's error
        exc = exc.__cause__
    why = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {why[0]}" if why else type(exc).__name__
    return StudyError(f"--storage: {redact(url)} could not be used as an Optuna storage ({redact_text(detail)})")


def read_engine(url: str) -> Engine | None:
    """A SQLAlchemy engine on url's database for reading it without Optuna's storage, whose opening
    runs alembic's schema check (imports and all, a tenth of a report at 10,000 trials); None when
    a SQLite file holds no database yet. The caller disposes of it."""
    import sqlalchemy as sa

    path = sqlite_file(url)
    if path is not None and not check_sqlite_file(path):
        return None
    return sa.create_engine(engine_url(url))


def study_names(url: str) -> list[str]:
    """Names of the studies stored at url ([] when there is no database yet): from Optuna's
    `studies` table where it can be read, else through Optuna's storage (which says why not)."""
    import sqlalchemy as sa

    engine = read_engine(url)
    if engine is None:
        return []
    try:
        with engine.connect() as connection:
            return sorted(n for (n,) in connection.execute(sa.select(sa.table("studies", sa.column("study_name")))))
    except sa.exc.SQLAlchemyError:
        return _names(url, open_storage(url))
    finally:
        engine.dispose()


def not_found(url: str, name: str, names: list[str]) -> StudyError:
    """The one line for a study that is not at url: its name, a close match, and the studies there."""
    there = f"studies there: {allowed(names)}" if names else "no studies there yet"
    return StudyError(f"study {name!r} not found in {redact(url)}{did_you_mean(name, names)}; {there}")


def _names(url: str, storage: optuna.storages.BaseStorage | None) -> list[str]:
    import optuna

    if storage is None:
        return []
    try:
        return sorted(optuna.get_all_study_names(storage))
    except Exception as exc:
        raise unusable(url, exc) from None


def load_study(url: str, name: str) -> optuna.Study:
    """The stored study, or a StudyError naming it and listing the studies that do exist there."""
    return open_study(url, name)[0]


def open_study(url: str, name: str) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    """load_study, with the storage it was read from (opened and checked once for both)."""
    import optuna

    storage = open_storage(url)
    names = _names(url, storage)
    if storage is None or name not in names:
        raise not_found(url, name, names)
    return optuna.load_study(study_name=name, storage=storage), storage
