"""The map-sized passes of fused CBAM as Triton kernels, for CUDA; same calls as torch_ops.

Forward: one pass pools every channel (sum and max with its position), one computes the channel
mean and max of F * Mc without storing F * Mc, one writes F * Mc * Ms. Backward: one pass for
dMs, one for dMc, one for dF. Every kernel takes the map's strides, so NCHW and channels_last both
work without a copy; loads are widened to float32 and results stored in the map's dtype (float32,
bfloat16, float16). Nothing here waits for the device or allocates a size that depends on values,
so the passes can be recorded in a CUDA graph. Under TRITON_INTERPRET=1 (set before this module is
imported) the same kernels run on CPU tensors, which is how the tests check them.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK_C = 32
BLOCK_HW = 128


def _strides(t: torch.Tensor) -> tuple[int, int, int, int]:
    return tuple(t.stride())  # type: ignore[return-value]


def _block(size: int, cap: int) -> int:
    return min(cap, triton.next_power_of_2(size))


@triton.jit
def _offsets(n, c, hw, W, sn, sc, sh, sw):
    return n * sn + c[:, None] * sc + (hw // W)[None, :] * sh + (hw % W)[None, :] * sw


@triton.jit
def _pool_kernel(x, avg, mx, where, C, HW, W, sn, sc, sh, sw, BC: tl.constexpr, BHW: tl.constexpr):
    n, cb = tl.program_id(0), tl.program_id(1)
    c = cb * BC + tl.arange(0, BC)
    total = tl.zeros([BC], tl.float32)
    best = tl.full([BC], float("-inf"), tl.float32)
    best_at = tl.zeros([BC], tl.int32)
    for start in range(0, HW, BHW):
        hw = start + tl.arange(0, BHW)
        inside = (c < C)[:, None] & (hw < HW)[None, :]
        v = tl.load(x + _offsets(n, c, hw, W, sn, sc, sh, sw), mask=inside, other=0.0).to(tl.float32)
        total += tl.sum(v, axis=1)
        v = tl.where(inside, v, float("-inf"))
        block_best = tl.max(v, axis=1)
        block_at = tl.argmax(v, axis=1).to(tl.int32) + start
        better = block_best > best  # strict: the first position of a tie wins, as in torch
        best_at = tl.where(better, block_at, best_at)
        best = tl.where(better, block_best, best)
    keep = c < C
    tl.store(avg + n * C + c, total / HW, mask=keep)
    tl.store(mx + n * C + c, best, mask=keep)
    tl.store(where + n * C + c, best_at, mask=keep)


@triton.jit
def _describe_kernel(x, mc, desc, where, C, HW, W, sn, sc, sh, sw, BC: tl.constexpr, BHW: tl.constexpr):
    """Channel mean and max of x * mc at a block of positions; x * mc is never written."""
    n, hb = tl.program_id(0), tl.program_id(1)
    hw = hb * BHW + tl.arange(0, BHW)
    total = tl.zeros([BHW], tl.float32)
    best = tl.full([BHW], float("-inf"), tl.float32)
    best_at = tl.zeros([BHW], tl.int32)
    for start in range(0, C, BC):
        c = start + tl.arange(0, BC)
        inside = (c < C)[:, None] & (hw < HW)[None, :]
        scale = tl.load(mc + n * C + c, mask=c < C, other=0.0)
        v = tl.load(x + _offsets(n, c, hw, W, sn, sc, sh, sw), mask=inside, other=0.0).to(tl.float32)
        v = v * scale[:, None]
        total += tl.sum(v, axis=0)
        v = tl.where(inside, v, float("-inf"))
        block_best = tl.max(v, axis=0)
        block_at = tl.argmax(v, axis=0).to(tl.int32) + start
        better = block_best > best
        best_at = tl.where(better, block_at, best_at)
        best = tl.where(better, block_best, best)
    keep = hw < HW
    tl.store(desc + n * 2 * HW + hw, total / C, mask=keep)
    tl.store(desc + n * 2 * HW + HW + hw, best, mask=keep)
    tl.store(where + n * HW + hw, best_at, mask=keep)


@triton.jit
def _gate_kernel(x, mc, ms, out, C, HW, W, sn, sc, sh, sw, on, oc, oh, ow, BC: tl.constexpr, BHW: tl.constexpr):
    n, cb, hb = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    c = cb * BC + tl.arange(0, BC)
    hw = hb * BHW + tl.arange(0, BHW)
    inside = (c < C)[:, None] & (hw < HW)[None, :]
    v = tl.load(x + _offsets(n, c, hw, W, sn, sc, sh, sw), mask=inside, other=0.0).to(tl.float32)
    v = v * tl.load(mc + n * C + c, mask=c < C, other=0.0)[:, None]
    v = v * tl.load(ms + n * HW + hw, mask=hw < HW, other=0.0)[None, :]
    tl.store(out + _offsets(n, c, hw, W, on, oc, oh, ow), v.to(out.dtype.element_ty), mask=inside)


@triton.jit
def _grad_ms_kernel(g, x, mc, d_ms, C, HW, W, sn, sc, sh, sw, gn, gc, gh, gw, BC: tl.constexpr, BHW: tl.constexpr):
    """dL/dms at a block of positions: the sum over channels of g * x * mc."""
    n, hb = tl.program_id(0), tl.program_id(1)
    hw = hb * BHW + tl.arange(0, BHW)
    total = tl.zeros([BHW], tl.float32)
    for start in range(0, C, BC):
        c = start + tl.arange(0, BC)
        inside = (c < C)[:, None] & (hw < HW)[None, :]
        v = tl.load(x + _offsets(n, c, hw, W, sn, sc, sh, sw), mask=inside, other=0.0).to(tl.float32)
        dv = tl.load(g + _offsets(n, c, hw, W, gn, gc, gh, gw), mask=inside, other=0.0).to(tl.float32)
        scale = tl.load(mc + n * C + c, mask=c < C, other=0.0)
        total += tl.sum(dv * v * scale[:, None], axis=0)
    tl.store(d_ms + n * HW + hw, total, mask=hw < HW)


@triton.jit
def _grad_gated(g, ms, d_desc, where_c, n, c, hw, C, HW, W, inside, gn, gc, gh, gw):
    """dL/d(x * mc) on a tile: through the gating, the channel mean and the channel max."""
    dv = tl.load(g + _offsets(n, c, hw, W, gn, gc, gh, gw), mask=inside, other=0.0).to(tl.float32)
    on_hw = hw < HW
    scale = tl.load(ms + n * HW + hw, mask=on_hw, other=0.0)
    d_mean = tl.load(d_desc + n * 2 * HW + hw, mask=on_hw, other=0.0).to(tl.float32)
    d_max = tl.load(d_desc + n * 2 * HW + HW + hw, mask=on_hw, other=0.0).to(tl.float32)
    at = tl.load(where_c + n * HW + hw, mask=on_hw, other=-1)
    hit = c[:, None] == at[None, :]
    return dv * scale[None, :] + (d_mean / C)[None, :] + tl.where(hit, d_max[None, :], 0.0)


@triton.jit
def _grad_mc_kernel(
    g, x, ms, d_desc, where_c, d_mc, C, HW, W, sn, sc, sh, sw, gn, gc, gh, gw, BC: tl.constexpr, BHW: tl.constexpr
):
    """dL/dmc for a block of channels: the sum over positions of x * dL/d(x * mc)."""
    n, cb = tl.program_id(0), tl.program_id(1)
    c = cb * BC + tl.arange(0, BC)
    total = tl.zeros([BC], tl.float32)
    for start in range(0, HW, BHW):
        hw = start + tl.arange(0, BHW)
        inside = (c < C)[:, None] & (hw < HW)[None, :]
        v = tl.load(x + _offsets(n, c, hw, W, sn, sc, sh, sw), mask=inside, other=0.0).to(tl.float32)
        d_gated = _grad_gated(g, ms, d_desc, where_c, n, c, hw, C, HW, W, inside, gn, gc, gh, gw)
        total += tl.sum(tl.where(inside, v * d_gated, 0.0), axis=1)
    tl.store(d_mc + n * C + c, total, mask=c < C)


@triton.jit
def _grad_input_kernel(
    g,
    mc,
    ms,
    d_desc,
    where_c,
    d_avg,
    d_mx,
    where_hw,
    dx,
    C,
    HW,
    W,
    gn,
    gc,
    gh,
    gw,
    on,
    oc,
    oh,
    ow,
    BC: tl.constexpr,
    BHW: tl.constexpr,
):
    """dL/dx on a tile: mc times dL/d(x * mc), plus the channel pooling's average and max shares."""
    n, cb, hb = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    c = cb * BC + tl.arange(0, BC)
    hw = hb * BHW + tl.arange(0, BHW)
    on_c = c < C
    inside = on_c[:, None] & (hw < HW)[None, :]
    d_gated = _grad_gated(g, ms, d_desc, where_c, n, c, hw, C, HW, W, inside, gn, gc, gh, gw)
    scale = tl.load(mc + n * C + c, mask=on_c, other=0.0)
    share = tl.load(d_avg + n * C + c, mask=on_c, other=0.0) / HW
    peak = tl.load(d_mx + n * C + c, mask=on_c, other=0.0)
    at = tl.load(where_hw + n * C + c, mask=on_c, other=-1)
    grad = d_gated * scale[:, None] + share[:, None] + tl.where(hw[None, :] == at[:, None], peak[:, None], 0.0)
    tl.store(dx + _offsets(n, c, hw, W, on, oc, oh, ow), grad.to(dx.dtype.element_ty), mask=inside)


