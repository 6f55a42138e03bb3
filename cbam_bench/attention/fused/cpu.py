"""Fused CBAM's passes compiled for the CPU: cbam_cpu.c, map_conv_cpu.c, mlp_cpu.c, norm_cpu.c and
gate_cpu.c, built once with the system's C compiler.

The torch-operator passes (torch_ops.py) still launch a dozen operators, each a pass over the map;
the compiled passes read the map the minimum number of times, vectorised and spread over torch's
thread count. The library is built at first use into the user's cache folder (named after the
source's hash, so an edit rebuilds it, and a build removes the older ones) and loaded with
ctypes: plain C, no torch headers, so the build takes about a second. Without a compiler, or if
the build fails, `library()` is None and the fused path runs on torch_ops instead. Float32 NCHW
maps only; others go to torch_ops too.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).parent
SOURCES = tuple(
    HERE / f"{name}.c" for name in ("cbam_cpu", "map_conv_cpu", "mlp_cpu", "norm_cpu", "gate_cpu")
)  # one library
HEADERS = (HERE / "vectors.h", HERE / "passes.h")
_P, _I, _T, _D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_double
SIGNATURES = {
    "cbam_pool": [_P, _I, _I, _I, _P, _P, _P, _T],
    "cbam_describe": [_P, _P, _I, _I, _I, _P, _P, _T],
    "cbam_gate": [_P, _P, _P, _I, _I, _I, _P, _T],
    "cbam_grad_ms": [_P, _P, _P, _P, _I, _I, _I, _P, _P, _T],
    "cbam_grad_mc": [_P, _P, _P, _P, _I, _I, _I, _P, _T],
    "cbam_grad_input": [_P, _P, _P, _P, _P, _P, _P, _P, _I, _I, _I, _P, _T],
    "map_conv": [_P, _P, _I, _I, _I, _I, _I, _P, _T],
    "map_conv_grad_input": [_P, _P, _I, _I, _I, _I, _I, _P, _T],
    "map_conv_grad_weight": [_P, _P, _I, _I, _I, _I, _I, _P, _T],
    "cbam_spatial_forward": [_P, _I, _I, _I, _I, _P, _T, _P, _P, _P, _P, _P, _D, _D, _P, _P, _P, _T],
    "cbam_spatial_backward": [_P, _P, _P, _P, _I, _I, _I, _I, _P, _T, _P, _P, _P, _P, _P, _P, _T],
    "cbam_pool_mlp_describe": [_P, _I, _I, _I, _I, _T, _I, *[_P] * 11, _T],
    "cbam_mlp_backward": [_P, _P, _I, _I, _I, _I, *[_P] * 11, _T],
    "cbam_gate_state_floats": [_I, _I, _I, _I, _I],
    "cbam_gate_forward": [_P, _I, _I, _I, _I, _I, _T, _I, _P, _P, _P, _P, _I, _P, _P, _T, _P, _P, _P, _P, _P, _D, _D]
    + [_P, _P, _T],
    "cbam_gate_backward": [_P, _P, _P, _I, _I, _I, _I, _I, _T, _I, _P, _P, _I, _P, _T, *[_P] * 8, _T],
}
# The passes that allocate scratch return a status (passes.h): 0, or CBAM_NO_MEMORY. The others,
# cbam_gate_state_floats aside, return nothing and get restype None, so that call() reads None
# rather than whatever the return register held.
STATUS_RESULTS = (
    "map_conv",
    "map_conv_grad_input",
    "map_conv_grad_weight",
    "cbam_spatial_forward",
    "cbam_spatial_backward",
    "cbam_pool_mlp_describe",
    "cbam_mlp_backward",
    "cbam_gate_forward",
    "cbam_gate_backward",
)
RESULTS = {"cbam_gate_state_floats": _I, **dict.fromkeys(STATUS_RESULTS, _T)}


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cbam_bench"


def _processor() -> bytes:
    """What identifies this processor's instruction set: a library built with -march=native for one
    CPU may not run on another, and a home folder (its cache) can be shared by several machines."""
    import platform

    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    wanted = [line for line in lines if line.startswith(("model name", "flags", "Features", "CPU part"))]
    return "\n".join([platform.machine(), *dict.fromkeys(wanted)]).encode()


def _build(target: Path) -> bool:
    """Compile SOURCES into `target`, with OpenMP if the compiler has it; False if it cannot."""
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / target.name
        for openmp in (["-fopenmp"], []):
            sources = [str(source) for source in SOURCES]
            cmd = [compiler, "-O3", "-march=native", *openmp, "-shared", "-fPIC", *sources, "-lm", "-o", str(built)]
            if subprocess.run(cmd, capture_output=True).returncode == 0:
                built.replace(target)  # atomic: a concurrent build never loads half a file
                return True
    return False


def _prune(kept: Path) -> None:
    """Remove the builds of other sources or processors, so upgrades do not pile up in the cache.

    A process of another version that still wants its build finds it gone and builds it again
    (about a second); one that has loaded it keeps its mapping."""
    for stale in kept.parent.glob("cbam_cpu-*.so"):
        if stale != kept:
            stale.unlink(missing_ok=True)


def _load(target: Path) -> ctypes.CDLL | None:
    """Build `target` if it is missing, then load it; None if it cannot be built or loaded."""
    if not target.exists():
        if not _build(target):
            return None
        _prune(target)
    return ctypes.CDLL(str(target))


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled passes, built on first use; None where no compiler can build them."""
    code = b"".join(path.read_bytes() for path in (*SOURCES, *HEADERS))
    digest = hashlib.sha256(code + _processor()).hexdigest()[:16]
    target = _cache_dir() / f"cbam_cpu-{digest}.so"
    lib = None
    for _ in range(2):  # a second try: another version's prune may remove it between check and load
        try:
            lib = _load(target)
            break
        except OSError:
            continue
    if lib is None:
        return None
    for name, args in SIGNATURES.items():
        getattr(lib, name).argtypes = args
    for name in SIGNATURES:
        getattr(lib, name).restype = RESULTS.get(name)
    return lib


