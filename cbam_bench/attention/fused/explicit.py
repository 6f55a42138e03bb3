"""The fused CBAM done by hand: the whole gate as one compiled call forward and one backward on the
CPU (gate_cpu.c, through gate_cpu.py), or a few Triton kernels each way on CUDA (gate_triton.py),
with the gradients written out.

recorded.py runs the channel MLP and the spatial convolution, norm and sigmoid through the gate
modules under autograd, and calls torch.autograd.grad twice in the backward: two dozen operators
per gate. Inside a training step each of them cost 10-35 us, whatever its size, against 2-4 us
when called again at once: between two gates the backbone's convolutions have taken the caches
(measured per operator in a cifar_resnet20 step at batch 64, one thread). The same held for the
Python around eight compiled calls per gate, each with the tensors it fills; so the passes run in
one call each way, all they keep for the backward in one state tensor. The MLP's gradients are
small matrix products kept in registers, the norm's two sums over the map. On a GPU each of those
operators is a kernel, and inside a CUDA graph a kernel costs a few microseconds whatever its size.

It applies (`gate_if_applies`) where the gate is built the way attention/ builds it
(Linear, ReLU, Linear; the map convolution to one map; an affine BatchNorm2d, or the
convolution's bias) with float32 parameters, and no hook watches those modules, whose hooks these
calls would skip; everywhere else autograd.py's FusedCBAM runs recorded.py. Values, gradients and
running statistics equal recorded.py's to float rounding (tests/test_fused_explicit.py,
tests/test_fused_kernels.py).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as module_hooks

from cbam_bench.attention.fused import gate_cpu
from cbam_bench.attention.map_conv import MapConv2d


def _hooked(modules: tuple[nn.Module, ...]) -> bool:
    if module_hooks._global_forward_hooks or module_hooks._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks for m in modules)


def _own(module: nn.Module) -> list[torch.Tensor]:
    return [p for p in module._parameters.values() if p is not None]


def gate_if_applies(module: nn.Module, x: torch.Tensor) -> tuple[gate_cpu.Gate, list[torch.Tensor]] | None:
    """How this CBAM module's gate is built and its parameters in parameters() order, if the
    compiled calls can do the whole gate for the map x; None if not.

    The gate's modules and parameters are read from their own dictionaries (torch's registries,
    so a swapped parameter, as torch.func.functional_call swaps them, is the one read): walking
    parameters() twice and checking the list took about 17 us per gate call, alone."""
    channel, spatial = module._modules["channel"], module._modules["spatial"]
    mlp, conv, bn = channel._modules.get("mlp"), spatial._modules.get("conv"), spatial._modules.get("bn")
    if type(mlp) is not nn.Sequential or len(mlp._modules) != 3 or type(conv) is not MapConv2d:
        return None
    first, relu, second = mlp._modules.values()
    if type(first) is not nn.Linear or type(relu) is not nn.ReLU or type(second) is not nn.Linear:
        return None
    if channel._parameters or spatial._parameters or spatial.compress is not None:
        return None
    if bn is not None and (type(bn) is not nn.BatchNorm2d or not bn.affine or conv.bias is not None):
        return None
    params = _own(first) + _own(second) + _own(conv) + (_own(bn) if bn is not None else [])
    stats = (bn.running_mean, bn.running_var) if bn is not None and bn.running_mean is not None else ()
    weight = conv._parameters["weight"]
    if weight.shape[0] != 1 or not all(t.dtype == torch.float32 and t.is_contiguous() for t in (*params, *stats)):
        return None
    # A norm of one value in training is torch's error to raise: recorded.py lets it.
    if x.shape[0] * x.shape[2] * x.shape[3] == 1 or _hooked(
        (channel, mlp, first, relu, second, spatial, conv, *((bn,) if bn is not None else ()))
    ):
        return None
    biases = (first._parameters["bias"] is not None, second._parameters["bias"] is not None)
    built = (*biases, conv._parameters["bias"] is not None)
    hidden = first._parameters["weight"].shape[0]
    return gate_cpu.Gate(tuple(channel.pooling), hidden, weight.shape[-1], built, bn, _mode(bn)), params


def _mode(bn: nn.BatchNorm2d | None) -> int:
    if bn is None:
        return gate_cpu.NO_NORM
    if bn.training and bn.track_running_stats:
        return gate_cpu.BATCH_STATS_KEPT
    return gate_cpu.BATCH_STATS if bn.training or not bn.track_running_stats else gate_cpu.RUNNING_STATS


class CompiledCBAM(torch.autograd.Function):
    """apply(x, gate, backend, *params) -> F * Mc * Ms, `params` as gate_if_applies lists them;
    `backend` the module whose forward and backward run the whole gate (gate_cpu, gate_triton)."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, gate: gate_cpu.Gate, backend: ModuleType, *params: torch.Tensor
    ) -> torch.Tensor:
        out, saved = backend.forward(x, gate, params)
        ctx.save_for_backward(x, *saved)
        # The parameters as the forward used them: torch.func.functional_call puts the module's
        # own back when the forward returns, and the backward must differentiate these.
        ctx.gate, ctx.backend, ctx.params = gate, backend, params
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, *saved = ctx.saved_tensors
        dx, grads = ctx.backend.backward(g, x, tuple(saved), ctx.gate, ctx.params, ctx.needs_input_grad[0])
        return (dx, None, None, *(d if want else None for d, want in zip(grads, ctx.needs_input_grad[3:])))


def compiled_cbam(
    x: torch.Tensor, gate: gate_cpu.Gate, params: list[torch.Tensor], backend: ModuleType = gate_cpu
) -> torch.Tensor:
    """F * Mc * Ms for a gate gate_if_applies accepted; an autograd Function only when something
    needs a gradient (a norm in training moves its running statistics either way)."""
    if not (torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params))):
        return backend.forward(x, gate, params)[0]
    return CompiledCBAM.apply(x, gate, backend, *params)
