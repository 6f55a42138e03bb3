"""The map-sized passes of fused CBAM written with torch operators: the CPU path, and the reference
that the Triton kernels (triton_kernels.py, launched by triton_ops.py) must agree with.

Every function takes and returns plain tensors: x, g (the output gradient) and the result are
(N, C, H, W); mc is the channel map (N, C), ms the spatial map (N, H, W), both in map_dtype
(float32 for half-precision maps). Where a pass can be a batched matrix product it is one, so a
reduction and a multiply share a read.
"""

from __future__ import annotations

import torch


def map_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype of Mc, Ms and every reduction: float32 for half-precision maps, else the map's own."""
    return torch.promote_types(x.dtype, torch.float32)


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels_last for a map stored so (and not also NCHW-contiguous), else NCHW: what an
    output gradient is made contiguous in, so every pass reads it in x's order."""
    return (
        torch.channels_last
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        else torch.contiguous_format
    )


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], x.shape[1], -1)


def pool(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Average and max of every channel over its positions, and where each maximum sits."""
    flat = _flat(x)
    mx, where = flat.max(dim=2)
    return flat.sum(dim=2) / flat.shape[2], mx, where


def describe(x: torch.Tensor, mc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Channel mean and max of x * mc as (N, 2, H, W), the channel of each max, and x * mc itself,
    which the gate pass then scales in place."""
    gated = x * mc.to(x.dtype)[:, :, None, None]
    mx, where = gated.max(dim=1, keepdim=True)
    mean = gated.sum(dim=1, keepdim=True) / x.shape[1]
    return torch.cat([mean, mx], dim=1), where, gated


def gate(x: torch.Tensor, mc: torch.Tensor, ms: torch.Tensor, gated: torch.Tensor) -> torch.Tensor:
    """F * Mc * Ms, from describe's x * mc (consumed: scaled in place)."""
    return gated.mul_(ms.to(gated.dtype)[:, None])


def grad_ms(g: torch.Tensor, x: torch.Tensor, mc: torch.Tensor, ms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dms (N, H, W) = sum over channels of g * x * mc, and g * x, which grad_mc reads again (with
    ms there: one batched product for the gating's share)."""
    n, c = x.shape[:2]
    gx = _flat(g * x).to(mc.dtype)
    return torch.bmm(mc.view(n, 1, c), gx).view(n, *x.shape[2:]), gx


def grad_mc(
    gx: torch.Tensor, x: torch.Tensor, ms: torch.Tensor, d_desc: torch.Tensor, where_c: torch.Tensor
) -> torch.Tensor:
    """dL/dmc (N, C): through the gating (g * x * ms) and the descriptor, whose gradient is d_desc."""
    n, c = x.shape[:2]
    xf = _flat(x).to(ms.dtype)
    d_mean, d_max = d_desc.to(ms.dtype).reshape(n, 2, -1).unbind(1)
    d_mc = torch.bmm(gx, ms.reshape(n, -1, 1)).view(n, c)
    d_mc += torch.bmm(xf, d_mean.unsqueeze(2)).view(n, c) / c
    at_max = xf.gather(1, where_c.view(n, 1, -1)).view(n, -1)
    return d_mc.scatter_add_(1, where_c.view(n, -1), at_max * d_max)


def grad_input(
    g: torch.Tensor,
    mc: torch.Tensor,
    ms: torch.Tensor,
    d_desc: torch.Tensor,
    where_c: torch.Tensor,
    d_pool: tuple[torch.Tensor, torch.Tensor],
    where_hw: torch.Tensor,
) -> torch.Tensor:
    """dL/dx: through the gating, the descriptor (mean and max over channels) and the channel pooling."""
    n, c = g.shape[:2]
    hw = ms[0].numel()
    d_avg, d_mx = d_pool
    d_mean, d_max = d_desc.to(mc.dtype).view(n, 2, hw).unbind(1)
    dx = g * ms.to(g.dtype)[:, None]
    flat = dx.view(n, c, hw) if dx.is_contiguous() else None
    if flat is None:
        dx = dx.contiguous()
        flat = dx.view(n, c, hw)
    flat.mul_(mc.to(g.dtype)[:, :, None])
    # Both broadcasts in one pass: mc x (d_mean / C) + (d_avg / HW) x 1, as one batched product.
    left = torch.stack([mc, d_avg / hw], dim=2).to(g.dtype)
    right = torch.stack([d_mean / c, torch.ones_like(d_mean)], dim=1).to(g.dtype)
    flat.baddbmm_(left, right)
    mc_at = mc.gather(1, where_c.view(n, -1))
    flat.scatter_add_(1, where_c.view(n, 1, hw), (mc_at * d_max).to(g.dtype).view(n, 1, hw))
    flat.scatter_add_(2, where_hw.view(n, c, 1), d_mx.to(g.dtype).view(n, c, 1))
    return dx
