"""reuse_freed_memory: glibc keeps a step's freed activations for the next, so they are not page-faulted anew.

Each case runs in fresh interpreters: the setting is process-wide and cannot be undone."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="a glibc allocator setting"
)

# Page faults in each of eight training steps of cifar_resnet20 at batch 64 (4 MiB maps), after three
# steps of warm-up.
PROBE = """
import resource, sys, torch
import torch.nn.functional as F
from cbam_bench.device import reuse_freed_memory
from cbam_bench.spec import ArchSpec
from cbam_bench.train import initial_model
torch.set_num_threads(1)
kept = reuse_freed_memory() if sys.argv[1] == "set" else False
model = initial_model(ArchSpec("cifar_resnet20", num_classes=10, input_size=32, in_channels=3), seed=0)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
def step():
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
for _ in range(3):
    step()
faults = []
for _ in range(8):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(kept, *faults)
"""


def _probe(mode: str, **env: str) -> tuple[str, float]:
    """Whether the setting was made, and the median step's page faults: a step now and then faults
    in a few MiB whatever the allocator does (the heap grows, the kernel reclaims idle pages), so
    a mean over a few steps can land on either side of any line drawn through it."""
    run = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, env={**os.environ, **env}
    )
    kept, *faults = run.stdout.split()
    return kept, statistics.median(int(f) for f in faults)


@pytest.mark.slow  # an interpreter training a few steps (~4 s)
def test_a_training_steps_maps_are_reused_instead_of_faulted_in_again() -> None:
    kept, faults = _probe("set")
    assert kept == "True"
    # Fewer than one 4 MiB map's pages (1,024) in the median step; most steps fault none. glibc as it
    # comes varies from run to run, as its threshold adapts (1,500-19,500 measured), so the fixed
    # case below is the contrast.
    assert faults < 1024


@pytest.mark.slow
def test_the_users_own_glibc_setting_is_left_alone() -> None:
    # glibc's first threshold, fixed by the user: every map is handed back and faulted in anew
    kept, faults = _probe("set", MALLOC_MMAP_THRESHOLD_="131072")
    assert kept == "False" and faults > 100 * 1024


def test_without_mallopt_nothing_is_set(monkeypatch) -> None:  # noqa: ANN001 - pytest's fixture
    """A C library without glibc's mallopt (musl, macOS): reported as not set, nothing raised."""
    import ctypes

    from cbam_bench import device

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)

    def no_library(name: str) -> None:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_library)
    device.reuse_freed_memory.cache_clear()
    try:
        assert device.reuse_freed_memory() is False
    finally:
        device.reuse_freed_memory.cache_clear()
