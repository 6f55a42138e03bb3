"""CBAM's cost on a GPU, one run: the fused gate (Triton) against the formula and its memory floor,
and the training step with CBAM against without, under the trainer's own mode.

1. The whole gate, forward + backward, at each of --gate-shapes in --dtype (bf16: the map in
   bfloat16 under autocast, as the trainer's convolutions hand it over; or fp32), NCHW and
   channels_last: the formula (`--fused off`), the fused kernels (`on`) and the floor, a copy of
   as many bytes as the fused passes must move (five copies of F, ten map-sized transfers, as
   attention_speed.py counts them). Each is recorded once as a CUDA graph and replayed, as the
   trainer replays its steps, so the GPU's work is timed rather than the launches; the eager times
   (launches included) are printed beside them, and on a GPU the kernels each way launches.
2. The training step of each of --models, with CBAM (formula, fused) and without, at --batch-size
   on 3x32x32 inputs (--image-size), in the trainer's set-up: bf16 autocast, channels_last, the step replayed
   from a CUDA graph (cuda_path.py's last set-up).

Every comparison takes turns in each round and reports the median of the per-round ratios, so
drift hits all alike. On the CPU the script runs too (float32, no graph, the compiled C passes as
"fused"), which is how the tests keep it working; its figures there are attention_speed.py's job.

    python benchmarks/attention_cuda.py
    python benchmarks/attention_cuda.py --gate-shapes 8x256x56x56,32x512x28x28 --dtype fp32
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from cuda_path import SETUPS, interleaved, training_steps

from cbam_bench.attention.factory import build_attention
from cbam_bench.device import cudnn_autotune, resolve_device
from cbam_bench.measure.env import device_name
from cbam_bench.spec import ArchSpec, AttentionSpec

WAYS = {
    "formula": "the plain formula (--fused off)",
    "recorded": "fused map passes, the small parts as torch operators under autograd (a hook on the gate)",
    "fused": "the whole gate fused (--fused on)",
}
FLOOR_COPIES = 5  # attention_speed.py's count: forward reads F three times and writes once, backward six transfers
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
CBAM = AttentionSpec(kind="cbam")  # the default gate: r 16, k 7, channel then spatial, in every block


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def graphed(work: Callable[[], None], device: torch.device) -> Callable[[], None]:
    """`work` recorded as a CUDA graph (after warm-up calls on a side stream), as its replay."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            work()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        work()
    return graph.replay


def timed(work: Callable[[], None], repeats: int, device: torch.device) -> Callable[[], float]:
    """A function that runs `work` `repeats` times and returns seconds per call."""

    def run() -> float:
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            work()
        _synchronize(device)
        return (time.perf_counter() - start) / repeats

    return run


def gate_pass(
    shape: tuple[int, ...], way: str, dtype: torch.dtype, memory_format: torch.memory_format, device: torch.device
) -> Callable[[], None]:
    """One forward + backward of the CBAM gate on a map of `shape`, the `way` WAYS names."""
    module = build_attention(shape[1], CBAM).to(device)
    module.fused = "off" if way == "formula" else "on"
    if way == "recorded":  # a hook on the norm keeps the whole gate off (explicit.gate_if_applies)
        module.spatial.bn.register_forward_hook(lambda *_: None)
    x = torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=memory_format).requires_grad_()
    g = torch.randn_like(x)
    amp = dtype is not torch.float32

    def work() -> None:
        # dL/dx would go on to the layer before; cleared, it is written once instead of added to
        x.grad = None
        with torch.autocast(device.type, dtype=dtype, enabled=amp, cache_enabled=False):
            out = module(x)
        out.backward(g)

    return work


def kernels_per_call(work: Callable[[], None], device: torch.device) -> int | None:
    """How many kernels one eager call of `work` launches on the GPU (None on the CPU): inside a
    graph each still costs a few microseconds, whatever its size."""
    if device.type != "cuda":
        return None
    work()  # lazy initialisation and autotuning stay out of the count
    torch.cuda.synchronize(device)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
        work()
        torch.cuda.synchronize(device)
    return sum(1 for event in profile.events() if event.device_type == torch.autograd.DeviceType.CUDA)


