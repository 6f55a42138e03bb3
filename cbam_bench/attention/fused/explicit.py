"""The fused CBAM's small parts done by hand, for the compiled CPU path.

recorded.py runs the channel MLP and the spatial convolution, norm and sigmoid through the gate
modules under autograd, and calls torch.autograd.grad twice in the backward: two dozen operators
per gate. Inside a training step each of them cost 10-35 us, whatever its size, against 2-4 us
when called again at once: between two gates the backbone's convolutions have taken the caches
(measured per operator in a cifar_resnet20 step at batch 64, one thread). Here each part is one
compiled call (mlp_cpu.c, norm_cpu.c, through parts_cpu.py) forward and one backward, with the gradients written out: the
MLP's as small matrix products kept in registers, the norm's from two sums over the map. The
MLP's forward runs inside the pooling and descriptor pass (`describe`).

It applies (`parameters_if_applies`) where the gate is built the way attention/ builds it
(Linear, ReLU, Linear; the map convolution to one map; an affine BatchNorm2d, or the
convolution's bias) in float32, and no hook watches those modules, whose hooks these calls would
skip; everywhere else recorded.py does the work. The `ops` and `record` arguments are
recorded.py's, taken so autograd.py calls both alike. Values, gradients and running statistics equal recorded.py's to float
rounding (tests/test_fused_explicit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import torch
from torch import nn
from torch.nn.modules import module as module_hooks

from cbam_bench.attention.fused import parts_cpu
from cbam_bench.attention.map_conv import MapConv2d


def _hooked(modules: tuple[nn.Module, ...]) -> bool:
    if module_hooks._global_forward_hooks or module_hooks._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks for m in modules)


def _own(module: nn.Module) -> list[torch.Tensor]:
    return [p for p in module._parameters.values() if p is not None]


def parameters_if_applies(module: nn.Module, x: torch.Tensor) -> tuple[list, list] | None:
    """The channel gate's and the spatial gate's parameters, in their parameters() order, if this
    CBAM module's small parts can be done by hand for the map x; None if not.

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
    if bn is not None and (type(bn) is not nn.BatchNorm2d or not bn.affine):
        return None
    owned = (_own(first) + _own(second), _own(conv) + (_own(bn) if bn is not None else []))
    tensors = [
        *owned[0],
        *owned[1],
        *((bn.running_mean, bn.running_var) if bn is not None and bn.running_mean is not None else ()),
    ]
    if conv.weight.shape[0] != 1 or not all(t.dtype == torch.float32 and t.is_contiguous() for t in tensors):
        return None
    # A norm of one value in training is torch's error to raise: recorded.py lets it.
    if x.shape[0] * x.shape[2] * x.shape[3] == 1 or _hooked(
        (channel, mlp, first, relu, second, spatial, conv, *((bn,) if bn is not None else ()))
    ):
        return None
    return owned


@dataclass(frozen=True)
class ChannelState:
    """What the channel backward needs, the weights included: the module's own may be others by
    then (torch.func.functional_call puts its parameters back when the forward returns)."""

    pooling: tuple[str, ...]
    pooled: list[torch.Tensor]  # the (N, C) pooled vectors in the gate's pooling order
    hidden: torch.Tensor  # the MLP's hidden layer after its ReLU, (P * N, Hd)
    mc: torch.Tensor  # (N, C)
    weights: tuple[torch.Tensor, torch.Tensor]  # W1, W2 as the forward used them
    biases: tuple[bool, bool]  # whether each layer has a bias


def describe(module: nn.Module, x: torch.Tensor, ops: ModuleType, record: bool) -> tuple:
    """As recorded.describe, in one compiled call: where the MLP's weights are smaller than an
    image, each image is pooled, its Mc computed and its descriptor taken while it is in cache."""
    gate = module.channel
    first, _, second = gate.mlp
    avg, mx, where_hw, hidden, mc, desc, where_c = parts_cpu.pool_mlp_describe(
        x, gate.pooling, first.weight, first.bias, second.weight, second.bias
    )
    pooled = [{"avg": avg, "max": mx}[kind] for kind in gate.pooling]
    state = ChannelState(
        gate.pooling,
        pooled,
        hidden,
        mc,
        (first.weight, second.weight),
        (first.bias is not None, second.bias is not None),
    )
    return mc, desc, where_hw, where_c, None, state


def channel_backward(
    state: ChannelState, d_mc: torch.Tensor, wanted: tuple[bool, ...], params: list[torch.Tensor]
) -> tuple[dict[str, torch.Tensor | None], list[torch.Tensor | None]]:
    """dL/d(pooled vector) by kind, and the MLP's gradients in parameter order (None where not
    wanted; `params` as recorded.py takes them, the weights being in `state`)."""
    d_pooled, grads = parts_cpu.mlp_backward(state.pooled, state.weights, state.biases, state.hidden, state.mc, d_mc)
    return dict(zip(state.pooling, d_pooled)), _wanted([g for g in grads if g is not None], wanted)


@dataclass(frozen=True)
class SpatialState:
    desc: torch.Tensor  # the convolution's input, (N, 2, H, W)
    z: torch.Tensor  # its output, (N, 1, H, W)
    ms: torch.Tensor  # (N, 1, H, W)
    mode: int  # how the norm normalised (parts_cpu.NO_NORM, ...)
    used: torch.Tensor  # the statistics it used
    weight: torch.Tensor  # the convolution's, as the forward used it (see ChannelState)
    conv_bias: bool  # whether the convolution has a bias (the gate has no norm)


def _mode(bn: nn.BatchNorm2d | None) -> int:
    if bn is None:
        return parts_cpu.NO_NORM
    if bn.training and bn.track_running_stats:
        return parts_cpu.BATCH_STATS_KEPT
    return parts_cpu.BATCH_STATS if bn.training or not bn.track_running_stats else parts_cpu.RUNNING_STATS


def spatial_forward(gate: nn.Module, desc: torch.Tensor, record: bool) -> tuple[torch.Tensor, SpatialState]:
    """Ms as (N, 1, H, W): the convolution, then the norm as BatchNorm2d computes it, then the sigmoid."""
    mode = _mode(gate.bn)
    z, ms, used = parts_cpu.spatial_forward(desc, gate.conv.weight, mode, gate.bn, gate.conv.bias)
    return ms, SpatialState(desc, z, ms, mode, used, gate.conv.weight, gate.conv.bias is not None)


def spatial_backward(
    state: SpatialState, d_ms: torch.Tensor, wanted: tuple[bool, ...], params: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """dL/d(descriptor), and the convolution's and norm's gradients in parameter order."""
    norm = state.mode != parts_cpu.NO_NORM
    # parameter order: conv.weight, then conv.bias (no norm) or the norm's weight and bias
    want = (wanted[1], wanted[2]) if norm else (False, state.conv_bias and wanted[1])
    saved = (state.desc, state.z, state.ms, state.used)
    d_desc, d_conv, d_weight, d_bias = parts_cpu.spatial_backward(d_ms, saved, state.weight, state.mode, want)
    grads = [d_conv, d_weight, d_bias] if norm else [d_conv] + ([d_bias] if state.conv_bias else [])
    return d_desc, _wanted(grads, wanted)


def _wanted(grads: list[torch.Tensor | None], wanted: tuple[bool, ...]) -> list[torch.Tensor | None]:
    """`grads`, in the gate's parameter order, kept where wanted (the Function's needs_input_grad:
    False for a parameter that takes no gradient)."""
    return [g if w else None for g, w in zip(grads, wanted)]
