"""CBAM (Woo et al., ECCV 2018, arXiv:1807.06521): the channel and spatial gates combined."""

from __future__ import annotations

import torch
from torch import nn

from cbam_bench.attention.channel import ChannelGate
from cbam_bench.attention.fused.autograd import fused_cbam
from cbam_bench.attention.fused.dispatch import fused_ops
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