def floor_copy(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Callable[[], None]:
    source = torch.randn(FLOOR_COPIES, *shape, device=device).to(dtype)
    target = torch.empty_like(source)
    return lambda: target.copy_(source)


def per_round_ratio(values: dict[str, list[float]], top: str, bottom: str) -> float:
    return statistics.median(a / b for a, b in zip(values[top], values[bottom]))


def report_gate(
    shape: tuple[int, ...], dtype: str, layout: str, args: argparse.Namespace, device: torch.device
) -> None:
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    works = {way: gate_pass(shape, way, DTYPES[dtype], memory_format, device) for way in WAYS}
    works["floor"] = floor_copy(shape, DTYPES[dtype], device)
    kernels = {way: kernels_per_call(works[way], device) for way in WAYS}
    runs = {f"eager {name}": timed(work, args.repeats, device) for name, work in works.items()}
    if device.type == "cuda":
        runs |= {name: timed(graphed(work, device), args.repeats, device) for name, work in works.items()}
    else:  # no graphs on the CPU: the eager calls are what is timed
        runs |= {name: runs[f"eager {name}"] for name in works}
    values = interleaved(runs, args.rounds)
    ms = {name: statistics.median(v) * 1e3 for name, v in values.items()}
    times = "  ".join(f"{name} {ms[name]:7.4f} ms" for name in (*WAYS, "floor"))
    eager = "  ".join(f"{way} {ms[f'eager {way}']:7.4f} ms" for way in WAYS)
    print(
        f"  {'x'.join(map(str, shape)):14s} {dtype} {layout:13s} {times}  fused/formula "
        f"{per_round_ratio(values, 'fused', 'formula'):.2f}  fused/floor {per_round_ratio(values, 'fused', 'floor'):.2f}"
        f"   eager: {eager}"
    )
    if kernels["formula"] is not None:
        counts = ", ".join(f"{way} {kernels[way]}" for way in WAYS)
        print(f"  {'':14s} kernels per forward + backward: {counts}")


def report_step(model: str, args: argparse.Namespace, device: torch.device) -> None:
    setup = SETUPS[-1] if device.type == "cuda" else SETUPS[0]  # the trainer's set-up; a graph needs a GPU
    arch = ArchSpec(model, num_classes=10, input_size=args.image_size, attention=CBAM)
    bare = ArchSpec(model, num_classes=10, input_size=args.image_size, attention=AttentionSpec(kind="none"))
    steppers = {
        "none": training_steps(bare, setup, args.batch_size, device),
        "formula": training_steps(arch, setup, args.batch_size, device, fused="off"),
        "fused": training_steps(arch, setup, args.batch_size, device, fused="on"),
    }
    values = interleaved({name: (lambda s=s: s(args.steps)) for name, s in steppers.items()}, args.rounds)
    speed = {name: statistics.median(v) for name, v in values.items()}
    print(
        f"  {model:16s} ({setup.name}) without {speed['none']:8.0f} images/s; with CBAM: formula "
        f"{speed['formula']:8.0f} ({per_round_ratio(values, 'none', 'formula'):.2f}x the step), fused "
        f"{speed['fused']:8.0f} ({per_round_ratio(values, 'none', 'fused'):.2f}x the step)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gate-shapes", default="8x256x56x56", help="NxCxHxW,... for the gate against its floor")
    parser.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    parser.add_argument("--models", default="resnet18,cifar_resnet20", help="comma-separated backbones")
    parser.add_argument("--batch-size", type=int, default=128, help="training batch")
    parser.add_argument("--image-size", type=int, default=32, help="training input side (3 channels)")
    parser.add_argument("--steps", type=int, default=30, help="training steps per round")
    parser.add_argument("--repeats", type=int, default=50, help="gate calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(
        f"device {device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}, {args.rounds} rounds; "
        "ratios are medians of per-round ratios"
    )
    shapes = [tuple(int(v) for v in item.split("x")) for item in args.gate_shapes.split(",")]
    graph = " (replayed from a CUDA graph)" if device.type == "cuda" else ""
    print(f"CBAM gate ({CBAM.summary()}), forward + backward{graph}:")
    for way, meaning in WAYS.items():
        print(f"  {way}: {meaning}")
    with cudnn_autotune(device):
        for shape in shapes:
            for layout in ("nchw", "channels_last"):
                report_gate(shape, args.dtype, layout, args, device)
        side, batch = args.image_size, args.batch_size
        print(f"training step with CBAM ({CBAM.summary()}, every block) / without, 3x{side}x{side}, batch {batch}:")
        for model in args.models.split(","):
            report_step(model, args, device)


if __name__ == "__main__":
    main()
