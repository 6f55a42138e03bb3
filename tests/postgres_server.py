"""A throw-away PostgreSQL server for tests, from the Debian `postgresql` package's initdb and pg_ctl.

It listens on a free port on 127.0.0.1 and checks passwords over TCP (scram-sha-256), so a URL that
works here carries its password for real. Run as root, the server runs as the `postgres` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ADMIN_PASSWORD = "admin-Secret-4711"


def server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    port: int

    def url(
        self,
        user: str = "postgres",
        password: str = ADMIN_PASSWORD,
        database: str = "postgres",
        scheme: str = "postgresql+psycopg2",
    ) -> str:
        return f"{scheme}://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def add_user(self, user: str, password: str) -> None:
        """A login role with that password and a database of the same name that it owns."""
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", password=ADMIN_PASSWORD, dbname="postgres"
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE ROLE "{user}" LOGIN PASSWORD %s', (password,))
            cursor.execute(f'CREATE DATABASE "{user}" OWNER "{user}"')
        connection.close()


@contextlib.contextmanager
def running_server(bindir: Path) -> Iterator[Server]:
    root = Path(tempfile.mkdtemp(prefix="cbam-bench-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    pwfile = root / "pw"
    pwfile.write_text(ADMIN_PASSWORD + "\n")
    if as_postgres:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    data, port = root / "data", _free_port()
    subprocess.run(
        as_postgres
        + [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        as_postgres + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield Server(port)
    finally:
        subprocess.run(
            as_postgres + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
