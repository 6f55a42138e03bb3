"""The spatial gate's convolution (a few maps to one, k x k) with a backward that is fast on the CPU.

oneDNN's own backward for a convolution this thin is several times slower than its forward: at
64 x 2 x 20 x 20 with k = 7 it takes about as long as the backbone's 16 -> 16 3x3 convolution at that
size, for a twentieth of the multiply-adds. Both gradients are themselves plain convolutions, which oneDNN
runs well:

- input:  the output gradient correlated with the kernel turned 180 degrees, maps and output swapped;
- weight: each input map correlated with the output gradient, the batch summed as channels.

`benchmarks/attention_backward.py` measures the difference. The result is the same convolution: the
values and gradients agree with `F.conv2d`'s to float rounding (tests/test_attention.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class _MapConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias, padding=padding)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv2d(grad, weight.flip(-1, -2).transpose(0, 1), padding=ctx.padding)
        if ctx.needs_input_grad[1]:
            # (maps, batch, H, W) correlated with (out, batch, H, W): the batch is summed as channels.
            grad_weight = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1), padding=ctx.padding).transpose(0, 1)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=(0, 2, 3))
        return grad_x, grad_weight, grad_bias, None


def map_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)`, through the fast backward when training on the CPU.

    Anywhere else (CUDA, no_grad, a jit trace such as fvcore's count) it is `conv(x)` itself, so
    the operator counters see an ordinary convolution.
    """
    plain = conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros"
    square = isinstance(conv.padding, tuple) and conv.padding[0] == conv.padding[1]
    if not (plain and square) or x.device.type != "cpu" or not torch.is_grad_enabled() or torch.jit.is_tracing():
        return conv(x)
    return _MapConv.apply(x, conv.weight, conv.bias, conv.padding[0])