def fits(x: torch.Tensor) -> bool:
    """Whether the compiled passes take this map."""
    return x.dtype == torch.float32 and x.is_contiguous() and library() is not None


def call(name: str, *args: object) -> None:
    """Run the compiled function `name` on these arguments (tensors by their data), on torch's thread count.

    A pass that could not allocate its scratch returns nonzero (a void one gives None), and raises
    here rather than leave the caller garbage: one truth test, so the training step's hot path pays
    nothing more."""
    converted = [a.data_ptr() if isinstance(a, torch.Tensor) else a for a in args]
    if getattr(library(), name)(*converted, torch.get_num_threads()):
        raise MemoryError(f"{name}: the compiled CBAM pass could not allocate its scratch memory")


def _dims(x: torch.Tensor) -> tuple[int, int, int]:
    n, c, h, w = x.shape
    return n, c, h * w


def pool(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Average and max of every channel over its positions, and where each maximum sits."""
    n, c, hw = _dims(x)
    avg, mx, where = torch.empty(n, c), torch.empty(n, c), torch.empty(n, c, dtype=torch.int64)
    call("cbam_pool", x, n, c, hw, avg, mx, where)
    return avg, mx, where


def describe(x: torch.Tensor, mc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
    """Channel mean and max of x * mc as (N, 2, H, W), and the channel of each max; x * mc is never stored."""
    n, c, hw = _dims(x)
    desc, where = torch.empty(n, 2, *x.shape[2:]), torch.empty(n, 1, *x.shape[2:], dtype=torch.int32)
    call("cbam_describe", x, mc.contiguous(), n, c, hw, desc, where)
    return desc, where, None


def gate(x: torch.Tensor, mc: torch.Tensor, ms: torch.Tensor, scratch: None) -> torch.Tensor:
    """F * Mc * Ms in one pass."""
    out = torch.empty_like(x)
    call("cbam_gate", x, mc.contiguous(), ms.contiguous(), *_dims(x), out)
    return out


def grad_ms(g: torch.Tensor, x: torch.Tensor, mc: torch.Tensor, ms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dms (N, H, W), and the gating's share of dL/dmc (N, C), which grad_mc takes first."""
    g = g.contiguous()
    d_ms, share = torch.empty(x.shape[0], *x.shape[2:]), torch.empty(x.shape[:2])
    call("cbam_grad_ms", g, x, mc.contiguous(), ms.contiguous(), *_dims(x), d_ms, share)
    return d_ms, share


def grad_mc(
    share: torch.Tensor, x: torch.Tensor, ms: torch.Tensor, d_desc: torch.Tensor, where_c: torch.Tensor
) -> torch.Tensor:
    """dL/dmc (N, C): the gating's share from grad_ms, plus the descriptor's, whose gradient is d_desc."""
    d_mc = torch.empty(x.shape[:2])
    call("cbam_grad_mc", share, x, d_desc.contiguous(), where_c, *_dims(x), d_mc)
    return d_mc


def grad_input(
    g: torch.Tensor,
    mc: torch.Tensor,
    ms: torch.Tensor,
    d_desc: torch.Tensor,
    where_c: torch.Tensor,
    d_pool: tuple[torch.Tensor, torch.Tensor],
    where_hw: torch.Tensor,
) -> torch.Tensor:
    """dL/dx through the gating, the descriptor and the channel pooling, in one pass."""
    g = g.contiguous()
    dx = torch.empty_like(g)
    d_avg, d_mx = (d.contiguous() for d in d_pool)
    call(
        "cbam_grad_input",
        g,
        mc.contiguous(),
        ms.contiguous(),
        d_desc.contiguous(),
        where_c,
        d_avg,
        d_mx,
        where_hw,
        *_dims(g),
        dx,
    )
    return dx


def map_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The (1, M, k, k) convolution of (N, M, H, W) maps, stride 1, "same" padding, no bias."""
    n, m, h, w = x.shape
    out = torch.empty(n, 1, h, w)
    call("map_conv", x, weight.contiguous(), n, m, h, w, weight.shape[-1], out)
    return out


def map_conv_grads(x: torch.Tensor, weight: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """map_conv's gradients with respect to its maps and its weight, for the output gradient `grad`."""
    n, m, h, w = x.shape
    grad, weight = grad.contiguous(), weight.contiguous()
    dx, dw = torch.empty_like(x), torch.empty_like(weight)
    call("map_conv_grad_input", grad, weight, n, m, h, w, weight.shape[-1], dx)
    call("map_conv_grad_weight", x, grad, n, m, h, w, weight.shape[-1], dw)
    return dx, dw
