"""The map-sized passes of fused CBAM as Triton kernels, for CUDA; triton_ops.py launches them.

Forward: one pass pools every channel (sum and max with its position), one computes the channel
mean and max of F * Mc without storing F * Mc, one writes F * Mc * Ms. Backward: one pass for
dMs, one for dMc, one for dF. Every kernel takes the map's strides, so NCHW and channels_last both
work without a copy; loads are widened to float32 and results stored in the map's dtype (float32,
bfloat16, float16). The reductions run over one chunk of their length per program and leave
partial results, which finish_kernel combines in chunk order (so the first of tied maxima wins,
as in torch), or a sum over chunks does. Under TRITON_INTERPRET=1 (set before this module is
imported) the same kernels run on CPU tensors, which is how the tests check them.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _offsets(n, c, hw, W, sn, sc, sh, sw):
    return n * sn + c[:, None] * sc + (hw // W)[None, :] * sh + (hw % W)[None, :] * sw


@triton.jit
def pool_kernel(x, psum, pmax, pat, C, HW, W, sn, sc, sh, sw, CHUNK, prow, BC: tl.constexpr, BHW: tl.constexpr):
    """Mean share, max and its position of a block of channels over one chunk of positions."""
    n, cb, s = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    c = cb * BC + tl.arange(0, BC)
    total = tl.zeros([BC], tl.float32)
    best = tl.full([BC], float("-inf"), tl.float32)
    best_at = tl.zeros([BC], tl.int32)
    for start in range(s * CHUNK, tl.minimum(s * CHUNK + CHUNK, HW), BHW):
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
    keep, at = c < C, n * prow + s * C + c
    tl.store(psum + at, total / HW, mask=keep)
    tl.store(pmax + at, best, mask=keep)
    tl.store(pat + at, best_at, mask=keep)


@triton.jit
def describe_kernel(
    x, mc, psum, pmax, pat, C, HW, W, sn, sc, sh, sw, CHUNK, prow, arow, BC: tl.constexpr, BHW: tl.constexpr
):
    """Channel mean share and max of x * mc over one chunk of channels, at a block of positions;
    x * mc is never written."""
    n, hb, s = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    hw = hb * BHW + tl.arange(0, BHW)
    total = tl.zeros([BHW], tl.float32)
    best = tl.full([BHW], float("-inf"), tl.float32)
    best_at = tl.zeros([BHW], tl.int32)
    for start in range(s * CHUNK, tl.minimum(s * CHUNK + CHUNK, C), BC):
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
    tl.store(psum + n * prow + s * HW + hw, total / C, mask=keep)
    tl.store(pmax + n * prow + s * HW + hw, best, mask=keep)
    tl.store(pat + n * arow + s * HW + hw, best_at, mask=keep)


@triton.jit
def finish_kernel(psum, pmax, pat, S, L, osum, omax, oat, orow, arow, BL: tl.constexpr):
    """The chunks' partial results (n, S, L) combined in chunk order, so the first of tied maxima wins."""
    n, lb = tl.program_id(0), tl.program_id(1)
    i = lb * BL + tl.arange(0, BL)
    keep = i < L
    total = tl.zeros([BL], tl.float32)
    best = tl.full([BL], float("-inf"), tl.float32)
    best_at = tl.zeros([BL], tl.int32)
    for s in range(0, S):
        at = (n * S + s) * L + i
        total += tl.load(psum + at, mask=keep, other=0.0)
        value = tl.load(pmax + at, mask=keep, other=float("-inf"))
        better = value > best
        best_at = tl.where(better, tl.load(pat + at, mask=keep, other=0), best_at)
        best = tl.where(better, value, best)
    tl.store(osum + n * orow + i, total, mask=keep)
    tl.store(omax + n * orow + i, best, mask=keep)
    tl.store(oat + n * arow + i, best_at, mask=keep)


@triton.jit
def gate_kernel(x, mc, ms, out, C, HW, W, sn, sc, sh, sw, on, oc, oh, ow, BC: tl.constexpr, BHW: tl.constexpr):
    n, cb, hb = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    c = cb * BC + tl.arange(0, BC)
    hw = hb * BHW + tl.arange(0, BHW)
    inside = (c < C)[:, None] & (hw < HW)[None, :]
    v = tl.load(x + _offsets(n, c, hw, W, sn, sc, sh, sw), mask=inside, other=0.0).to(tl.float32)
    v = v * tl.load(mc + n * C + c, mask=c < C, other=0.0)[:, None]
    v = v * tl.load(ms + n * HW + hw, mask=hw < HW, other=0.0)[None, :]
    tl.store(out + _offsets(n, c, hw, W, on, oc, oh, ow), v.to(out.dtype.element_ty), mask=inside)


