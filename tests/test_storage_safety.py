"""Storages handled safely: no command writes over its own database, no password is ever shown or
stored, damaged and foreign databases are refused by name, and the README's PostgreSQL URL works."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import torch
from synthetic_studies import MIXED, TINY_ARCH, TINY_RECIPE, Fake, make_study, stored_recipe
from typer.testing import CliRunner

from cbam_bench.cli.app import app
from cbam_bench.storage import redact, redact_text

runner = CliRunner()
SECRET = "SECRETpw-93c1"


def invoke(*args: str, **env: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120", **env})


def one_line_error(result, *needles: str) -> str:
    """The single stderr line of a refused command, checked to name each needle."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def study_db(tmp_path: Path) -> Path:
    path = tmp_path / "studies.db"
    make_study(MIXED, storage=f"sqlite:///{path}", name="mixed")
    return path


# --- a command never writes over its own database ------------------------------------------------


@pytest.mark.parametrize("sidecar", ["", "-journal", "-wal", "-shm"])
def test_export_onto_its_own_database_is_refused_and_the_database_is_intact(study_db: Path, sidecar: str) -> None:
    target = study_db.with_name(study_db.name + sidecar)
    if sidecar:
        target.write_bytes(b"")  # SQLite's file beside the database, as while it is open
    before = study_db.read_bytes()
    for force in ([], ["--force"]):
        result = invoke(
            "export", "mixed", "--format", "csv", "--out", str(target), "--storage", f"sqlite:///{study_db}", *force
        )
        assert result.exit_code == 2
        one_line_error(result, "--out", str(target), "study database")
    assert study_db.read_bytes() == before
    assert invoke("report", "mixed", "--storage", f"sqlite:///{study_db}", "--json").exit_code == 0


