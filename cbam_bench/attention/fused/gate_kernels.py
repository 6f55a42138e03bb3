"""The CBAM gate's small parts as Triton kernels, for gate_triton.py: the channel MLP on the pooled
vectors, the k x k convolution of the 2-map descriptor, its batch norm and their backwards.

These are a few thousand numbers per image, but done with torch operators and autograd they are a
few dozen kernels per gate, forward and backward, and inside a CUDA graph each kernel costs a few
microseconds whatever its size. Here each piece is one kernel (a reduction's partial results need
one more), everything in float32. The norm's statistics are merged from per-program partial
counts, means and squared deviations (Chan's formula), which keeps float32 accurate where a sum of
squares would cancel; the running statistics move inside the kernel, so nothing waits for the
host. Maps here are (N, H * W) float32 and contiguous; the descriptor (N, 2, H, W) in the map's
dtype.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def mlp_forward_kernel(
    p0, p1, w1, b1, w2, b2, hidden, mc, N, C, Hd, pools,
    TWO: tl.constexpr, HAS_B1: tl.constexpr, HAS_B2: tl.constexpr, BC: tl.constexpr, HDP: tl.constexpr,
):  # fmt: skip
    """One image: hidden = relu(W1 v + b1) for each pooled vector v, Mc = sigmoid(W2 (sum of hidden) + P b2)."""
    n = tl.program_id(0)
    hd = tl.arange(0, HDP)
    on_hd = hd < Hd
    acc0 = tl.zeros([HDP], tl.float32)
    acc1 = tl.zeros([HDP], tl.float32)
    for start in range(0, C, BC):
        c = start + tl.arange(0, BC)
        on_c = c < C
        w = tl.load(w1 + hd[:, None] * C + c[None, :], mask=on_hd[:, None] & on_c[None, :], other=0.0)
        acc0 += tl.sum(w * tl.load(p0 + n * C + c, mask=on_c, other=0.0)[None, :], axis=1)
        if TWO:
            acc1 += tl.sum(w * tl.load(p1 + n * C + c, mask=on_c, other=0.0)[None, :], axis=1)
    if HAS_B1:
        bias = tl.load(b1 + hd, mask=on_hd, other=0.0)
        acc0 += bias
        acc1 += bias
    h = tl.maximum(acc0, 0.0)
    tl.store(hidden + n * Hd + hd, h, mask=on_hd)
    if TWO:
        h1 = tl.maximum(acc1, 0.0)
        tl.store(hidden + (N + n) * Hd + hd, h1, mask=on_hd)
        h += h1
    for start in range(0, C, BC):
        c = start + tl.arange(0, BC)
        on_c = c < C
        w = tl.load(w2 + c[:, None] * Hd + hd[None, :], mask=on_c[:, None] & on_hd[None, :], other=0.0)
        logit = tl.sum(w * h[None, :], axis=1)
        if HAS_B2:
            logit += tl.load(b2 + c, mask=on_c, other=0.0) * pools  # each pooled vector's MLP adds b2
        tl.store(mc + n * C + c, tl.sigmoid(logit), mask=on_c)


@triton.jit
def mlp_backward_kernel(
    w1, w2, hidden, mc, d_mc, d_logit, d_hidden, d_pools, N, C, Hd,
    TWO: tl.constexpr, BC: tl.constexpr, HDP: tl.constexpr,
):  # fmt: skip
    """One image: dL/d(logits), dL/d(hidden) through the ReLUs, and dL/d(each pooled vector)."""
    n = tl.program_id(0)
    hd = tl.arange(0, HDP)
    on_hd = hd < Hd
    d_sum = tl.zeros([HDP], tl.float32)
    for start in range(0, C, BC):
        c = start + tl.arange(0, BC)
        on_c = c < C
        m = tl.load(mc + n * C + c, mask=on_c, other=0.0)
        d = tl.load(d_mc + n * C + c, mask=on_c, other=0.0) * m * (1.0 - m)
        tl.store(d_logit + n * C + c, d, mask=on_c)
        w = tl.load(w2 + c[:, None] * Hd + hd[None, :], mask=on_c[:, None] & on_hd[None, :], other=0.0)
        d_sum += tl.sum(w * d[:, None], axis=0)
    d0 = tl.where(tl.load(hidden + n * Hd + hd, mask=on_hd, other=0.0) > 0.0, d_sum, 0.0)
    tl.store(d_hidden + n * Hd + hd, d0, mask=on_hd)
    d1 = tl.zeros([HDP], tl.float32)
    if TWO:
        d1 = tl.where(tl.load(hidden + (N + n) * Hd + hd, mask=on_hd, other=0.0) > 0.0, d_sum, 0.0)
        tl.store(d_hidden + (N + n) * Hd + hd, d1, mask=on_hd)
    for start in range(0, C, BC):
        c = start + tl.arange(0, BC)
        on_c = c < C
        w = tl.load(w1 + hd[:, None] * C + c[None, :], mask=on_hd[:, None] & on_c[None, :], other=0.0)
        tl.store(d_pools + n * C + c, tl.sum(w * d0[:, None], axis=0), mask=on_c)
        if TWO:
            tl.store(d_pools + (N + n) * C + c, tl.sum(w * d1[:, None], axis=0), mask=on_c)


@triton.jit
def conv_kernel(desc, w, bias, z, part, H, W, HAS_BIAS: tl.constexpr, K: tl.constexpr, BHW: tl.constexpr):
    """z = the k x k correlation of the 2-map descriptor with w (+ bias) at a block of positions,
    and the block's count, mean and squared deviations of z, for the norm."""
    n, hb = tl.program_id(0), tl.program_id(1)
    HW = H * W
    hw = hb * BHW + tl.arange(0, BHW)
    inside = hw < HW
    y, x = hw // W, hw % W
    acc = tl.zeros([BHW], tl.float32)
    for m in tl.static_range(2):
        for i in tl.static_range(K):
            for j in tl.static_range(K):
                yy, xx = y + i - K // 2, x + j - K // 2
                valid = inside & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
                v = tl.load(desc + (n * 2 + m) * HW + yy * W + xx, mask=valid, other=0.0).to(tl.float32)
                acc += tl.load(w + (m * K + i) * K + j) * v
    if HAS_BIAS:
        acc += tl.load(bias)
    tl.store(z + n * HW + hw, acc, mask=inside)
    count = tl.sum(inside.to(tl.float32), axis=0)
    mean = tl.sum(tl.where(inside, acc, 0.0), axis=0) / count
    spread = tl.sum(tl.where(inside, (acc - mean) * (acc - mean), 0.0), axis=0)
    at = (n * tl.num_programs(1) + hb) * 3
    tl.store(part + at, count)
    tl.store(part + at + 1, mean)
    tl.store(part + at + 2, spread)


