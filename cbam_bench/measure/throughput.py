"""Inference throughput at a batch: images per second from the median latency of that batch."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from cbam_bench.measure.latency import Latency, measure_latency


@dataclass(frozen=True)
class Throughput:
    """Images per second at `latency.batch`, with the latency (and its conditions) it comes from."""

    images_per_s: float
    latency: Latency

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def measure_throughput(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
    warmup: int = 5,
    repeats: int = 20,
) -> Throughput:
    """Forward passes of a batch of input_shape[0] images, timed as measure_latency does."""
    latency = measure_latency(
        model, input_shape, device=device, dtype=dtype, channels_last=channels_last, warmup=warmup, repeats=repeats
    )
    return Throughput(images_per_s=input_shape[0] * 1e3 / latency.median_ms, latency=latency)
