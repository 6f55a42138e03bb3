"""The whole CBAM gate on CUDA in Triton kernels, for explicit.py: the map-sized passes of
triton_ops.py and the small parts of gate_kernels.py, with the gradients written out.

The same calls as gate_cpu.py: `forward` returns the output and what the backward reads, and
`backward` every parameter's gradient. Where FusedCBAM runs the MLP, the convolution and the norm
as torch operators under autograd (a few dozen kernels per gate), this is about eight kernels
forward and fifteen backward, none of which waits for the host, so a CUDA graph records them.
The small parts run in float32 whatever the map's dtype (the parameters are float32:
explicit.gate_if_applies checks); maps keep their dtype and memory format.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton

from cbam_bench.attention.fused import gate_kernels, torch_ops, triton_ops
from cbam_bench.attention.fused.gate_cpu import BATCH_STATS, BATCH_STATS_KEPT, NO_NORM, Gate, listed, named
from cbam_bench.attention.fused.triton_ops import BLOCK_C, BLOCK_HW

BLOCK_PARTS = 1024  # partial results the norm's statistics read per step


class Saved(NamedTuple):
    """What the forward keeps for the backward (autograd saves it as a plain tuple of tensors)."""

    avg: torch.Tensor  # the pooled vectors, (N, C) float32
    mx: torch.Tensor
    where_hw: torch.Tensor  # each channel's max position
    hidden: torch.Tensor  # the MLP's hidden rows after the ReLU, (P, N, Hd)
    mc: torch.Tensor  # (N, C) float32
    desc: torch.Tensor  # (N, 2, H, W) float32
    where_c: torch.Tensor  # each position's max channel
    z: torch.Tensor  # the convolution's output, (N, H * W)
    stats: torch.Tensor  # the norm's mean and 1/std
    ms: torch.Tensor  # (N, H * W) float32


def _hidden_block(hidden: int) -> int:
    return max(16, triton.next_power_of_2(hidden))


def _norm_flags(gate: Gate) -> tuple[bool, bool, bool]:
    """Whether there is a norm, whether it uses the batch's statistics, whether it moves the running ones."""
    return gate.mode != NO_NORM, gate.mode in (BATCH_STATS, BATCH_STATS_KEPT), gate.mode == BATCH_STATS_KEPT


def _channel_forward(pools: list[torch.Tensor], gate: Gate, params: list[torch.Tensor]) -> tuple:
    w1, b1, w2, b2, *_ = named(params, gate)
    n, c = pools[0].shape
    hidden = torch.empty(len(pools), n, gate.hidden, device=pools[0].device)
    mc = torch.empty(n, c, device=pools[0].device)
    gate_kernels.mlp_forward_kernel[(n,)](
        pools[0], pools[-1], w1, w1 if b1 is None else b1, w2, w2 if b2 is None else b2, hidden, mc, n, c, gate.hidden,
        float(len(pools)),
        TWO=len(pools) == 2, HAS_B1=b1 is not None, HAS_B2=b2 is not None, BC=BLOCK_C, HDP=_hidden_block(gate.hidden),
    )  # fmt: skip
    return hidden, mc


