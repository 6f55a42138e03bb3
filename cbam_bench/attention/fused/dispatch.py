"""Which path a CBAM module's forward takes: the fused passes, or the plain formula.

`off` is the plain formula everywhere: the reference. `on` takes the fused path wherever it
applies: channel-then-spatial order, a pooling set of avg and/or max, the avg+max descriptor, a
floating-point map of four dimensions, nothing tracing the operators; every other combination, and
CUDA without Triton, runs the plain formula. On the CPU the passes are the compiled ones (cpu.py)
for float32 NCHW maps where a C compiler is found, and torch_ops otherwise. `auto`, the default, is `on` on the CPU, where the
fused path was measured faster (benchmarks/attention_speed.py), and the plain formula on CUDA until
the Triton kernels have been timed on a GPU.
"""

from __future__ import annotations

import functools
import importlib.util
from types import ModuleType

import torch

from cbam_bench.attention.fused import cpu, torch_ops
from cbam_bench.attention.map_conv import _operators_watched
from cbam_bench.train_spec import FUSED_MODES

FUSED_POOLING = frozenset({"avg", "max"})
FUSED_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)  # the kernels accumulate in float32


def check_mode(mode: str) -> str:
    """`mode` itself if it is one of FUSED_MODES; ValueError naming the allowed ones otherwise."""
    if mode not in FUSED_MODES:
        raise ValueError(f"fused mode {mode!r} is not allowed; allowed: {', '.join(FUSED_MODES)}")
    return mode


def _config_fits(module: torch.nn.Module) -> bool:
    return (
        module.order == "channel-spatial"
        and set(module.channel.pooling) <= FUSED_POOLING
        and module.spatial.descriptor == "avg+max"
    )


def _input_fits(x: torch.Tensor) -> bool:
    if _operators_watched(x) or x.dim() != 4 or x.dtype not in FUSED_DTYPES:
        return False
    return x.device.type == "cuda" or not torch.is_autocast_enabled("cpu")


def fused_ops(module: torch.nn.Module, x: torch.Tensor) -> ModuleType | None:
    """The module of map-sized passes the forward should use, or None for the plain formula."""
    mode = module.fused
    if mode == "off" or not _config_fits(module) or not _input_fits(x):
        return None
    if x.device.type == "cpu":
        return cpu if cpu.fits(x) else torch_ops
    if x.device.type == "cuda" and mode == "on" and x.dtype in TRITON_DTYPES and _have_triton():
        from cbam_bench.attention.fused import triton_ops

        return triton_ops
    return None


@functools.cache
def _have_triton() -> bool:
    return importlib.util.find_spec("triton") is not None


def set_fused(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    """Every CBAM module in `model` takes `mode`; the model itself is returned."""
    check_mode(mode)
    for sub in model.modules():
        if hasattr(sub, "fused") and hasattr(sub, "order"):
            sub.fused = mode
    return model


def fused_setting(model: torch.nn.Module) -> str | None:
    """The mode the model's CBAM modules take (None without any): recorded beside every measure."""
    modes = {sub.fused for sub in model.modules() if hasattr(sub, "fused") and hasattr(sub, "order")}
    return modes.pop() if len(modes) == 1 else ("mixed" if modes else None)
