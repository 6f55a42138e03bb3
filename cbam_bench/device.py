"""Where a run trains and in what numeric form: the device, autocast precision, memory layout and cuDNN's
autotuner. Shared by classification, detection and the benchmarks, so each picks the GPU's fast path alike."""

from __future__ import annotations

import contextlib
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
