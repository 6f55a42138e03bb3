"""The whole gate's two compiled calls (gate_cpu.c) for explicit.py, through cpu.py's library.

Float32 and contiguous throughout (explicit.gate_if_applies checks the parameters). The
forward returns its output and the one state tensor the backward reads; the backward allocates
dL/dx and every parameter's gradient and fills them in one call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from cbam_bench.attention.fused.cpu import call, library

# How the spatial gate normalises (passes.h's enum).
NO_NORM, BATCH_STATS, BATCH_STATS_KEPT, RUNNING_STATS = range(4)


class Gate(NamedTuple):
    """How one CBAM gate is built, as the two calls take it (a tuple: one is made at every call,
    a third of a frozen dataclass's cost)."""

    pooling: tuple[str, ...]  # the channel gate's pooled vectors, in order
    hidden: int  # the MLP's hidden width
    kernel: int  # the spatial convolution's size
    biases: tuple[bool, bool, bool]  # whether the MLP's two layers and the convolution have one
    norm: nn.BatchNorm2d | None  # the spatial gate's norm (None: the convolution's bias, if any)
    mode: int  # how the norm normalises in this call


@functools.lru_cache(maxsize=512)
def _state_floats(n: int, c: int, hw: int, pools: int, hidden: int) -> int:
    return library().cbam_gate_state_floats(n, c, hw, pools, hidden)


def _slots(gate: Gate) -> tuple[bool, ...]:
    """Which of W1, b1, W2, b2, the convolution's weight and bias, the norm's weight and bias the
    gate has: the one statement of gate_if_applies' parameter order."""
    norm = gate.norm is not None
    return True, gate.biases[0], True, gate.biases[1], True, gate.biases[2], norm, norm


def named(tensors: Sequence, gate: Gate) -> tuple:
    """The parameters (or their gradients) in gate_if_applies' order, as W1, b1, W2, b2, the
    convolution's weight and bias, the norm's weight and bias: None for one the gate has not."""
    it = iter(tensors)
    return tuple(next(it) if present else None for present in _slots(gate))


def listed(slots: Sequence, gate: Gate) -> list:
    """named's inverse: of the eight slots, those the gate has, in gate_if_applies' order."""
    return [value for value, present in zip(slots, _slots(gate)) if present]


def _shape(x: torch.Tensor, gate: Gate) -> tuple:
    n, c, h, w = x.shape
    return n, c, h, w, len(gate.pooling), int(gate.pooling[0] == "max"), gate.hidden


def forward(x: torch.Tensor, gate: Gate, params: list[torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor]]:
    """F * Mc * Ms, and what `backward` reads (the one state tensor); a norm in BATCH_STATS_KEPT
    moves its running statistics."""
    n, c, h, w, pools, first_is_max, hidden = shape = _shape(x, gate)
    w1, b1, w2, b2, conv_w, conv_b, norm_w, norm_b = named(params, gate)
    norm, stats = gate.norm, (None, None, None, 0.0, 0.0)
    if norm is not None:
        momentum = -1.0 if norm.momentum is None else norm.momentum
        stats = (norm.running_mean, norm.running_var, norm.num_batches_tracked, momentum, norm.eps)
    state, out = torch.empty(_state_floats(n, c, h * w, pools, hidden)), torch.empty_like(x)
    call(
        "cbam_gate_forward", x, *shape, w1, b1, w2, b2, gate.kernel, conv_w, conv_b, gate.mode, norm_w, norm_b,
        *stats, state, out,
    )  # fmt: skip
    return out, (state,)


def backward(
    g: torch.Tensor, x: torch.Tensor, saved: tuple[torch.Tensor], gate: Gate, params: list[torch.Tensor], want_dx: bool
) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """dL/dx (None unless wanted) and the gradient of every parameter in `params`, from dL/d(output) `g`."""
    (state,), g = saved, g.contiguous()
    w1, _, w2, _, conv_w, *_ = named(params, gate)
    dx = torch.empty_like(x) if want_dx else None
    grads = [torch.empty_like(p) for p in params]
    d_w1, d_b1, d_w2, d_b2, d_conv, d_conv_b, d_norm_w, d_norm_b = named(grads, gate)
    last = d_conv_b if gate.norm is None else d_norm_b
    call(
        "cbam_gate_backward", g, x, state, *_shape(x, gate), w1, w2, gate.kernel, conv_w, gate.mode, dx,
        d_w1, d_b1, d_w2, d_b2, d_conv, d_norm_w, last,
    )  # fmt: skip
    return dx, grads
