"""The compiled CPU passes when their scratch cannot be allocated: each entry point that allocates
returns a status, and cpu.call raises MemoryError naming it, where a NULL pointer used to kill the
process (a training run gone with no message).

The failures are real ones. This file, run as a script in a process of its own, warms every pass
up with small maps (so OpenMP's threads and glibc's arenas exist), then caps its address space
(RLIMIT_AS) a little above its current size and calls each pass on maps made before the cap,
whose scratch needs more than is left. glibc serves such requests by mmap, which the cap refuses.
Every scratch forced to fail is over 100 MB: a thread's arena may still carve up to 64 MB from
address space it already holds, which the cap does not see. The pytest side reads what the
script printed: each pass raised, gave back what it did get (the process's size is back where it
was), left the norm's running statistics alone, and the passes still compute right afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F

from cbam_bench.attention.factory import build_attention
from cbam_bench.attention.fused import cpu, explicit, gate_cpu
from cbam_bench.spec import AttentionSpec

resource = pytest.importorskip("resource", reason="caps the address space with setrlimit (Unix)")
ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the process's size from /proc"),
    pytest.mark.skipif(cpu.library() is None, reason="no C compiler to build the compiled passes"),
]

MIB = 1 << 20
HEADROOM = 24 * MIB  # what Python may need under the cap (an exception, a line of output)
MESSAGE = "{}: the compiled CBAM pass could not allocate its scratch memory"
K = 7
# Each case: the entry point its MemoryError must name. "short" cases leave room for part of the
# scratch, so what was allocated before the failure must be freed (one thread's, one buffer, or
# the whole backward's while a pass inside it fails).
CASES = {
    "map_conv": "map_conv",
    "map_conv_grad_input": "map_conv_grad_input",
    "map_conv_grad_weight": "map_conv_grad_weight",
    "map_conv_grad_weight, one thread short": "map_conv_grad_weight",
    "cbam_spatial_forward": "cbam_spatial_forward",
    "cbam_spatial_backward": "cbam_spatial_backward",
    "cbam_pool_mlp_describe": "cbam_pool_mlp_describe",
    "cbam_mlp_backward": "cbam_mlp_backward",
    "cbam_mlp_backward, one buffer short": "cbam_mlp_backward",
    "cbam_gate_forward": "cbam_gate_forward",
    "cbam_gate_backward": "cbam_gate_backward",
    "cbam_gate_backward, inside the spatial backward": "cbam_gate_backward",
}


class Case(NamedTuple):
    run: Callable[[], object]
    headroom: int  # bytes allowed above the process's size while it runs
    problem: Callable[[], str | None] = lambda: None  # what it left wrong besides raising, if anything


def _vm_size() -> int:
    """The process's address space in bytes, as RLIMIT_AS counts it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _padded_bytes(maps: int, side: int) -> int:
    """map_conv_cpu.c's zero-padded copy of `maps` side x side maps."""
    return 4 * maps * (side + K - 1) * ((side + 7) // 8 * 8 + K - 1)


def _moved(stats: tuple[torch.Tensor, ...]) -> Callable[[], str | None]:
    """A Case.problem: whether a norm's running statistics moved since now (a failed call must not)."""
    before = [s.clone() for s in stats]

    def problem() -> str | None:
        same = all(torch.equal(s, b) for s, b in zip(stats, before))
        return None if same else f"running statistics moved: {[s.tolist() for s in stats]}"

    return problem


def _calling(name: str, *args: object) -> Callable[[], None]:
    return lambda: cpu.call(name, *args)


def _conv_cases(side: int, new: Callable[..., torch.Tensor]) -> dict[str, Case]:
    """map_conv and the spatial gate's two calls on one image of two side x side maps, and the
    weight's gradient on two images for the case of one thread short."""
    w, dw, dims = torch.rand(1, 2, K, K), torch.empty(1, 2, K, K), (1, 2, side, side, K)
    x, dx, one_map = new(1, 2, side, side), new(1, 2, side, side), new(1, 1, side, side)
    z, ms, d_ms, dz = (new(1, 1, side, side) for _ in range(4))
    small = side * 4 // 5
    two_x, two_g, two_dims = new(2, 2, small, small), new(2, 1, small, small), (2, 2, small, small, K)
    norm, d_norm, used = (torch.ones(1), torch.zeros(1)), (torch.empty(1), torch.empty(1)), torch.zeros(3).double()
    stats = (torch.full((1,), 0.3), torch.full((1,), 2.0), torch.tensor(5))
    stats_moved = _moved(stats)
    kept, batch = gate_cpu.BATCH_STATS_KEPT, gate_cpu.BATCH_STATS
    forward = (x, 1, side, side, K, w, kept, *norm, *stats, 0.1, 1e-5, z, ms, used)
    backward = (d_ms, ms, z, x, 1, side, side, K, w, batch, used, dz, *d_norm, dx, dw)
    return {
        "map_conv": Case(_calling("map_conv", x, w, *dims, one_map), HEADROOM),
        "map_conv_grad_input": Case(_calling("map_conv_grad_input", one_map, w, *dims, dx), HEADROOM),
        "map_conv_grad_weight": Case(_calling("map_conv_grad_weight", x, one_map, *dims, dw), HEADROOM),
        "map_conv_grad_weight, one thread short": Case(
            _calling("map_conv_grad_weight", two_x, two_g, *two_dims, dw),
            _padded_bytes(2, small) * 3 // 2,  # room for one of the two threads' copies
        ),
        "cbam_spatial_forward": Case(_calling("cbam_spatial_forward", *forward), HEADROOM, stats_moved),
        "cbam_spatial_backward": Case(_calling("cbam_spatial_backward", *backward), HEADROOM),
    }


def _mlp_cases(images: int, wide: int, new: Callable[..., torch.Tensor]) -> dict[str, Case]:
    """The channel MLP's two entry points, `wide` hidden units over `images` images of one channel
    and one position (so the forward batches its MLP: 2 Hd > HW)."""
    n, c, pools = images, 1, 2
    x, avg, mx, mc, d_mc = (torch.rand(n, c) for _ in range(5))
    desc, where_hw, where_c = torch.empty(n, 2), torch.zeros(n, c).long(), torch.zeros(n, 1).int()
    w1, b1, w2, b2 = torch.rand(wide, c), torch.rand(wide), torch.rand(c, wide), torch.rand(c)
    hidden, d_pools = new(pools * n, wide), (torch.empty(n, c), torch.empty(n, c))
    d_weights = (torch.empty(wide, c), torch.empty(wide), torch.empty(c, wide), torch.empty(c))
    forward = (x, n, c, 1, pools, 0, wide, w1, b1, w2, b2, avg, mx, where_hw, hidden, mc, desc, where_c)
    backward = _calling("cbam_mlp_backward", avg, mx, pools, n, c, wide, w1, w2, hidden, mc, d_mc, *d_pools, *d_weights)
    return {
        "cbam_pool_mlp_describe": Case(_calling("cbam_pool_mlp_describe", *forward), HEADROOM),
        "cbam_mlp_backward": Case(backward, HEADROOM),
        # d_hidden (4 P N Hd bytes) fits, the next buffer (4 N Hd) does not
        "cbam_mlp_backward, one buffer short": Case(backward, 4 * pools * n * wide + 2 * n * wide),
    }


def _gate_cases(side: int, new: Callable[..., torch.Tensor]) -> dict[str, Case]:
    """The whole gate's two calls, as explicit.py makes them, on one image of two side x side
    maps: a default CBAM in training, whose norm moves its running statistics."""
    module = build_attention(2, AttentionSpec(kind="cbam"))
    x = new(1, 2, side, side)
    gate, params = explicit.gate_if_applies(module, x)
    w1, b1, w2, b2, conv_w, norm_w, norm_b = params
    state = new(cpu.library().cbam_gate_state_floats(1, 2, side * side, 2, gate.hidden))  # the warm-up fills it
    out, bn = torch.empty_like(x), gate.norm
    stats = (bn.running_mean, bn.running_var, bn.num_batches_tracked)
    stats_moved = _moved(stats)
    shape = (1, 2, side, side, 2, 0, gate.hidden)
    forward = (x, *shape, w1, b1, w2, b2, K, conv_w, None, gate.mode, norm_w, norm_b, *stats, bn.momentum, bn.eps)
    scratch = 4 * (4 * side * side + 4 * 2)  # gate_cpu.c's scratch_maps, rounding to whole lines aside
    return {
        "cbam_gate_forward": Case(_calling("cbam_gate_forward", *forward, state, out), HEADROOM, stats_moved),
        "cbam_gate_backward": Case(lambda: gate_cpu.backward(out, x, (state,), gate, params, False), HEADROOM),
        "cbam_gate_backward, inside the spatial backward": Case(
            lambda: gate_cpu.backward(out, x, (state,), gate, params, False),
            scratch + _padded_bytes(1, side) // 2,  # its scratch fits, the convolution's padded copy does not
        ),
    }


def _cases(side: int, images: int, wide: int, new: Callable[..., torch.Tensor]) -> dict[str, Case]:
    """Every case, its tensors made here (`new`: torch.rand for the warm-up, torch.empty for the
    big ones, whose pages the failing calls mostly never touch)."""
    return {**_conv_cases(side, new), **_mlp_cases(images, wide, new), **_gate_cases(side, new)}


@contextlib.contextmanager
def _capped(headroom: int) -> Iterator[None]:
    """The address space capped at `headroom` bytes above its current size, for the block."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + headroom, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _under_cap(case: Case) -> dict[str, object]:
    """Run one case under its cap: the MemoryError's message, and how much larger the process is after."""
    error, size = None, _vm_size()
    with _capped(case.headroom):
        try:
            case.run()
        except MemoryError as raised:
            error = str(raised)
        leaked = _vm_size() - size
    return {"error": error, "leaked": leaked, "problem": case.problem()}


def _against_torch() -> Callable[[], float]:
    """map_conv and its two gradients on small maps, torch's convolution computed now (uncapped:
    oneDNN may start threads): the call returned runs ours and gives the largest difference."""
    x, w = torch.randn(2, 2, 13, 11, requires_grad=True), torch.randn(1, 2, K, K, requires_grad=True)
    ref = F.conv2d(x, w, padding=K // 2)
    g = torch.randn_like(ref)
    ref.backward(g)
    want = (ref.detach(), x.grad, w.grad)

    def difference() -> float:
        dx, dw = cpu.map_conv_grads(x.detach(), w.detach(), g)
        ours = (cpu.map_conv(x.detach(), w.detach()), dx, dw)
        return max((a - b).abs().max().item() for a, b in zip(ours, want))

    return difference


def main() -> None:
    """The child: warm up, then every case under its cap, one JSON line each on stdout."""
    torch.set_num_threads(2)  # two threads even on one core: each region's scratch fails per thread
    assert cpu.library() is not None
    for case in _cases(12, 3, 8, torch.rand).values():
        case.run()
    cases = _cases(5120, 256, 131072, torch.empty)
    assert set(cases) == set(CASES)
    for label, case in cases.items():
        print(f"calling {label}", file=sys.stderr, flush=True)  # where a crash happened
        print(json.dumps({"case": label, **_under_cap(case)}), flush=True)
    check = _against_torch()
    with _capped(HEADROOM):  # scratch that fits: the passes work as ever
        under_cap = check()
    print(json.dumps({"case": "after", "under the cap": under_cap, "uncapped": check()}), flush=True)


@pytest.fixture(scope="module")
def child() -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    """This file run as the child, and its JSON lines by case."""
    done = subprocess.run(
        [sys.executable, __file__],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done, {line["case"]: line for line in lines}


def test_the_child_ran_every_case_without_crashing(child) -> None:
    done, results = child
    assert done.returncode == 0, f"exit {done.returncode} (-11: a segfault); stderr:\n{done.stderr[-3000:]}"
    assert set(results) == {*CASES, "after"}


@pytest.mark.parametrize("label", list(CASES))
def test_a_pass_short_of_memory_raises_and_frees_what_it_took(child, label) -> None:
    result = child[1].get(label)
    assert result is not None, f"the child never finished {label!r}:\n{child[0].stderr[-3000:]}"
    assert result["error"] == MESSAGE.format(CASES[label])
    assert result["leaked"] < 8 * MIB, f"{result['leaked'] / MIB:.0f} MiB not given back"
    assert result["problem"] is None, result["problem"]


def test_the_passes_still_compute_right_under_the_cap_and_after_it(child) -> None:
    result = child[1].get("after")
    assert result is not None, child[0].stderr[-3000:]
    assert result["under the cap"] < 1e-4
    assert result["uncapped"] < 1e-4


if __name__ == "__main__":
    main()
