"""CBAM in channel-then-spatial order as one autograd Function that keeps only F, Mc and Ms.

Autograd, left to the formula, keeps every map-sized intermediate (F * Mc, the descriptor's
inputs, the sigmoid's outputs) and runs a pass over the map for each piece of the chain rule. This
Function does the map-sized work in a few passes (`ops`: torch_ops on the CPU, triton_kernels on
CUDA) and saves only F, the two maps and where each maximum was. The small parts in between (the
channel MLP on the pooled vectors, the spatial convolution and norm on the 2-map descriptor) are
the gate modules' own, recorded by autograd on detached inputs during the forward and
differentiated in the backward, so batch-norm statistics update once and every parameter gets its
gradient through the ordinary engine.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import nn  # the CBAM module itself: attention/cbam.py imports this file


def map_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype of Mc, Ms and every reduction: float32 for half-precision maps, else the map's own."""
    return torch.promote_types(x.dtype, torch.float32)


def _channel_map(module: nn.Module, pooled: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The pooled vectors the gate's pooling set names, stacked, and Mc as (N, C) from them."""
    stacked = torch.cat([pooled[kind] for kind in module.channel.pooling], dim=0)
    return stacked, torch.sigmoid(module.channel.scores(stacked))


def _spatial_map(module: nn.Module, desc: torch.Tensor) -> torch.Tensor:
    """Ms as (N, 1, H, W) from the (N, 2, H, W) descriptor."""
    return torch.sigmoid(module.spatial.descriptor_logits(desc))


def forward_no_grad(module: nn.Module, x: torch.Tensor, ops: ModuleType) -> torch.Tensor:
    """The fused forward when nothing will be differentiated (inference, latency)."""
    avg, mx, _ = ops.pool(x)
    _, mc = _channel_map(module, {"avg": avg, "max": mx})
    mc = mc.to(map_dtype(x))
    desc, _, scratch = ops.describe(x, mc)
    ms = _spatial_map(module, desc)
    return ops.gate(x, mc, ms.to(mc.dtype).view(ms.shape[0], *ms.shape[2:]), scratch)


class FusedCBAM(torch.autograd.Function):
    """apply(x, module, ops, *module parameters) -> F * Mc * Ms."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, module: nn.Module, ops: ModuleType, *params: torch.Tensor) -> torch.Tensor:
        avg, mx, where_hw = ops.pool(x)
        with torch.enable_grad():
            pooled = {"avg": avg.detach().requires_grad_(), "max": mx.detach().requires_grad_()}
            stacked, mc_graph = _channel_map(module, pooled)
        mc = mc_graph.detach().to(map_dtype(x))
        desc, where_c, scratch = ops.describe(x, mc)
        with torch.enable_grad():
            desc_leaf = desc.detach().requires_grad_()
            ms_graph = _spatial_map(module, desc_leaf)
        ms = ms_graph.detach().to(mc.dtype).view(x.shape[0], *x.shape[2:])
        out = ops.gate(x, mc, ms, scratch)
        ctx.save_for_backward(x, mc, ms, where_hw, where_c)
        ctx.graphs = (pooled, mc_graph, desc_leaf, ms_graph)
        ctx.ops, ctx.params = ops, params
        ctx.n_channel_params = sum(1 for _ in module.channel.parameters())
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, mc, ms, where_hw, where_c = ctx.saved_tensors
        pooled, mc_graph, desc_leaf, ms_graph = ctx.graphs
        ops, split = ctx.ops, ctx.n_channel_params
        wanted = ctx.needs_input_grad[3:]
        params = ctx.params
        g = g.contiguous(memory_format=_memory_format(x))
        d_ms, scratch = ops.grad_ms(g, x, mc, ms)
        d_desc, *d_spatial = _grads(ms_graph, [desc_leaf], params[split:], wanted[split:], d_ms.view_as(ms_graph))
        d_mc = ops.grad_mc(scratch, x, ms, d_desc, where_c)
        del scratch
        used = [pooled[kind] for kind in ("avg", "max")]
        d_avg, d_mx, *d_channel = _grads(mc_graph, used, params[:split], wanted[:split], d_mc.to(mc_graph.dtype))
        dx = None
        if ctx.needs_input_grad[0]:
            d_pool = tuple(torch.zeros_like(mc) if d is None else d.to(mc.dtype) for d in (d_avg, d_mx))
            dx = ops.grad_input(g, mc, ms, d_desc, where_c, d_pool, where_hw)
        return (dx, None, None, *d_channel, *d_spatial)


def _grads(
    output: torch.Tensor,
    leaves: list[torch.Tensor],
    params: list[torch.Tensor],
    wanted: tuple[bool, ...],
    grad: torch.Tensor,
) -> list[torch.Tensor | None]:
    """Gradients of the recorded small graph for its leaves, then for the parameters that want one."""
    chosen = [p for p, w in zip(params, wanted) if w and p.requires_grad]
    # Retained: the graph is a few small tensors, freed with this Function's node, and a caller
    # may run the outer backward twice (retain_graph=True, gradcheck).
    found = torch.autograd.grad(output, leaves + chosen, grad, retain_graph=True, allow_unused=True)
    by_param = iter(found[len(leaves) :])
    return list(found[: len(leaves)]) + [
        next(by_param) if w and p.requires_grad else None for p, w in zip(params, wanted)
    ]


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    return (
        torch.channels_last
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        else torch.contiguous_format
    )


def fused_cbam(module: nn.Module, x: torch.Tensor, ops: ModuleType) -> torch.Tensor:
    """F * Mc * Ms through the fused passes; an autograd Function only when something needs a gradient."""
    params = [*module.channel.parameters(), *module.spatial.parameters()]
    if not (torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params))):
        return forward_no_grad(module, x, ops)
    return FusedCBAM.apply(x, module, ops, *params)
