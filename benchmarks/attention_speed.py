"""CBAM's gates on the CPU: cbam-bench's implementation against the formula written plainly, one run.

The gates are mostly cheap element-wise work, but on the CPU autograd's backward for three of their
pieces is slow, and oneDNN's set-up dominates the thin spatial convolution at small batches. The
same maths is computed in cheaper form:

- the k x k spatial convolution (2 maps -> 1): its own backward, and the native convolution for a
  batch of a few images (see attention/map_conv.py);
- average pooling: sum / n, where mean's backward divides the whole expanded map;
- max pooling: max(dim), where amax's backward builds a tie mask.

On top of them, CBAM in channel-then-spatial order runs fused (attention/fused/): a few compiled
passes over the map instead of autograd's chain of operators.

"plain" is the same module with those three as `mean`, `amax` and `nn.Conv2d.forward`, and the
fused path off. Each comparison runs
in interleaved rounds (plain, ours, plain, ours, ...) and reports the median of the per-round
ratios, so drift on a shared machine hits both alike:

1. each gate alone (forward + backward) at each stage's shape of the default network;
2. a whole training step (forward, backward, SGD step) of a network with CBAM in every block;
3. that network's inference latency at batch 1 on one thread (the search's default latency
   set-up), beside the same network without attention;
4. the whole CBAM gate at the shapes of `--gate-shapes`, beside its memory floor: a copy of as many
   bytes as the fused passes must move (forward: read F three times, write once; backward: read
   the gradient and F five times in all, write once; ten map-sized transfers, five copies);
5. the training step with CBAM (plain and ours) against the same network without attention,
   with a 95 % interval for each median ratio from six rounds up (the rounds' order statistics).

    python benchmarks/attention_speed.py
    python benchmarks/attention_speed.py --model resnet18 --image-size 64 --in-channels 3 --batch-size 32
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

from cbam_bench.attention import cbam, channel, map_conv, spatial
from cbam_bench.attention.factory import build_attention
from cbam_bench.device import reuse_freed_memory
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.stats import median_interval
from cbam_bench.train import initial_model


def _plain_pool(x: torch.Tensor, kind: str) -> torch.Tensor:
    flat = x.flatten(2)
    return {"avg": flat.mean(dim=2), "max": flat.amax(dim=2)}[kind]


def _plain_describe(gate: spatial.SpatialGate, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)


@contextlib.contextmanager
def plain_gates() -> Iterator[None]:
    """CBAM exactly as autograd would run the formula."""
    with (
        mock.patch.object(channel, "pool_channels", _plain_pool),
        mock.patch.object(spatial.SpatialGate, "describe", _plain_describe),
        mock.patch.object(map_conv.MapConv2d, "forward", nn.Conv2d.forward),
        mock.patch.object(cbam, "fused_ops", lambda module, x: None),
    ):
        yield


def _seconds(work: Callable[[], None], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - start) / repeats


def _plain_seconds(work: Callable[[], None], repeats: int) -> float:
    with plain_gates():  # entered once per round, so patching costs nothing per call
        return _seconds(work, repeats)


def interleaved(work: Callable[[], None], repeats: int, rounds: int) -> tuple[float, float, float]:
    """Median seconds of `work` with plain gates and with ours, and the median per-round ratio plain / ours."""
    _plain_seconds(work, 1), _seconds(work, 1)  # first-call costs, untimed
    times: dict[str, list[float]] = {"plain": [], "ours": []}
    for _ in range(rounds):
        times["plain"].append(_plain_seconds(work, repeats))
        times["ours"].append(_seconds(work, repeats))
    speedup = statistics.median(p / o for p, o in zip(times["plain"], times["ours"]))
    return statistics.median(times["plain"]), statistics.median(times["ours"]), speedup


def gate_step(module: nn.Module, shape: tuple[int, ...]) -> Callable[[], None]:
    x = torch.randn(shape, requires_grad=True)
    grad = torch.randn(shape)

    def step() -> None:
        # In a network dL/dx goes on to the layer before; here it would be added into x.grad, one
        # more pass over the map that is no part of the gate. With .grad cleared it is kept as is.
        x.grad = None
        module(x).backward(grad)

    return step


def training_step(arch: ArchSpec, batch: int) -> Callable[[], None]:
    model = initial_model(arch, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, arch.in_channels, arch.input_size, arch.input_size)
    y = torch.randint(0, arch.num_classes or 10, (batch,))

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def inference(model: nn.Module, shape: tuple[int, ...], threads: int) -> Callable[[], None]:
    """One forward pass under inference_mode on `threads` threads."""
    model = model.eval()
    x = torch.randn(shape)

    def forward() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                model(x)
        finally:
            torch.set_num_threads(before)

    return forward


ISSUE_SHAPES = "64x16x32x32,64x64x16x16,32x256x14x14,8x512x28x28"
FLOOR_COPIES = 5


def taking_turns(
    works: dict[str, tuple[Callable[[], None], bool]], repeats: int, rounds: int
) -> dict[str, list[float]]:
    """Seconds per call of each work (callable, plain?) in every round, the works taking turns."""
    timed = {name: (_plain_seconds if plain else _seconds) for name, (_, plain) in works.items()}
    for name, (work, _) in works.items():
        timed[name](work, 1)  # first-call costs, untimed
    times: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(rounds):
        for name, (work, _) in works.items():
            times[name].append(timed[name](work, repeats))
    return times


def ratio(times: dict[str, list[float]], top: str, bottom: str) -> float:
    """Median of the per-round ratios top / bottom."""
    return statistics.median(a / b for a, b in zip(times[top], times[bottom]))


def floor_copy(shape: tuple[int, ...]) -> Callable[[], None]:
    source, target = torch.randn(FLOOR_COPIES, *shape), torch.empty(FLOOR_COPIES, *shape)

    def copy() -> None:
        target.copy_(source)

    return copy


def timm_cbam_class() -> type[nn.Module] | None:
    """timm's CbamModule, or None without timm (`pip install -e '.[bench]'`)."""
    try:
        from timm.layers.cbam import CbamModule
    except ImportError:
        return None
    return CbamModule


