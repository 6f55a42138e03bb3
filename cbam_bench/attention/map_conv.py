"""The spatial gate's convolution (a few maps to one, k x k) with a backward that is fast on the CPU.

oneDNN's own backward for a convolution this thin is several times slower than its forward: at
64 x 2 x 20 x 20 with k = 7 it takes about as long as the backbone's 16 -> 16 3x3 convolution at that
size, for a twentieth of the multiply-adds. Both gradients are themselves plain convolutions, which oneDNN
runs well:

- input:  the output gradient correlated with the kernel turned 180 degrees, maps and output swapped;
- weight: each input map correlated with the output gradient, the batch summed as channels.

For a batch of a few images (latency at batch 1, say) oneDNN's set-up costs more than the work:
a 7x7 convolution of two 5x5 maps takes about 70 us through it and 10 us through the native
convolution, so small batches go there instead.

Where the compiled CBAM passes are built (fused/cpu.py), a float32 convolution to one map and both
its gradients run there instead, at every batch: each output row is built in vector registers from
a zero-padded copy of the image, one load and one multiply-add per tap and vector. Forward and
backward at 64 x 2 x 32 x 32, k = 7, one thread: 0.87 ms against oneDNN's 12.6 ms.

`benchmarks/attention_speed.py` measures the difference. The result is the same convolution: the
values and gradients agree with `F.conv2d`'s to float rounding (tests/test_attention.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from cbam_bench.attention.fused import cpu

# Up to this many images the native convolution beats oneDNN's per-call set-up, at every map size
# tried (5x5 to 112x112, k 3 and 7, 1 and 2 threads); by 16 images oneDNN is ahead.
SMALL_BATCH = 4


def _compiled(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return weight.shape[0] == 1 and weight.dtype == torch.float32 and cpu.fits(x)


def _conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
    """F.conv2d, stride 1, through whichever CPU implementation is faster at this batch."""
    if _compiled(x, weight):
        out = cpu.map_conv(x, weight)
        return out if bias is None else out + bias.view(1, -1, 1, 1)
    if x.shape[0] <= SMALL_BATCH and x.dtype in (torch.float32, torch.float64):
        return torch._C._nn.thnn_conv2d(x, weight, tuple(weight.shape[-2:]), bias, (1, 1), (padding, padding))
    return F.conv2d(x, weight, bias, padding=padding)


class _MapConv(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        ctx.has_bias = bias is not None
        return _conv(x, weight, bias, padding)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = grad_weight = grad_bias = None
        if _compiled(x, weight):
            grad_x, grad_weight = cpu.map_conv_grads(x, weight, grad)
        elif ctx.needs_input_grad[0]:
            grad_x = _conv(grad, weight.flip(-1, -2).transpose(0, 1).contiguous(), None, ctx.padding)
        if ctx.needs_input_grad[1] and grad_weight is None:
            # (maps, batch, H, W) correlated with (out, batch, H, W): the batch is summed as channels.
            grad_weight = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1), padding=ctx.padding).transpose(0, 1)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=(0, 2, 3))
        return grad_x, grad_weight, grad_bias, None


def _operators_watched(x: torch.Tensor) -> bool:
    # An fx Proxy is not a tensor: symbolic tracing (feature extractors too) records the plain call.
    if not isinstance(x, torch.Tensor):
        return True
    return torch.jit.is_tracing() or torch.compiler.is_compiling() or is_in_torch_dispatch_mode()


class MapConv2d(nn.Conv2d):
    """An nn.Conv2d that computes itself the fastest way on the CPU: the own backward when training,
    the native convolution for a few images.

    The fast path lives in this module's own forward, so forward hooks on it fire and hook-based
    counters see it. On CUDA, and wherever something watches the operators (fvcore's jit trace,
    torch.compile and torch.export, a dispatch mode such as torch's FlopCounterMode, fx tracing), it
    is nn.Conv2d's forward, so they see an ordinary convolution. Under CPU autocast too: autocast
    casts inside the forward but not in a custom backward, whose gradient would then meet a weight of
    another dtype.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _operators_watched(x) or not self._fast_path_fits(x):
            return super().forward(x)
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return _MapConv.apply(x, self.weight, self.bias, self.padding[0])
        return _conv(x, self.weight, self.bias, self.padding[0])

    def _fast_path_fits(self, x: torch.Tensor) -> bool:
        plain = self.stride == (1, 1) and self.dilation == (1, 1) and self.groups == 1 and self.padding_mode == "zeros"
        # The gradient formulas assume a square, odd kernel with "same" padding, as the spatial gate's is.
        k = self.kernel_size[0]
        same = k % 2 == 1 and self.kernel_size == (k, k) and self.padding == (k // 2, k // 2)
        return plain and same and x.device.type == "cpu" and not torch.is_autocast_enabled("cpu")
