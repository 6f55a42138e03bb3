"""Shared test set-up: small shapes, one thread, a fixed terminal width for CLI output."""

from __future__ import annotations

import os

# Triton's interpreter runs the CUDA kernels on CPU tensors (tests/test_fused_triton.py). Triton
# reads this once, when it is first imported, so it is set before anything can import it.
os.environ.setdefault("TRITON_INTERPRET", "1")

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from postgres_server import Server, running_server, server_binaries

os.environ.setdefault("COLUMNS", "120")
# One intra-op thread: the tests' tensors are tiny, and on a shared machine two OpenMP threads
# waiting on each other's core are many times slower than one.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the PostgreSQL tests (.ci/run installs the postgresql package)")
    pytest.skip(f"{reason} (install the Debian postgresql package and the [postgres] extra; CI runs these tests)")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    """One real PostgreSQL server for the whole run (started on first use)."""
    bindir = server_binaries()
    if bindir is None:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _unavailable("the psycopg2 driver (the [postgres] extra) is not installed")
    with running_server(bindir) as server:
        yield server