def report_gates_against_floor(spec: AttentionSpec, shapes: list[tuple[int, ...]], repeats: int, rounds: int) -> None:
    print(
        f"CBAM gate, forward + backward, against the formula, timm and the memory floor ({FLOOR_COPIES} copies of F):"
    )
    timm = timm_cbam_class()
    for shape in shapes:
        step = gate_step(build_attention(shape[1], spec), shape)
        works = {"plain": (step, True), "ours": (step, False), "floor": (floor_copy(shape), False)}
        if timm is not None:  # the same configuration: reduction, kernel, ReLU, sigmoid
            module = timm(shape[1], rd_ratio=1 / spec.reduction, spatial_kernel_size=spec.kernel)
            works["timm"] = (gate_step(module, shape), False)
        times = taking_turns(works, repeats, rounds)
        ms = {name: statistics.median(values) * 1e3 for name, values in times.items()}
        against_timm = (
            f"   timm {ms['timm']:8.3f} ms   ours/timm {ratio(times, 'ours', 'timm'):.2f}" if timm is not None else ""
        )
        print(
            f"  {'x'.join(map(str, shape)):14s} plain {ms['plain']:8.3f} ms   ours {ms['ours']:8.3f} ms   "
            f"ours/plain {ratio(times, 'ours', 'plain'):.2f}{against_timm}   floor {ms['floor']:8.4f} ms   "
            f"ours/floor {ratio(times, 'ours', 'floor'):.2f}"
        )
    if timm is None:
        print("  (timm is not installed: pip install -e '.[bench]' to time its CbamModule too)")