@triton.jit
def gate_norm_kernel(
    x, mc, z, stats, norm_w, norm_b, ms, out, C, HW, W, sn, sc, sh, sw, on, oc, oh, ow,
    HAS_NORM: tl.constexpr, BC: tl.constexpr, BHW: tl.constexpr,
):  # fmt: skip
    """The gating with Ms made here from z (normalised by stats and the norm's affine, or as it
    is), stored once by the first block of channels for the backward."""
    n, cb, hb = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    c = cb * BC + tl.arange(0, BC)
    hw = hb * BHW + tl.arange(0, BHW)
    on_hw = hw < HW
    logit = tl.load(z + n * HW + hw, mask=on_hw, other=0.0)
    if HAS_NORM:
        logit = (logit - tl.load(stats)) * tl.load(stats + 1) * tl.load(norm_w) + tl.load(norm_b)
    s = tl.sigmoid(logit)
    if cb == 0:
        tl.store(ms + n * HW + hw, s, mask=on_hw)
    inside = (c < C)[:, None] & on_hw[None, :]
    v = tl.load(x + _offsets(n, c, hw, W, sn, sc, sh, sw), mask=inside, other=0.0).to(tl.float32)
    v = v * tl.load(mc + n * C + c, mask=c < C, other=0.0)[:, None] * s[None, :]
    tl.store(out + _offsets(n, c, hw, W, on, oc, oh, ow), v.to(out.dtype.element_ty), mask=inside)


@triton.jit
def grad_ms_kernel(
    g, x, mc, d_ms, C, HW, W, sn, sc, sh, sw, gn, gc, gh, gw, CHUNK, BC: tl.constexpr, BHW: tl.constexpr
):
    """dL/dms at a block of positions, over one chunk of channels: the sum of g * x * mc."""
    n, hb, s = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    hw = hb * BHW + tl.arange(0, BHW)
    total = tl.zeros([BHW], tl.float32)
    for start in range(s * CHUNK, tl.minimum(s * CHUNK + CHUNK, C), BC):
        c = start + tl.arange(0, BC)
        inside = (c < C)[:, None] & (hw < HW)[None, :]
        v = tl.load(x + _offsets(n, c, hw, W, sn, sc, sh, sw), mask=inside, other=0.0).to(tl.float32)
        dv = tl.load(g + _offsets(n, c, hw, W, gn, gc, gh, gw), mask=inside, other=0.0).to(tl.float32)
        scale = tl.load(mc + n * C + c, mask=c < C, other=0.0)
        total += tl.sum(dv * v * scale[:, None], axis=0)
    tl.store(d_ms + (n * tl.num_programs(2) + s) * HW + hw, total, mask=hw < HW)


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
def grad_mc_kernel(
    g,
    x,
    ms,
    d_desc,
    where_c,
    d_mc,
    C,
    HW,
    W,
    sn,
    sc,
    sh,
    sw,
    gn,
    gc,
    gh,
    gw,
    CHUNK,
    BC: tl.constexpr,
    BHW: tl.constexpr,
):
    """dL/dmc for a block of channels, over one chunk of positions: the sum of x * dL/d(x * mc)."""
    n, cb, s = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    c = cb * BC + tl.arange(0, BC)
    total = tl.zeros([BC], tl.float32)
    for start in range(s * CHUNK, tl.minimum(s * CHUNK + CHUNK, HW), BHW):
        hw = start + tl.arange(0, BHW)
        inside = (c < C)[:, None] & (hw < HW)[None, :]
        v = tl.load(x + _offsets(n, c, hw, W, sn, sc, sh, sw), mask=inside, other=0.0).to(tl.float32)
        d_gated = _grad_gated(g, ms, d_desc, where_c, n, c, hw, C, HW, W, inside, gn, gc, gh, gw)
        total += tl.sum(tl.where(inside, v * d_gated, 0.0), axis=1)
    tl.store(d_mc + (n * tl.num_programs(2) + s) * C + c, total, mask=c < C)


@triton.jit
def grad_input_kernel(
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
