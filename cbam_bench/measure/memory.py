"""Peak memory of a piece of work: how much it needed beyond what was already in use.

On a GPU: the caching allocator's peak (max_memory_allocated) minus what was allocated before.
On the CPU: the peak resident set size minus the resident size before. Linux lets a process reset
its own peak (writing 5 to /proc/self/clear_refs), which makes the peak belong to this piece of
work; where that is refused, getrusage's lifetime peak is used instead, which can only under-report
(a peak below an earlier one does not show). Memory the allocator keeps cached from earlier work
is not counted again, so CPU figures are a lower bound on what a fresh process would need.
"""

from __future__ import annotations

import contextlib
import resource
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class PeakMemory:
    """Filled in when the `track_peak_memory` block ends."""

    bytes: int | None = None
    method: str = ""


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_resident_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _lifetime_peak_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


@contextlib.contextmanager
def track_peak_memory(device: str | torch.device) -> Iterator[PeakMemory]:
    """Measure the peak memory growth of the block on `device` (see the module docstring)."""
    device = torch.device(device)
    result = PeakMemory()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield result
        torch.cuda.synchronize(device)
        result.bytes = torch.cuda.max_memory_allocated(device) - before
        result.method = "cuda max_memory_allocated"
        return
    if _reset_resident_peak():
        before = _status_kib("VmRSS") or 0
        yield result
        result.bytes = max(0, ((_status_kib("VmHWM") or 0) - before) * 1024)
        result.method = "peak resident set growth (VmHWM)"
        return
    before = _lifetime_peak_bytes()
    yield result
    result.bytes = max(0, _lifetime_peak_bytes() - before)
    result.method = "lifetime peak resident set growth (getrusage)"
