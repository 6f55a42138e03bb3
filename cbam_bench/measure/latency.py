"""Latency as the field measures it: warm up, repeat, report the median with its spread.

On a GPU each repetition is timed with CUDA events; on the CPU with perf_counter. Everything runs
under inference_mode on a copy of the model (the caller's keeps its device, dtype and mode), the
garbage collector is paused while timing so its pauses do not land in the tail, and the
conditions (device, dtype, memory format, batch, threads, torch, CBAM's fused mode) travel with the number, since a
latency without them cannot be compared.
"""

from __future__ import annotations

import copy
import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

from cbam_bench import collector
from cbam_bench.attention.fused.dispatch import fused_setting
from cbam_bench.measure.env import device_name
from cbam_bench.stats import MedianInterval, median_interval


@dataclass(frozen=True)
class Latency:
    """Per-batch forward latency in milliseconds, and the conditions it was measured under."""

    median_ms: float
    p90_ms: float
    iqr_ms: float
    min_ms: float
    repeats: int
    warmup: int
    batch: int
    input_size: int
    device: str
    dtype: str
    memory_format: str
    threads: int
    torch_version: str
    fused: str | None = None  # the CBAM modules' fused mode (attention/fused/dispatch.py); None without CBAM

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """A function that runs a callable once and returns its duration in ms."""
    if device.type == "cuda":

        def time_cuda(fn: Callable[[], object]) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)

        return time_cuda

    def time_host(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    return time_host


def _prepare(
    model: nn.Module, input_shape: tuple[int, ...], device: torch.device, dtype: torch.dtype, channels_last: bool
) -> tuple[nn.Module, torch.Tensor]:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = copy.deepcopy(model).to(device=device, dtype=dtype, memory_format=fmt).eval()
    x = torch.randn(input_shape, device=device, dtype=dtype).contiguous(memory_format=fmt)
    return model, x


def _summarise(samples: list[float], **conditions: object) -> Latency:
    s = sorted(samples)
    return Latency(
        median_ms=statistics.median(s),
        p90_ms=quantile(s, 0.9),
        iqr_ms=quantile(s, 0.75) - quantile(s, 0.25),
        min_ms=s[0],
        repeats=len(s),
        **conditions,  # type: ignore[arg-type]
    )


def _conditions(
    input_shape: tuple[int, ...], device: torch.device, dtype: torch.dtype, channels_last: bool, warmup: int
) -> dict:
    return {
        "warmup": warmup,
        "batch": input_shape[0],
        "input_size": input_shape[-1],
        "device": device_name(device),
        "dtype": str(dtype).removeprefix("torch."),
        "memory_format": "channels_last" if channels_last else "contiguous",
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }


def _interleaved_samples(
    models: list[nn.Module], x: torch.Tensor, device: torch.device, warmup: int, repeats: int
) -> list[list[float]]:
    """Per-model forward times in ms, the models taking turns in every round (A B A B ...)."""
    timer = _timer(device)
    samples: list[list[float]] = [[] for _ in models]
    with torch.inference_mode(), collector.paused():
        for _ in range(warmup):
            for model in models:
                model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        for _ in range(repeats):
            for model, times in zip(models, samples):
                times.append(timer(functools.partial(model, x)))
    return samples


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
    warmup: int = 10,
    repeats: int = 50,
) -> Latency:
    """Median / p90 / IQR of `repeats` forward passes after `warmup` untimed ones."""
    device = torch.device(device)
    model, x = _prepare(model, input_shape, device, dtype, channels_last)
    (samples,) = _interleaved_samples([model], x, device, warmup, repeats)
    return _summarise(
        samples, **_conditions(input_shape, device, dtype, channels_last, warmup), fused=fused_setting(model)
    )


class PairedLatency(NamedTuple):
    """Two models timed alternately: each one's latency, and B's time over A's."""

    a: Latency
    b: Latency
    ratio: MedianInterval | None  # median of the per-round ratios B / A with its 95 % interval; None under 6 rounds


def compare_latency(
    model_a: nn.Module,
    model_b: nn.Module,
    input_shape: tuple[int, ...],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
    warmup: int = 10,
    repeats: int = 50,
) -> PairedLatency:
    """Latency of two models timed alternately (A B A B ...), so machine drift hits both alike, and
    the ratio B / A from the rounds' pairs: a pair is timed within a few milliseconds, so the ratio
    of each pair is what drift spares, and their spread gives the ratio an interval."""
    device = torch.device(device)
    model_a, x = _prepare(model_a, input_shape, device, dtype, channels_last)
    model_b, _ = _prepare(model_b, input_shape, device, dtype, channels_last)
    a_samples, b_samples = _interleaved_samples([model_a, model_b], x, device, warmup, repeats)
    cond = _conditions(input_shape, device, dtype, channels_last, warmup)
    return PairedLatency(
        _summarise(a_samples, **cond, fused=fused_setting(model_a)),
        _summarise(b_samples, **cond, fused=fused_setting(model_b)),
        median_interval([b / a for a, b in zip(a_samples, b_samples)]),
    )