@triton.jit
def norm_stats_kernel(
    part, programs, running_mean, running_var, tracked, momentum, eps, stats,
    BATCH: tl.constexpr, KEEP: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """The mean and 1/std the norm uses (stats[0], stats[1]): the batch's, from the conv blocks'
    partials (BATCH), or the running ones; with KEEP the running statistics move as BatchNorm2d
    moves them (momentum < 0: BatchNorm2d's momentum None, the mean of every batch so far)."""
    if BATCH:
        total = tl.zeros([BLOCK], tl.float32)
        weighted = tl.zeros([BLOCK], tl.float32)
        for start in range(0, programs, BLOCK):
            i = start + tl.arange(0, BLOCK)
            count = tl.load(part + i * 3, mask=i < programs, other=0.0)
            total += count
            weighted += count * tl.load(part + i * 3 + 1, mask=i < programs, other=0.0)
        count_all = tl.sum(total, axis=0)
        mean = tl.sum(weighted, axis=0) / count_all
        spread = tl.zeros([BLOCK], tl.float32)
        for start in range(0, programs, BLOCK):
            i = start + tl.arange(0, BLOCK)
            count = tl.load(part + i * 3, mask=i < programs, other=0.0)
            gap = tl.load(part + i * 3 + 1, mask=i < programs, other=0.0) - mean
            spread += tl.load(part + i * 3 + 2, mask=i < programs, other=0.0) + count * gap * gap
        var = tl.sum(spread, axis=0) / count_all
        tl.store(stats, mean)
        tl.store(stats + 1, 1.0 / tl.sqrt(var + eps))
        if KEEP:
            seen = tl.load(tracked) + 1
            tl.store(tracked, seen)
            factor = tl.where(momentum < 0.0, 1.0 / seen.to(tl.float32), momentum)
            unbiased = var * count_all / (count_all - 1.0)
            tl.store(running_mean, (1.0 - factor) * tl.load(running_mean) + factor * mean)
            tl.store(running_var, (1.0 - factor) * tl.load(running_var) + factor * unbiased)
    else:
        tl.store(stats, tl.load(running_mean))
        tl.store(stats + 1, 1.0 / tl.sqrt(tl.load(running_var) + eps))


@triton.jit
def spatial_grad_kernel(d_ms, ms, z, stats, dy, part, HW, HAS_NORM: tl.constexpr, BHW: tl.constexpr):
    """dL/d(the norm's output) dy = dL/dMs * Ms (1 - Ms) at a block of positions, and the block's
    sums of dy and dy * z-hat (the norm's bias and weight gradients, and the batch terms of dz)."""
    n, hb = tl.program_id(0), tl.program_id(1)
    hw = hb * BHW + tl.arange(0, BHW)
    inside = hw < HW
    s = tl.load(ms + n * HW + hw, mask=inside, other=0.0)
    d = tl.load(d_ms + n * HW + hw, mask=inside, other=0.0) * s * (1.0 - s)
    tl.store(dy + n * HW + hw, d, mask=inside)
    at = (n * tl.num_programs(1) + hb) * 2
    tl.store(part + at, tl.sum(d, axis=0))
    if HAS_NORM:
        zhat = (tl.load(z + n * HW + hw, mask=inside, other=0.0) - tl.load(stats)) * tl.load(stats + 1)
        tl.store(part + at + 1, tl.sum(tl.where(inside, d * zhat, 0.0), axis=0))


@triton.jit
def _dz(dy, z, stats, at, valid, scale, mean_dy, mean_dy_zhat):
    """dL/dz at positions `at`: through the norm (batch terms zero where it used running statistics)."""
    zhat = (tl.load(z + at, mask=valid, other=0.0) - tl.load(stats)) * tl.load(stats + 1)
    return tl.where(valid, scale * (tl.load(dy + at, mask=valid, other=0.0) - mean_dy - zhat * mean_dy_zhat), 0.0)


@triton.jit
def conv_grad_kernel(
    dy, z, stats, sums, norm_w, desc, w, d_desc, d_w_part, H, W, count,
    HAS_NORM: tl.constexpr, BATCH: tl.constexpr, K: tl.constexpr, BHW: tl.constexpr,
):  # fmt: skip
    """At a block of positions: dL/d(descriptor), dz correlated with the kernel turned 180 degrees,
    and the block's share of every tap of dL/dw (dz times the descriptor each tap read)."""
    n, hb = tl.program_id(0), tl.program_id(1)
    HW = H * W
    hw = hb * BHW + tl.arange(0, BHW)
    inside = hw < HW
    y, x = hw // W, hw % W
    scale = 1.0
    mean_dy = 0.0
    mean_dy_zhat = 0.0
    if HAS_NORM:
        scale = tl.load(norm_w) * tl.load(stats + 1)
    if BATCH:
        mean_dy = tl.load(sums) / count
        mean_dy_zhat = tl.load(sums + 1) / count
    dz_here = _dz(dy, z, stats, n * HW + hw, inside, scale, mean_dy, mean_dy_zhat)
    at = (n * tl.num_programs(1) + hb) * (2 * K * K)
    for m in tl.static_range(2):
        grad = tl.zeros([BHW], tl.float32)
        for i in tl.static_range(K):
            for j in tl.static_range(K):
                # the output position whose tap (i, j) read the descriptor here
                yy, xx = y - i + K // 2, x - j + K // 2
                valid = inside & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
                grad += tl.load(w + (m * K + i) * K + j) * _dz(
                    dy, z, stats, n * HW + yy * W + xx, valid, scale, mean_dy, mean_dy_zhat
                )
                # and the descriptor that tap (i, j) of the output here read
                yy, xx = y + i - K // 2, x + j - K // 2
                seen = inside & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
                v = tl.load(desc + (n * 2 + m) * HW + yy * W + xx, mask=seen, other=0.0).to(tl.float32)
                tl.store(d_w_part + at + (m * K + i) * K + j, tl.sum(dz_here * v, axis=0))
        tl.store(d_desc + (n * 2 + m) * HW + hw, grad, mask=inside)
