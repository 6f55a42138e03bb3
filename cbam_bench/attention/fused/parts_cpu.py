"""The compiled small parts' calls (mlp_cpu.c, norm_cpu.c) for explicit.py, through cpu.py's library.

Each function allocates its outputs and runs one compiled call: the MLP with the pooling and
descriptor passes around it, the MLP's backward, and the spatial gate after its descriptor both
ways. Float32 and contiguous throughout (explicit.parameters_if_applies checks the parameters).
"""

from __future__ import annotations

import torch

from cbam_bench.attention.fused.cpu import call


def pool_mlp_describe(
    x: torch.Tensor,
    pooling: tuple[str, ...],
    w1: torch.Tensor,
    b1: torch.Tensor | None,
    w2: torch.Tensor,
    b2: torch.Tensor | None,
) -> tuple[torch.Tensor, ...]:
    """pool, the channel MLP on the pooled vectors `pooling` names (summed, then the sigmoid) and
    describe in one call, image by image where the weights are smaller than an image: avg, mx,
    where_hw, the MLP's hidden layer after its ReLU ((P * N, Hd), pooling order), Mc, the
    descriptor and where_c."""
    n, c, h, w = x.shape
    avg, mx, where_hw = torch.empty(n, c), torch.empty(n, c), torch.empty(n, c, dtype=torch.int64)
    hidden, mc = torch.empty(len(pooling) * n, w1.shape[0]), torch.empty(n, c)
    desc, where_c = torch.empty(n, 2, *x.shape[2:]), torch.empty(n, 1, *x.shape[2:], dtype=torch.int32)
    first_is_max = int(pooling[0] == "max")
    maps = (avg, mx, where_hw, hidden, mc, desc, where_c)
    call("cbam_pool_mlp_describe", x, n, c, h * w, len(pooling), first_is_max, w1.shape[0], w1, b1, w2, b2, *maps)
    return maps


def mlp_backward(
    pooled: list[torch.Tensor],
    weights: tuple[torch.Tensor, torch.Tensor],
    biases: tuple[bool, bool],
    hidden: torch.Tensor,
    mc: torch.Tensor,
    d_mc: torch.Tensor,
) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """dL/d(each pooled vector), and the gradients of W1, b1, W2, b2 (None for a bias it has not)."""
    (n, c), (w1, w2) = pooled[0].shape, weights
    d_pooled = [torch.empty(n, c) for _ in pooled]
    grads = [torch.empty_like(w1), torch.empty(w1.shape[0]) if biases[0] else None, torch.empty_like(w2)]
    grads.append(torch.empty(c) if biases[1] else None)
    second = (pooled[1], d_pooled[1]) if len(pooled) > 1 else (None, None)
    call(
        "cbam_mlp_backward", pooled[0], second[0], len(pooled), n, c, w1.shape[0], w1, w2, hidden, mc,
        d_mc.contiguous(), d_pooled[0], second[1], *grads,
    )  # fmt: skip
    return d_pooled, grads


# How the spatial calls normalise (norm_cpu.c's enum).
NO_NORM, BATCH_STATS, BATCH_STATS_KEPT, RUNNING_STATS = range(4)


def _norm_args(norm: torch.nn.Module | None, bias: torch.Tensor | None) -> tuple:
    if norm is None:
        return None, bias, None, None, None, 0.0, 0.0
    momentum = -1.0 if norm.momentum is None else norm.momentum
    stats = (norm.running_mean, norm.running_var, norm.num_batches_tracked)
    return norm.weight, norm.bias, *stats, momentum, norm.eps


def spatial_forward(
    desc: torch.Tensor, weight: torch.Tensor, mode: int, norm: torch.nn.Module | None, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The spatial gate from its (N, 2, H, W) descriptor on, in one call: the convolution's output z,
    Ms = sigmoid(norm(z)) (sigmoid(z + bias) with NO_NORM; BATCH_STATS_KEPT moves the norm's
    running statistics), and the statistics used, for spatial_backward."""
    n, _, h, w = desc.shape
    z = torch.empty(n, 1, h, w)
    ms, used = torch.empty_like(z), torch.empty(3, dtype=torch.float64)
    call("cbam_spatial_forward", desc, n, h, w, weight.shape[-1], weight, mode, *_norm_args(norm, bias), z, ms, used)
    return z, ms, used


def spatial_backward(
    d_ms: torch.Tensor, saved: tuple, weight: torch.Tensor, mode: int, wanted: tuple[bool, bool]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """spatial_forward's backward from dL/dMs, in one call: dL/d(descriptor), the convolution
    weight's gradient, and the norm's weight and bias gradients (with NO_NORM the second is the
    convolution bias's); None where not `wanted`. `saved`: the descriptor, z, Ms and the statistics."""
    desc, z, ms, used = saved
    n, _, h, w = desc.shape
    dz, d_desc, d_conv = torch.empty_like(z), torch.empty_like(desc), torch.empty_like(weight)
    d_weight, d_bias = (torch.empty(1) if want else None for want in wanted)
    args = (d_ms.contiguous(), ms, z, desc, n, h, w, weight.shape[-1], weight, mode, used, dz, d_weight, d_bias)
    call("cbam_spatial_backward", *args, d_desc, d_conv)
    return d_desc, d_conv, d_weight, d_bias
