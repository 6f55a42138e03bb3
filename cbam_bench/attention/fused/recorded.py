"""The fused CBAM's small parts through the gate modules themselves, differentiated by autograd.

The channel MLP on the pooled vectors and the spatial convolution and norm on the 2-map
descriptor are the gate modules' own calls, recorded by autograd on detached inputs during the
forward and differentiated in the backward by torch.autograd.grad: batch-norm statistics update
once, every parameter gets its gradient through the ordinary engine, and hooks on those modules
fire. autograd.py's FusedCBAM calls them, on every backend, wherever explicit.py's compiled whole
gate does not apply: `describe` the forward up to the spatial gate, `spatial_forward` and the two
backwards.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import nn

from cbam_bench.attention.fused.torch_ops import map_dtype


def describe(module: nn.Module, x: torch.Tensor, ops: ModuleType, record: bool) -> tuple:
    """The forward up to the spatial gate: Mc (N, C) in map_dtype, the descriptor, where_hw, where_c,
    the passes' scratch, and what channel_backward needs (the MLP recorded when `record`)."""
    avg, mx, where_hw = ops.pool(x)
    gate = module.channel
    with torch.enable_grad() if record else torch.no_grad():
        leaves = {"avg": avg.detach().requires_grad_(record), "max": mx.detach().requires_grad_(record)}
        mc_graph = torch.sigmoid(gate.scores(torch.cat([leaves[kind] for kind in gate.pooling], dim=0)))
    mc = mc_graph.detach().to(map_dtype(x))
    desc, where_c, scratch = ops.describe(x, mc)
    return mc, desc, where_hw, where_c, scratch, (leaves, mc_graph)


def spatial_forward(gate: nn.Module, desc: torch.Tensor, record: bool) -> tuple[torch.Tensor, Any]:
    """Ms as (N, 1, H, W) from the (N, 2, H, W) descriptor, and what spatial_backward needs."""
    with torch.enable_grad() if record else torch.no_grad():
        leaf = desc.detach().requires_grad_(record)
        ms = torch.sigmoid(gate.descriptor_logits(leaf))
    return ms.detach(), (leaf, ms)


def spatial_backward(
    state: Any, d_ms: torch.Tensor, wanted: tuple[bool, ...], params: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """dL/d(descriptor), and the gradients of `params`, the gate's parameters as the forward used
    them (None where not `wanted`)."""
    leaf, ms = state
    d_desc, *grads = _grads(ms, [leaf], params, wanted, d_ms.view_as(ms).to(ms.dtype))
    return d_desc, grads


def channel_backward(
    state: Any, d_mc: torch.Tensor, wanted: tuple[bool, ...], params: list[torch.Tensor]
) -> tuple[dict[str, torch.Tensor | None], list[torch.Tensor | None]]:
    """dL/d(pooled vector) by pooling kind (None for a kind the gate does not use), and the gradients of `params`."""
    leaves, mc = state
    kinds = list(leaves)
    found = _grads(mc, [leaves[k] for k in kinds], params, wanted, d_mc.to(mc.dtype))
    return dict(zip(kinds, found[: len(kinds)])), found[len(kinds) :]


def _grads(
    output: torch.Tensor,
    leaves: list[torch.Tensor],
    params: list[torch.Tensor],
    wanted: tuple[bool, ...],
    grad: torch.Tensor,
) -> list[torch.Tensor | None]:
    """Gradients of the recorded small graph for its leaves, then for the parameters that want one."""
    chosen = [p for p, w in zip(params, wanted) if w and p.requires_grad]
    # Retained: the graph is a few small tensors, freed with the Function's node, and a caller
    # may run the outer backward twice (retain_graph=True, gradcheck).
    found = torch.autograd.grad(output, leaves + chosen, grad, retain_graph=True, allow_unused=True)
    by_param = iter(found[len(leaves) :])
    return list(found[: len(leaves)]) + [
        next(by_param) if w and p.requires_grad else None for p, w in zip(params, wanted)
    ]
