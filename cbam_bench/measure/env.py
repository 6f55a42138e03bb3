"""The environment a measurement was taken in; a latency or a training speed means little without it."""

from __future__ import annotations

import platform

import torch

import cbam_bench


def device_name(device: str | torch.device) -> str:
    """'cpu', or the GPU's marketing name."""
    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def environment(device: str | torch.device) -> dict[str, object]:
    """python, torch, cuda (None without), device, cbam_bench version, CPU threads, and the machine."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "device": device_name(device),
        "cbam_bench": cbam_bench.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
