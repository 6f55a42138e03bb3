"""The fused CBAM's small parts done by hand, for the compiled CPU path.

recorded.py runs the channel MLP and the spatial convolution, norm and sigmoid through the gate
modules under autograd, and calls torch.autograd.grad twice in the backward: two dozen operators
per gate. Inside a training step each of them cost 10-35 us, whatever its size, against 2-4 us
when called again at once: between two gates the backbone's convolutions have taken the caches
(measured per operator in a cifar_resnet20 step at batch 64, one thread). Here each part is one
compiled call (explicit_cpu.c) forward and one backward, with the gradients written out: the
MLP's as small matrix products kept in registers, the norm's from two sums over the map. The
MLP's forward runs inside the pooling and descriptor pass (`describe`).

It applies (`applies`) where the gate is built the way attention/ builds it (Linear, ReLU,
Linear; the map convolution to one map; an affine BatchNorm2d, or the convolution's bias) in
float32, and no hook watches those modules, whose hooks these calls would skip; everywhere else
recorded.py does the work. Values, gradients and running statistics equal recorded.py's to float
rounding (tests/test_fused_explicit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import torch
from torch import nn
from torch.nn.modules import module as module_hooks

from cbam_bench.attention.fused import cpu
from cbam_bench.attention.map_conv import MapConv2d


def _hooked(modules: list[nn.Module]) -> bool:
    if module_hooks._global_forward_hooks or module_hooks._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks for m in modules)


def applies(module: nn.Module, x: torch.Tensor, params: list[torch.Tensor]) -> bool:
    """Whether this CBAM module's small parts can be done by hand for the map x (`params`: the
    module's parameters, which the caller has already listed)."""
    channel, spatial = module.channel, module.spatial
    mlp, conv, bn = channel.mlp, spatial.conv, spatial.bn
    built = (
        type(mlp) is nn.Sequential
        and [type(m) for m in mlp] == [nn.Linear, nn.ReLU, nn.Linear]
        and spatial.compress is None
        and type(conv) is MapConv2d
        and conv.weight.shape[0] == 1
        and (bn is None or (type(bn) is nn.BatchNorm2d and bn.affine))
        and all(p.dtype == torch.float32 and p.is_contiguous() for p in params)
        and (bn is None or all(s is None or s.dtype == torch.float32 for s in (bn.running_mean, bn.running_var)))
    )
    # A norm of one value in training is torch's error to raise: recorded.py lets it.
    one_value = x.shape[0] * x.shape[2] * x.shape[3] == 1
    return built and not one_value and not _hooked([channel, mlp, *mlp, spatial, conv, *([bn] if bn else [])])


@dataclass(frozen=True)
class ChannelState:
    pooled: list[torch.Tensor]  # the (N, C) pooled vectors in the gate's pooling order
    hidden: torch.Tensor  # the MLP's hidden layer after its ReLU, (P * N, Hd)
    mc: torch.Tensor  # (N, C)


def describe(module: nn.Module, x: torch.Tensor, ops: ModuleType, record: bool) -> tuple:
    """As recorded.describe, in one compiled call: where the MLP's weights are smaller than an
    image, each image is pooled, its Mc computed and its descriptor taken while it is in cache."""
    gate = module.channel
    first, _, second = gate.mlp
    avg, mx, where_hw, hidden, mc, desc, where_c = cpu.pool_mlp_describe(
        x, gate.pooling, first.weight, first.bias, second.weight, second.bias
    )
    pooled = [{"avg": avg, "max": mx}[kind] for kind in gate.pooling]
    return mc, desc, where_hw, where_c, None, ChannelState(pooled, hidden, mc)


def channel_backward(
    gate: nn.Module, state: ChannelState, d_mc: torch.Tensor, wanted: tuple[bool, ...]
) -> tuple[dict[str, torch.Tensor | None], list[torch.Tensor | None]]:
    """dL/d(pooled vector) by kind, and the MLP's gradients in parameter order (None where not wanted)."""
    first, _, second = gate.mlp
    biases = (first.bias is not None, second.bias is not None)
    d_pooled, grads = cpu.mlp_backward(
        state.pooled, (first.weight, second.weight), biases, state.hidden, state.mc, d_mc
    )
    return dict(zip(gate.pooling, d_pooled)), _wanted([g for g in grads if g is not None], wanted)


@dataclass(frozen=True)
class SpatialState:
    desc: torch.Tensor  # the convolution's input, (N, 2, H, W)
    z: torch.Tensor  # its output, (N, 1, H, W)
    ms: torch.Tensor  # (N, 1, H, W)
    mode: int  # how the norm normalised (cpu.NO_NORM, ...)
    used: torch.Tensor  # the statistics it used


def _mode(bn: nn.BatchNorm2d | None) -> int:
    if bn is None:
        return cpu.NO_NORM
    if bn.training and bn.track_running_stats:
        return cpu.BATCH_STATS_KEPT
    return cpu.BATCH_STATS if bn.training or not bn.track_running_stats else cpu.RUNNING_STATS


def spatial_forward(gate: nn.Module, desc: torch.Tensor, record: bool) -> tuple[torch.Tensor, SpatialState]:
    """Ms as (N, 1, H, W): the convolution, then the norm as BatchNorm2d computes it, then the sigmoid."""
    z = cpu.map_conv(desc, gate.conv.weight)
    mode = _mode(gate.bn)
    ms, used = cpu.norm_sigmoid(z, mode, gate.bn, gate.conv.bias)
    return ms, SpatialState(desc, z, ms, mode, used)


def spatial_backward(
    gate: nn.Module, state: SpatialState, d_ms: torch.Tensor, wanted: tuple[bool, ...]
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """dL/d(descriptor), and the convolution's and norm's gradients in parameter order."""
    conv, bn = gate.conv, gate.bn
    # parameter order: conv.weight, then conv.bias (no norm) or the norm's weight and bias
    want = (wanted[1], wanted[2]) if bn is not None else (False, len(wanted) > 1 and wanted[1])
    dz, d_weight, d_bias = cpu.norm_sigmoid_grad(d_ms, state.ms, state.z, state.mode, state.used, want)
    d_desc, d_conv = cpu.map_conv_grads(state.desc, conv.weight, dz)
    grads = [d_conv, d_weight, d_bias] if bn is not None else [d_conv] + ([d_bias] if conv.bias is not None else [])
    return d_desc, _wanted(grads, wanted)


def _wanted(grads: list[torch.Tensor | None], wanted: tuple[bool, ...]) -> list[torch.Tensor | None]:
    """`grads`, in the gate's parameter order, kept where wanted (the Function's needs_input_grad:
    False for a parameter that takes no gradient)."""
    return [g if w else None for g, w in zip(grads, wanted)]