def _grid_blocks(x: torch.Tensor) -> tuple[int, int, int, int, int, int]:
    n, c, h, w = x.shape
    return n, c, h * w, w, _block(c, BLOCK_C), _block(h * w, BLOCK_HW)


def pool(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Average and max of every channel over its positions (in x's dtype), and each max's position."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    avg, mx = (torch.empty(n, c, device=x.device, dtype=torch.float32) for _ in range(2))
    where = torch.empty(n, c, device=x.device, dtype=torch.int32)
    _pool_kernel[(n, triton.cdiv(c, bc))](x, avg, mx, where, c, hw, w, *_strides(x), BC=bc, BHW=bhw)
    return avg.to(x.dtype), mx.to(x.dtype), where


def describe(x: torch.Tensor, mc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
    """Channel mean and max of x * mc as (N, 2, H, W) in x's dtype, and the channel of each max."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    desc = torch.empty(n, 2, *x.shape[2:], device=x.device, dtype=x.dtype)
    where = torch.empty(n, hw, device=x.device, dtype=torch.int32)
    grid = (n, triton.cdiv(hw, bhw))
    _describe_kernel[grid](x, mc.contiguous(), desc, where, c, hw, w, *_strides(x), BC=bc, BHW=bhw)
    return desc, where, None


def gate(x: torch.Tensor, mc: torch.Tensor, ms: torch.Tensor, scratch: None) -> torch.Tensor:
    """F * Mc * Ms, in x's dtype and memory format."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    out = torch.empty_like(x)
    grid = (n, triton.cdiv(c, bc), triton.cdiv(hw, bhw))
    _gate_kernel[grid](x, mc.contiguous(), ms.contiguous(), out, c, hw, w, *_strides(x), *_strides(out), BC=bc, BHW=bhw)
    return out


def grad_ms(g: torch.Tensor, x: torch.Tensor, mc: torch.Tensor, ms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dms as (N, H, W) float32; g is handed on as grad_mc's first argument (which reads ms itself)."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    d_ms = torch.empty(n, *x.shape[2:], device=x.device, dtype=torch.float32)
    grid = (n, triton.cdiv(hw, bhw))
    _grad_ms_kernel[grid](g, x, mc.contiguous(), d_ms, c, hw, w, *_strides(x), *_strides(g), BC=bc, BHW=bhw)
    return d_ms, g


def grad_mc(
    g: torch.Tensor, x: torch.Tensor, ms: torch.Tensor, d_desc: torch.Tensor, where_c: torch.Tensor
) -> torch.Tensor:
    """dL/dmc as (N, C) float32, through the gating and the descriptor (whose gradient is d_desc)."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    d_mc = torch.empty(n, c, device=x.device, dtype=torch.float32)
    _grad_mc_kernel[(n, triton.cdiv(c, bc))](
        g, x, ms.contiguous(), d_desc.contiguous(), where_c, d_mc, c, hw, w, *_strides(x), *_strides(g), BC=bc, BHW=bhw
    )
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
    """dL/dx in g's dtype and memory format."""
    n, c, hw, w, bc, bhw = _grid_blocks(g)
    dx = torch.empty_like(g)
    d_avg, d_mx = (d.float().contiguous() for d in d_pool)
    grid = (n, triton.cdiv(c, bc), triton.cdiv(hw, bhw))
    _grad_input_kernel[grid](
        g,
        mc.contiguous(),
        ms.contiguous(),
        d_desc.contiguous(),
        where_c,
        d_avg,
        d_mx,
        where_hw,
        dx,
        c,
        hw,
        w,
        *_strides(g),
        *_strides(dx),
        BC=bc,
        BHW=bhw,
    )
    return dx