def _spatial_forward(desc: torch.Tensor, gate: Gate, params: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """z (N, H * W) float32 and the norm's (mean, 1/std); the running statistics moved in BATCH_STATS_KEPT."""
    *_, conv_w, conv_b, _, _ = named(params, gate)
    n, _, h, w = desc.shape
    blocks = triton.cdiv(h * w, BLOCK_HW)
    z = torch.empty(n, h * w, device=desc.device)
    part = torch.empty(n * blocks, 3, device=desc.device)
    bias = conv_b if conv_b is not None else conv_w
    gate_kernels.conv_kernel[(n, blocks)](
        desc, conv_w, bias, z, part, h, w, HAS_BIAS=conv_b is not None, K=gate.kernel, BHW=BLOCK_HW
    )
    stats = torch.zeros(2, device=desc.device)
    has_norm, batch, keep = _norm_flags(gate)
    if has_norm:
        bn = gate.norm
        momentum = -1.0 if bn.momentum is None else bn.momentum
        mean, var = (bn.running_mean, bn.running_var) if bn.running_mean is not None else (stats, stats)
        tracked = bn.num_batches_tracked if bn.num_batches_tracked is not None else stats
        gate_kernels.norm_stats_kernel[(1,)](
            part, n * blocks, mean, var, tracked, momentum, bn.eps, stats, BATCH=batch, KEEP=keep, BLOCK=BLOCK_PARTS
        )
    return z, stats


def forward(x: torch.Tensor, gate: Gate, params: list[torch.Tensor]) -> tuple[torch.Tensor, Saved]:
    """F * Mc * Ms in x's dtype and memory format, and what `backward` reads."""
    avg, mx, where_hw = triton_ops.pool(x, torch.float32)
    pools = [avg if kind == "avg" else mx for kind in gate.pooling]
    hidden, mc = _channel_forward(pools, gate, params)
    desc, where_c, _ = triton_ops.describe(x, mc, torch.float32)  # a few numbers an image: kept exact
    z, stats = _spatial_forward(desc, gate, params)
    *_, norm_w, norm_b = named(params, gate)
    ms = torch.empty_like(z)
    out = triton_ops.gate_normed(x, mc, z, stats, norm_w, norm_b, ms)
    return out, Saved(avg, mx, where_hw, hidden, mc, desc, where_c, z, stats, ms)


def _spatial_backward(
    d_ms: torch.Tensor, saved: Saved, gate: Gate, params: list[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """dL/d(descriptor), the convolution's weight and bias gradients and the norm's (None where absent)."""
    desc, z, stats, ms = saved.desc, saved.z, saved.stats, saved.ms
    *_, conv_w, conv_b, norm_w, _ = named(params, gate)
    n, _, h, w = desc.shape
    blocks, has_norm, batch = triton.cdiv(h * w, BLOCK_HW), *_norm_flags(gate)[:2]
    dy, part = torch.empty_like(z), torch.zeros(n * blocks, 2, device=z.device)
    gate_kernels.spatial_grad_kernel[(n, blocks)](d_ms, ms, z, stats, dy, part, h * w, HAS_NORM=has_norm, BHW=BLOCK_HW)
    sums = part.sum(dim=0)  # dL/d(norm bias) or dL/d(conv bias), and dL/d(norm weight)
    d_desc = torch.empty(n, 2, h, w, device=z.device)
    d_w_part = torch.empty(n * blocks, 2 * gate.kernel**2, device=z.device)
    gate_kernels.conv_grad_kernel[(n, blocks)](
        dy, z, stats, sums, norm_w if has_norm else stats, desc, conv_w, d_desc, d_w_part, h, w, float(n * h * w),
        HAS_NORM=has_norm, BATCH=batch, K=gate.kernel, BHW=BLOCK_HW,
    )  # fmt: skip
    d_conv = d_w_part.sum(dim=0).view_as(conv_w)
    if has_norm:
        return d_desc, d_conv, None, sums[1:].clone(), sums[:1].clone()
    return d_desc, d_conv, (sums[:1].clone() if conv_b is not None else None), None, None


def _channel_backward(d_mc: torch.Tensor, saved: Saved, gate: Gate, params: list[torch.Tensor]) -> tuple:
    """dL/d(each pooled vector) by kind, and the MLP's four gradients (None for a bias it has not)."""
    avg, mx, hidden, mc = saved.avg, saved.mx, saved.hidden, saved.mc
    w1, b1, w2, b2, *_ = named(params, gate)
    pools = [avg if kind == "avg" else mx for kind in gate.pooling]
    n, c = mc.shape
    d_logit, d_hidden = torch.empty_like(mc), torch.empty_like(hidden)
    d_pools = torch.empty(len(pools), n, c, device=mc.device)
    gate_kernels.mlp_backward_kernel[(n,)](
        w1, w2, hidden, mc, d_mc, d_logit, d_hidden, d_pools, n, c, gate.hidden,
        TWO=len(pools) == 2, BC=BLOCK_C, HDP=_hidden_block(gate.hidden),
    )  # fmt: skip
    d_w2 = d_logit.t() @ hidden.sum(dim=0)
    d_b2 = d_logit.sum(dim=0) * len(pools) if b2 is not None else None
    flat = d_hidden.view(-1, gate.hidden)
    d_w1 = flat.t() @ torch.cat(pools)
    d_b1 = flat.sum(dim=0) if b1 is not None else None
    by_kind = dict(zip(gate.pooling, d_pools))
    return (by_kind.get("avg"), by_kind.get("max")), (d_w1, d_b1, d_w2, d_b2)


def backward(
    g: torch.Tensor, x: torch.Tensor, saved: tuple, gate: Gate, params: list[torch.Tensor], want_dx: bool
) -> tuple[torch.Tensor | None, list[torch.Tensor | None]]:
    """dL/dx (None unless wanted) and the gradient of every parameter in `params`, from dL/d(output) `g`."""
    saved = Saved(*saved)
    mc, ms, where_c = saved.mc, saved.ms, saved.where_c
    g = g.contiguous(memory_format=torch_ops.memory_format(x))
    n, _, h, w = x.shape
    d_ms, share = triton_ops.grad_ms(g, x, mc, ms.view(n, h, w))
    d_desc, d_conv, d_conv_b, d_norm_w, d_norm_b = _spatial_backward(d_ms.view(n, h * w), saved, gate, params)
    d_mc = triton_ops.grad_mc(share, x, ms.view(n, h, w), d_desc, where_c)
    d_pool, (d_w1, d_b1, d_w2, d_b2) = _channel_backward(d_mc, saved, gate, params)
    dx = None
    if want_dx:
        d_pool = tuple(torch.zeros_like(mc) if d is None else d for d in d_pool)
        dx = triton_ops.grad_input(g, mc, ms.view(n, h, w), d_desc, where_c, d_pool, saved.where_hw)
    return dx, listed([d_w1, d_b1, d_w2, d_b2, d_conv, d_conv_b, d_norm_w, d_norm_b], gate)
