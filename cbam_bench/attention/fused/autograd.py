"""CBAM in channel-then-spatial order as one autograd Function that keeps only F, Mc and Ms.

Autograd, left to the formula, keeps every map-sized intermediate (F * Mc, the descriptor's
inputs, the sigmoid's outputs) and runs a pass over the map for each piece of the chain rule. This
Function does the map-sized work in a few passes (`ops`: torch_ops on the CPU, triton_ops on
CUDA, cpu where compiled) and saves only F, the two maps and where each maximum was. The small
parts in between (the channel MLP on the pooled vectors, the spatial convolution and norm on the
2-map descriptor) run through the gate modules under autograd (recorded.py), so their hooks
fire; batch-norm statistics update once. Where the compiled CPU passes or the Triton kernels take
the whole gate (explicit.py says when), `fused_cbam` hands it to explicit.py instead: gate_cpu.py
or gate_triton.py.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import nn  # the CBAM module itself: attention/cbam.py imports this file

from cbam_bench.attention.fused import cpu, explicit, gate_cpu, recorded, torch_ops


def _forward(module: nn.Module, x: torch.Tensor, ops: ModuleType, record: bool) -> tuple:
    """F * Mc * Ms, and what the backward needs."""
    mc, desc, where_hw, where_c, scratch, channel_state = recorded.describe(module, x, ops, record)
    ms, spatial_state = recorded.spatial_forward(module.spatial, desc, record)
    ms = (ms if ms.dtype == mc.dtype else ms.to(mc.dtype)).view(x.shape[0], *x.shape[2:])
    out = ops.gate(x, mc, ms, scratch)
    return out, (mc, ms, where_hw, where_c), (channel_state, spatial_state)


class FusedCBAM(torch.autograd.Function):
    """apply(x, module, ops, n, *module parameters) -> F * Mc * Ms; the first n parameters are the channel gate's."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, module: nn.Module, ops: ModuleType, n: int, *params: torch.Tensor
    ) -> torch.Tensor:
        out, maps, states = _forward(module, x, ops, record=True)
        ctx.save_for_backward(x, *maps)
        ctx.states, ctx.ops = states, ops
        ctx.n_channel_params, ctx.params = n, params
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, mc, ms, where_hw, where_c = ctx.saved_tensors
        (channel_state, spatial_state), ops = ctx.states, ctx.ops
        split, wanted = ctx.n_channel_params, ctx.needs_input_grad[4:]
        g = g.contiguous(memory_format=torch_ops.memory_format(x))
        d_ms, scratch = ops.grad_ms(g, x, mc, ms)
        params = ctx.params  # as the forward used them: the module's may have been swapped back since
        d_desc, d_spatial = recorded.spatial_backward(spatial_state, d_ms, wanted[split:], params[split:])
        d_mc = ops.grad_mc(scratch, x, ms, d_desc, where_c)
        del scratch
        d_pooled, d_channel = recorded.channel_backward(channel_state, d_mc, wanted[:split], params[:split])
        dx = None
        if ctx.needs_input_grad[0]:
            d_pool = tuple(_as_map(d_pooled.get(kind), mc) for kind in ("avg", "max"))
            dx = ops.grad_input(g, mc, ms, d_desc, where_c, d_pool, where_hw)
        return (dx, None, None, None, *d_channel, *d_spatial)


def _as_map(d: torch.Tensor | None, mc: torch.Tensor) -> torch.Tensor:
    """A pooled vector's gradient as the passes take it: mc's dtype, zeros for a pool the gate does not use."""
    if d is None:
        return torch.zeros_like(mc)
    return d if d.dtype == mc.dtype else d.to(mc.dtype)


def _whole_gate(ops: ModuleType) -> ModuleType | None:
    """The module that runs the whole gate (explicit.py) where these passes run, if there is one."""
    if ops is cpu:
        return gate_cpu
    if ops.__name__.endswith(".triton_ops"):  # imported only where Triton is
        from cbam_bench.attention.fused import gate_triton

        return gate_triton
    return None


def fused_cbam(module: nn.Module, x: torch.Tensor, ops: ModuleType) -> torch.Tensor:
    """F * Mc * Ms through the fused passes; an autograd Function only when something needs a gradient."""
    backend = _whole_gate(ops)
    compiled = explicit.gate_if_applies(module, x) if backend is not None else None
    if compiled is not None:
        return explicit.compiled_cbam(x, *compiled, backend)
    channel, spatial = list(module.channel.parameters()), list(module.spatial.parameters())
    params = channel + spatial
    if not (torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params))):
        return _forward(module, x, ops, record=False)[0]
    return FusedCBAM.apply(x, module, ops, len(channel), *params)