def report_step_against_bare(arch: ArchSpec, batch: int, repeats: int, rounds: int) -> None:
    with_cbam = training_step(arch, batch)
    bare = training_step(replace(arch, attention=AttentionSpec(kind="none")), batch)
    times = taking_turns(
        {"none": (bare, False), "plain": (with_cbam, True), "ours": (with_cbam, False)}, repeats, rounds
    )
    ms = {name: statistics.median(values) * 1e3 for name, values in times.items()}
    print(
        f"training step with CBAM / without, {arch.backbone}, input {arch.in_channels}x{arch.input_size}x{arch.input_size}, "
        f"batch {batch}:"
    )
    print(
        f"  without {ms['none']:.1f} ms; with CBAM plain {ms['plain']:.1f} ms ({ratio(times, 'plain', 'none'):.3f}x), "
        f"ours {ms['ours']:.1f} ms ({ratio(times, 'ours', 'none'):.3f}x)"
    )
    plain, ours = (median_interval([a / b for a, b in zip(times[top], times["none"])]) for top in ("plain", "ours"))
    if plain is not None and ours is not None:  # six rounds or more
        print(
            f"  95 % intervals of those medians over {ours.n} rounds: plain {plain.low:.3f}-{plain.high:.3f}, "
            f"ours {ours.low:.3f}-{ours.high:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cifar_resnet20")
    parser.add_argument("--image-size", type=int, default=20, help="default: the default dataset's side")
    parser.add_argument("--in-channels", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--kernel", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=10, help="calls per timed round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--gate-shapes", default=ISSUE_SHAPES, help="NxCxHxW,... for the gate against its floor")
    parser.add_argument(
        "--glibc-memory",
        action="store_true",
        help="leave glibc's allocator as it comes (the trainer keeps freed memory: device.reuse_freed_memory)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kept = False if args.glibc_memory else reuse_freed_memory()

    spec = AttentionSpec(kind="cbam", kernel=args.kernel)
    arch = ArchSpec(
        args.model, num_classes=10, input_size=args.image_size, in_channels=args.in_channels, attention=spec
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, {args.rounds} rounds x "
        f"{args.repeats} calls; times are medians, speed-up = plain / ours (median of per-round ratios); "
        f"freed memory {'kept, as the trainer does' if kept else 'handed back (glibc as it comes)'}"
    )
    print(f"gates alone, forward + backward (CBAM: r {spec.reduction}, k {spec.kernel}):")
    side, width = args.image_size, 16
    while side >= 4:
        shape = (args.batch_size, width, side, side)
        cbam = build_attention(width, spec)
        for name, module in (("channel", cbam.channel), ("spatial", cbam.spatial), ("cbam", cbam)):
            plain, ours, speedup = interleaved(gate_step(module, shape), args.repeats, args.rounds)
            print(
                f"  {name:8s} {width:3d} x {side:2d} x {side:<2d}  plain {plain * 1e3:7.3f} ms   "
                f"ours {ours * 1e3:7.3f} ms   speed-up {speedup:.2f}"
            )
        side, width = side // 2, width * 2
    plain, ours, speedup = interleaved(training_step(arch, args.batch_size), max(2, args.repeats // 2), args.rounds)
    print(f"training step, {arch.backbone} + CBAM, input {arch.in_channels}x{arch.input_size}x{arch.input_size}:")
    print(f"  plain {plain * 1e3:7.1f} ms   ours {ours * 1e3:7.1f} ms   speed-up {speedup:.2f}")

    shape = (1, arch.in_channels, arch.input_size, arch.input_size)
    with_cbam = inference(initial_model(arch, seed=0), shape, threads=1)
    bare = inference(initial_model(replace(arch, attention=AttentionSpec(kind="none")), seed=0), shape, threads=1)

    calls = args.repeats * 20
    latency: dict[str, list[float]] = {"plain": [], "ours": [], "none": []}
    _plain_seconds(with_cbam, 1), _seconds(with_cbam, 1), _seconds(bare, 1)  # first-call costs, untimed
    for _ in range(args.rounds):
        latency["plain"].append(_plain_seconds(with_cbam, calls))
        latency["ours"].append(_seconds(with_cbam, calls))
        latency["none"].append(_seconds(bare, calls))
    overhead = {
        name: statistics.median(t - n for t, n in zip(latency[name], latency["none"])) for name in ("plain", "ours")
    }
    ms = {name: statistics.median(values) * 1e3 for name, values in latency.items()}
    print(
        f"inference latency, batch 1, 1 thread (medians): without attention {ms['none']:.2f} ms; with CBAM "
        f"plain {ms['plain']:.2f} ms, ours {ms['ours']:.2f} ms"
    )
    print(
        f"  CBAM's share of it: plain {overhead['plain'] * 1e3:.2f} ms, ours {overhead['ours'] * 1e3:.2f} ms "
        f"(median of per-round differences)"
    )
    shapes = [tuple(int(v) for v in item.split("x")) for item in args.gate_shapes.split(",")]
    report_gates_against_floor(spec, shapes, args.repeats, args.rounds)
    report_step_against_bare(arch, args.batch_size, max(2, args.repeats // 2), args.rounds)


if __name__ == "__main__":
    main()
