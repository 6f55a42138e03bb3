"""Shared test set-up: small shapes, one thread, a fixed terminal width for CLI output."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("COLUMNS", "120")


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
