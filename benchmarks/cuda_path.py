"""What the trainer's GPU set-up buys: CUDA graphs, bf16 autocast and channels_last against fp32.

On a GPU the trainer runs in bfloat16 autocast with channels_last tensors and cuDNN autotuning,
each step replayed from a CUDA graph (cbam_bench/train_step.py), and latency is timed with CUDA
events. This measures, for each network, a training step (forward, backward, fused SGD step) in
four set-ups and inference at batch 1 and at a large batch in the first three:

  fp32                  float32, NCHW (what a plain PyTorch loop does)
  bf16                  bfloat16 autocast, NCHW
  bf16 + NHWC           bfloat16 autocast, channels_last
  bf16 + NHWC + graph   the same, each step replayed from a CUDA graph (the trainer's set-up)

Inputs are random CIFAR-shaped tensors already on the device, so only the network's compute is
timed. The set-ups take turns in every round (fp32, bf16, bf16 + NHWC, fp32, ...) and speed-ups
are medians of per-round ratios, so drift hits all alike. Inference runs a copy of the network cast
to bfloat16 (as `measure_latency` does), timed with CUDA events on a GPU.

    python benchmarks/cuda_path.py --device cuda
    python benchmarks/cuda_path.py --device cuda --models resnet18 --attention cbam --batch-size 256
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from cbam_bench.attention.fused.dispatch import set_fused
from cbam_bench.device import cudnn_autotune, resolve_device
from cbam_bench.measure.env import device_name
from cbam_bench.measure.latency import measure_latency
from cbam_bench.schedule import param_groups
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.train import initial_model
from cbam_bench.train_step import GraphedStep, graph_ready_optimizer, plain_step


@dataclass(frozen=True)
class Setup:
    name: str
    amp: torch.dtype | None
    memory_format: torch.memory_format
    graph: bool = False


SETUPS = (
    Setup("fp32", None, torch.contiguous_format),
    Setup("bf16", torch.bfloat16, torch.contiguous_format),
    Setup("bf16 + NHWC", torch.bfloat16, torch.channels_last),
    Setup("bf16 + NHWC + graph", torch.bfloat16, torch.channels_last, graph=True),
)
INFERENCE_SETUPS = SETUPS[:3]  # inference is timed as measure_latency runs it, without a graph


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_steps(
    arch: ArchSpec, setup: Setup, batch: int, device: torch.device, fused: str = "auto"
) -> Callable[[int], float]:
    """A function that runs n training steps and returns images/s; `fused` as `train --fused` takes it."""
    model = set_fused(initial_model(arch, seed=0), fused)
    model = model.to(device=device, memory_format=setup.memory_format).train()
    groups = param_groups(model, 5e-4)
    if device.type == "cuda":
        optimizer = graph_ready_optimizer(groups, 0.01, 0.9, True, device)
    else:
        optimizer = torch.optim.SGD(groups, lr=0.01, momentum=0.9, nesterov=True)
    step = (
        GraphedStep(model, optimizer, setup.amp, 0.0) if setup.graph else plain_step(model, optimizer, setup.amp, 0.0)
    )
    x = torch.randn(batch, arch.in_channels, arch.input_size, arch.input_size, device=device)
    x = x.contiguous(memory_format=setup.memory_format)
    y = torch.randint(0, arch.num_classes, (batch,), device=device)

    def run(steps: int) -> float:
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            step(x, y)
        _synchronize(device)
        return steps * batch / (time.perf_counter() - start)

    return run


def interleaved(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each run once untimed, then `rounds` rounds of every run in turn; the values per run."""
    for run in runs.values():
        run()
    values: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            values[name].append(run())
    return values


def speedups(values: dict[str, list[float]], higher_is_faster: bool) -> dict[str, float]:
    """Median per-round speed-up of every set-up measured over fp32."""
    base = values[SETUPS[0].name]
    return {
        name: statistics.median((v / b) if higher_is_faster else (b / v) for v, b in zip(vals, base))
        for name, vals in values.items()
    }


def inference_ms(arch: ArchSpec, setup: Setup, batch: int, device: torch.device, repeats: int) -> Callable[[], float]:
    """A function that measures the median forward latency (ms) of the network cast to the set-up's dtype."""
    model = initial_model(arch, seed=0)
    shape = (batch, arch.in_channels, arch.input_size, arch.input_size)
    dtype = setup.amp or torch.float32
    channels_last = setup.memory_format is torch.channels_last
    return lambda: (
        measure_latency(
            model, shape, device=device, dtype=dtype, channels_last=channels_last, warmup=5, repeats=repeats
        ).median_ms
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="cifar_resnet20,resnet18", help="comma-separated backbones")
    parser.add_argument("--attention", default="none,cbam", help="comma-separated attention kinds")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128, help="training batch")
    parser.add_argument("--inference-batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30, help="training steps per round")
    parser.add_argument("--repeats", type=int, default=50, help="timed forward passes per latency measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)

    print(
        f"device {device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}, input 3x{args.image_size}x"
        f"{args.image_size}, {args.rounds} rounds; speed-up = over fp32, median of per-round ratios"
    )
    setups = SETUPS if device.type == "cuda" else INFERENCE_SETUPS  # CUDA graphs need a GPU
    header = "".join(f"{s.name:>22s}" for s in setups)
    with cudnn_autotune(device):
        for model in args.models.split(","):
            for kind in args.attention.split(","):
                arch = ArchSpec(
                    model, num_classes=args.classes, input_size=args.image_size, attention=AttentionSpec(kind=kind)
                )
                print(f"{model} + {arch.attention.summary()}:{header}")
                train = interleaved(
                    {
                        s.name: (lambda run=training_steps(arch, s, args.batch_size, device): run(args.steps))  # noqa: B008 - binds each set-up's runner
                        for s in setups
                    },
                    args.rounds,
                )
                rows = [(f"train, batch {args.batch_size} (images/s)", train, True)]
                for batch in (1, args.inference_batch):
                    latency = interleaved(
                        {s.name: inference_ms(arch, s, batch, device, args.repeats) for s in INFERENCE_SETUPS},
                        args.rounds,
                    )
                    rows.append((f"inference, batch {batch} (ms)", latency, False))
                for label, values, higher_is_faster in rows:
                    gain = speedups(values, higher_is_faster)
                    cells = "".join(
                        f"{statistics.median(values[s.name]):>13.{0 if higher_is_faster else 3}f} ({gain[s.name]:4.2f}x)"
                        if s.name in values
                        else f"{'-':>22s}"
                        for s in setups
                    )
                    print(f"  {label:32s}{cells}")


if __name__ == "__main__":
    main()
