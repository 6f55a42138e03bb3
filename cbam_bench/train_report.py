"""train_and_measure(arch, spec): one network trained, counted and timed, as one typed report.

`cbam-bench train` is this plus option parsing and rendering; a script gets the same numbers by
calling it. Counting goes through measure.profile, the path `profile` and the search count with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cbam_bench.measure.counting import Cost
from cbam_bench.measure.latency import Latency
from cbam_bench.spec import ArchSpec
from cbam_bench.train import EpochReport, TrainResult
from cbam_bench.train_spec import TrainSpec

CONVENTIONS = {
    "accuracy": "top-1 on the validation split, a fraction; test_accuracy on the test split, never used for selection",
    "macs": "paper convention: multiply-adds of convolutions and linear layers, one image, eval mode",
    "latency_ms": "median forward time of one image on the training device, inference mode",
    "images_per_s": "training images per second: median over epochs, evaluation excluded",
    "peak_memory_bytes": "growth during training: CUDA max allocated, or the CPU's peak resident set",
}


@dataclass(frozen=True)
class TrainReport:
    """What one training run measured: the result, the network's cost, its latency and where it ran."""

    arch: ArchSpec  # fitted to the dataset
    spec: TrainSpec
    result: TrainResult
    cost: Cost
    latency: Latency
    env: dict[str, Any]

    def to_json(self, *, saved: str | None = None, from_trial: dict[str, Any] | None = None) -> dict[str, Any]:
        """The document `train --json` prints."""
        result, cost, latency = self.result, self.cost, self.latency
        return {
            "model": self.arch.backbone,
            "archid": self.arch.archid,
            "summary": self.arch.attention.summary(),
            "arch": self.arch.to_dict(),
            "dataset": self.spec.dataset,
            "accuracy": result.accuracy,
            "top5": result.top5,
            "test_accuracy": result.test_accuracy,
            "test_top5": result.test_top5,
            "loss": result.loss,
            "params": cost.params,
            "macs": cost.macs,
            "elementwise_ops": cost.elementwise_ops,
            "latency_ms": latency.median_ms,
            "latency_p90_ms": latency.p90_ms,
            "latency": latency.to_dict(),
            "images_per_s": result.images_per_s,
            "train_s": sum(result.epoch_seconds),
            "wall_s": result.wall_s,
            "peak_memory_bytes": result.peak_memory_bytes,
            "history": result.to_dict()["history"],
            "epoch_seconds": result.epoch_seconds,
            "run": result.extras,
            "train": self.spec.to_dict(),
            "env": self.env,
            "saved": saved,
            "from_trial": from_trial,
            "conventions": CONVENTIONS,
        }


def train_and_measure(
    arch: ArchSpec,
    spec: TrainSpec,
    *,
    weights: str | Path | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> tuple[nn.Module, TrainReport]:
    """Train `arch` (fitted to `spec`'s dataset) and measure it: the trained network and its report.

    Latency is the trained network's, on the training device in the precision it trained in
    (channels_last on a GPU), one image at a time.
    """
    from cbam_bench.device import autocast_dtype, resolve_device
    from cbam_bench.measure.env import environment
    from cbam_bench.measure.latency import measure_latency
    from cbam_bench.measure.profile import profile
    from cbam_bench.train import train_model

    device = resolve_device(spec.device)
    net, result = train_model(arch, spec, on_epoch=on_epoch, weights=weights)
    fitted = result.arch
    cost = profile(fitted).total
    amp = autocast_dtype(spec.precision, device)
    shape = (1, fitted.in_channels, fitted.input_size, fitted.input_size)
    latency = measure_latency(
        net, shape, device=device, dtype=amp or torch.float32, channels_last=device.type == "cuda"
    )
    return net, TrainReport(arch=fitted, spec=spec, result=result, cost=cost, latency=latency, env=environment(device))
