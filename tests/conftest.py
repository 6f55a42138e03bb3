"""Shared test set-up: small shapes, one thread, a fixed terminal width for CLI output."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch  # imports no Triton: the variable below is still read in time
from postgres_server import Server, running_server, server_binaries

# Without a GPU, Triton's interpreter runs the CUDA kernels on CPU tensors
# (tests/test_fused_kernels.py); with one, they are compiled and run there. Triton reads this once,
# when it is first imported, so it is set before anything can import it.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

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