def test_the_same_database_named_another_way_is_still_refused(study_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(study_db.parent)
    link = study_db.with_name("alias.db")
    link.symlink_to(study_db)
    before = study_db.read_bytes()
    result = invoke("export", "mixed", "--out", "./alias.db", "--storage", "sqlite:///studies.db")
    assert result.exit_code == 2 and "study database" in result.stderr
    result = invoke("report", "mixed", "--plot", "studies.db", "--storage", f"sqlite:///{study_db}")
    assert result.exit_code == 2
    assert study_db.read_bytes() == before


def test_out_replaces_only_a_file_of_the_format_being_written_unless_forced(study_db: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{study_db}"
    other_db = tmp_path / "other.db"
    make_study(MIXED[:2], storage=f"sqlite:///{other_db}", name="other")
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": 1}\n')
    old_csv = tmp_path / "old.csv"
    old_csv.write_text("a,b\n1,2\n")
    for target, fmt in ((other_db, "csv"), (notes, "csv"), (old_csv, "json")):
        before = target.read_bytes()
        result = invoke("export", "mixed", "--format", fmt, "--out", str(target), "--storage", url)
        assert result.exit_code == 2, result.output
        one_line_error(result, "--out", str(target), f"not a {fmt} file", "--force")
        assert target.read_bytes() == before
    # the format's own file is replaced, and --force replaces anything else
    assert invoke("export", "mixed", "--format", "csv", "--out", str(old_csv), "--storage", url).exit_code == 0
    assert old_csv.read_text().startswith("trial,")
    assert invoke("export", "mixed", "--format", "csv", "--out", str(notes), "--storage", url, "--force").exit_code == 0
    assert notes.read_text().startswith("trial,")


# --- damaged and foreign databases ---------------------------------------------------------------


def _damaged(kind: str, good: Path, folder: Path) -> Path:
    path = folder / f"{kind}.db"
    data = good.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "corrupted":
        path.write_bytes(data[:4096] + b"\x55" * 4096 + data[8192:])
    elif kind == "text":
        path.write_text("name,accuracy\nnone,0.9\n")
    elif kind == "folder":
        path.mkdir()
    elif kind == "foreign":
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
        connection.execute("INSERT INTO invoices VALUES (1, 9.5)")
        connection.commit()
        connection.close()
    return path


DAMAGE = {
    "truncated": "damaged SQLite database",
    "corrupted": "damaged SQLite database",
    "text": "not a SQLite database",
    "folder": "is a folder",
    "foreign": "another program's SQLite database (tables: invoices)",
}


def _snapshot(path: Path) -> object:
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else path.read_bytes()


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_or_foreign_database_is_refused_by_name_and_left_as_it_was(
    kind: str, study_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "bad").mkdir()
    bad = _damaged(kind, study_db, tmp_path / "bad")
    url = f"sqlite:///{bad}"
    before = _snapshot(bad)
    commands = (
        ["report", "mixed"],
        ["compare", "mixed"],
        ["export", "mixed", "--out", str(tmp_path / "x.csv")],
        ["train", "--from-trial", "mixed:1"],
        ["search", "default", "--trials", "1"],
    )
    for command in commands:
        result = invoke(*command, "--storage", url, CBAM_BENCH_TRAINER="fake_training")
        assert result.exit_code == 2, (command, result.output)
        one_line_error(result, "--storage", str(bad), DAMAGE[kind])
        assert _snapshot(bad) == before
    assert sorted(p.name for p in bad.parent.iterdir()) == [bad.name]  # no journal or sidecar left


# --- passwords ------------------------------------------------------------------------------------


def test_redact_masks_every_form_a_password_can_take() -> None:
    assert redact(f"postgresql://cbam:{SECRET}@db-host:5432/cbam") == "postgresql://cbam:***@db-host:5432/cbam"
    assert (
        redact_text(f"could not open 'mysql+pymysql://u:{SECRET}@h/d' or u:{SECRET}@h")
        == "could not open 'mysql+pymysql://u:***@h/d' or u:***@h"
    )
    assert redact_text("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"
    assert redact("sqlite:///results/cbam-bench.db") == "sqlite:///results/cbam-bench.db"
    assert redact_text("at 10:30 user@host") == "at 10:30 user@host"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://cbam:{SECRET}@127.0.0.1:1/cbam",  # nothing listens there
        f"mysql://cbam:{SECRET}@127.0.0.1:1/cbam",  # no driver
        f"nosuchdb://cbam:{SECRET}@127.0.0.1/cbam",  # no such database
        f"cbam:{SECRET}@127.0.0.1/cbam",  # not a URL
    ],
)
def test_storage_errors_never_show_the_password(url: str, tmp_path: Path) -> None:
    for command in (
        ["report", "s"],
        ["compare", "s"],
        ["export", "s", "--out", str(tmp_path / "x.csv")],
        ["train", "--from-trial", "s:0"],
        ["search", "default", "--trials", "1"],
    ):
        result = invoke(*command, "--storage", url, CBAM_BENCH_TRAINER="fake_training")
        assert result.exit_code == 2, (command, result.output)
        one_line_error(result, "--storage")
        assert SECRET not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def readme_url(postgres) -> str:  # noqa: ANN001 - the conftest's server
    """The README's form, postgresql://USER:PASSWORD@HOST:PORT/DB, with no driver named."""
    postgres.add_user("cbam", SECRET)
    return postgres.url("cbam", SECRET, "cbam", scheme="postgresql")


@pytest.mark.slow
def test_the_readmes_postgresql_url_works_and_its_password_is_never_shown_or_stored(
    readme_url: str, tmp_path: Path
) -> None:
    make_study(
        [Fake(kind="none", accuracy=0.80), Fake(kind="cbam", accuracy=0.88, arch=TINY_ARCH)],
        storage=readme_url.replace("postgresql://", "postgresql+psycopg2://"),
        name="tiny",
        train=stored_recipe(TINY_RECIPE),
    )
    outputs = []
    report = invoke("report", "tiny", "--json", "--storage", readme_url)
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["storage"] == readme_url.replace(SECRET, "***")
    outputs.append(report.output)
    exported = tmp_path / "tiny.json"
    result = invoke("export", "tiny", "--format", "json", "--out", str(exported), "--storage", readme_url)
    assert result.exit_code == 0, result.output
    outputs += [result.output, exported.read_text()]
    outputs.append(invoke("compare", "tiny", "--json", "--storage", readme_url).output)
    saved = tmp_path / "tiny.pt"
    trained = invoke(
        "train", "--from-trial", "tiny:1", "--save", str(saved), "--json", "--device", "cpu", "--storage", readme_url
    )
    assert trained.exit_code == 0, trained.output
    outputs.append(trained.output)
    checkpoint = torch.load(saved, weights_only=True)
    assert checkpoint["metrics"]["from_trial"]["storage"] == readme_url.replace(SECRET, "***")
    outputs.append(repr(checkpoint["metrics"]))
    assert SECRET.encode() not in saved.read_bytes()
    for text in outputs:
        assert SECRET not in text


def test_search_with_the_readmes_url_runs_and_shows_it_masked(readme_url: str, tmp_path: Path) -> None:
    space = tmp_path / "pg.yaml"
    space.write_text(
        "backbone: cifar_resnet20\nobjectives: [accuracy:max, macs:min]\nsampler: grid\n"
        "latency: {warmup: 0, repeats: 2}\ntrain: {epochs: 1}\nparams:\n  attention.kind: [none, se]\n"
    )
    result = invoke(
        "search", str(space), "--json", "--storage", readme_url, "--heartbeat", "2", CBAM_BENCH_TRAINER="fake_training"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["counts"]["complete"] == 2 and doc["storage"] == readme_url.replace(SECRET, "***")
    assert SECRET not in result.output


# --- refused before anything is written ----------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", [["search", "default"], ["ablate", "arrangement"]])
def test_device_cuda_without_a_gpu_is_refused_before_the_study_exists(command: list[str], tmp_path: Path) -> None:
    db = tmp_path / "studies.db"
    result = invoke(*command, "--device", "cuda", "--storage", f"sqlite:///{db}", CBAM_BENCH_TRAINER="fake_training")
    assert result.exit_code == 2, result.output
    one_line_error(result, "--device", "'cuda' is not available")
    assert not db.exists()


@pytest.mark.parametrize("name", ["", "a/b\nc", "a:b", " lead", "x" * 101, "-dash-first", "tab\there"])
def test_a_study_name_must_be_a_word_of_the_stated_characters(name: str, tmp_path: Path) -> None:
    db = tmp_path / "studies.db"
    result = invoke(
        "search", "default", "--study", name, "--storage", f"sqlite:///{db}", CBAM_BENCH_TRAINER="fake_training"
    )
    assert result.exit_code == 2, result.output
    one_line_error(result, "--study", "allowed: 1-100 letters, digits")
    assert not db.exists()


@pytest.mark.parametrize("lost_race", ["IntegrityError", "ProgrammingError"])
def test_a_worker_that_loses_the_race_to_create_the_tables_retries(
    lost_race: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers starting on a new PostgreSQL database both create Optuna's tables; the loser sees a
    duplicate key (IntegrityError) or DuplicateObject (a ProgrammingError) and must simply open again."""
    import optuna.storages
    import sqlalchemy.exc

    import cbam_bench.search.storage as search_storage

    real, calls = optuna.storages.RDBStorage, []

    def first_loses(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            error = getattr(sqlalchemy.exc, lost_race)
            raise error("CREATE TABLE studies", {}, Exception('type "studydirection" already exists'))
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", first_loses)
    monkeypatch.setattr(search_storage.time, "sleep", lambda s: None)
    storage = search_storage.open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert len(calls) == 2 and storage.get_all_studies() == []
