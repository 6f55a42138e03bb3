"""Shared test set-up: small shapes, one thread, a fixed terminal width for CLI output."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("COLUMNS", "120")
# One intra-op thread: the tests' tensors are tiny, and on a shared machine two OpenMP threads
# waiting on each other's core are many times slower than one.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
