"""Where a run trains and in what numeric form: the device, autocast precision, memory layout and cuDNN's
autotuner. Shared by classification, detection and the benchmarks, so each picks the GPU's fast path alike."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
from collections.abc import Iterator

import torch

from cbam_bench.errors import SpecError


def resolve_device(name: str) -> torch.device:
    """'auto' is the GPU when there is one; asking for 'cuda' without one is bad input."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SpecError("train.device", "'cuda' is not available here (no GPU visible to torch); allowed: auto, cpu")
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bfloat16 under 'auto' on a GPU that has it; float32 (no autocast) on the CPU unless asked."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return None


def memory_format_for(device: torch.device) -> torch.memory_format:
    """channels_last on a GPU, where cuDNN's NHWC kernels (tensor cores) are fastest; plain NCHW on the CPU."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


@contextlib.contextmanager
def cudnn_autotune(device: torch.device) -> Iterator[None]:
    """cuDNN picks the fastest kernels on a GPU (every batch has the same shape); restored afterwards."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


# glibc's mallopt parameters (malloc.h); the environment variables that set them instead
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
GLIBC_OWN_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
KEEP_UP_TO = (1 << 30, 32 << 20)  # bytes; older glibc caps the mmap threshold at 32 MiB


@functools.cache
def reuse_freed_memory() -> bool:
    """Have glibc keep freed memory for the next training step instead of handing it back; True if set.

    glibc serves each allocation above its mmap threshold (128 KiB at first) with fresh pages and
    unmaps them on free, so on the CPU every activation of every step is page-faulted and zeroed
    anew: 1,500-19,500 faults per cifar_resnet20 step at batch 64 (glibc's threshold adapts as it
    goes), some 6 % of the step at 6,600 (README, "The training recipe"). With both thresholds
    raised the pages stay in the heap, and the process keeps the memory of its largest step.
    Process-wide, so set once; left alone where the user set glibc's own variables, or where the
    C library is not glibc.
    """
    if any(name in os.environ for name in GLIBC_OWN_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    for limit in KEEP_UP_TO:
        if mallopt(M_MMAP_THRESHOLD, limit) == 1:
            return mallopt(M_TRIM_THRESHOLD, limit) == 1
    return False
