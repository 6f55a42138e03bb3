"""CBAM (Woo et al., ECCV 2018, arXiv:1807.06521): the channel and spatial gates combined."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cbam_bench.attention.channel import ChannelGate
from cbam_bench.attention.fused.autograd import fused_cbam
from cbam_bench.attention.fused.dispatch import fused_ops
from cbam_bench.attention.registry import SPATIAL_BN_MOMENTUM
from cbam_bench.attention.spatial import SpatialGate


class CBAM(nn.Module):
    """Both gates, applied in sequence (either order) or in parallel as sigmoid(Mc + Ms)."""

    def __init__(self, channel: ChannelGate, spatial: SpatialGate, *, order: str = "channel-spatial") -> None:
        super().__init__()
        if order not in ("channel-spatial", "spatial-channel", "parallel"):
            raise ValueError(f"unknown CBAM order {order!r}")
        self.order = order
        self.fused = "auto"  # one of fused.dispatch.FUSED_MODES; set_fused sets a whole network's
        self.channel = channel
        self.spatial = spatial

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ops = fused_ops(self, x)
        if ops is not None:
            return fused_cbam(self, x, ops)
        if self.order == "channel-spatial":
            return self.spatial(self.channel(x))
        if self.order == "spatial-channel":
            return self.channel(self.spatial(x))
        # The paper's parallel arrangement: both maps from the same input, summed, one sigmoid.
        return x * torch.sigmoid(self.channel.logits(x) + self.spatial.logits(x))


def build_cbam(
    channels: int,
    *,
    order: str = "channel-spatial",
    pooling: Sequence[str] = ("avg", "max"),
    reduction: int = 16,
    min_hidden: int = 1,
    mlp_bias: bool = True,
    descriptor: str = "avg+max",
    kernel: int = 7,
    spatial_bn: bool = True,
    bn_momentum: float = SPATIAL_BN_MOMENTUM,
) -> nn.Module:
    """CBAM for `channels`, or one gate alone for the `channel-only` and `spatial-only` orders."""
    channel = None
    if order != "spatial-only":
        channel = ChannelGate(channels, pooling=pooling, reduction=reduction, min_hidden=min_hidden, bias=mlp_bias)
        if order == "channel-only":
            return channel
    spatial = SpatialGate(channels, descriptor=descriptor, kernel=kernel, bn=spatial_bn, bn_momentum=bn_momentum)
    return spatial if channel is None else CBAM(channel, spatial, order=order)
