"""BAM, the Bottleneck Attention Module (Park, Woo, Lee, Kweon, BMVC 2018, arXiv:1807.06514).

The same authors' module before CBAM: a channel branch and a dilated spatial branch whose maps are
broadcast to C x H x W, joined, passed through one sigmoid and applied as F * (1 + M). The paper
joins them as M = sigmoid(Mc + Ms), the default here; the authors' released code multiplies them,
sigmoid(Mc * Ms) (`combine="product"`). As in that code every linear layer and convolution has a
bias and each hidden layer of both branches is followed by BatchNorm and ReLU (the 1x1 reduction
too: that is what makes their ResNet-50 + BAM 25,915,099 parameters). They place it between stages.
"""

from __future__ import annotations

import torch
from torch import nn

from cbam_bench.attention.channel import hidden_width, pool_channels
from cbam_bench.attention.registry import COMBINES


class BAMChannel(nn.Module):
    """Mc(F) = MLP(AvgPool(F)), C -> C/r -> C, BatchNorm1d and ReLU after the hidden layer."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        return self.mlp(pool_channels(x, "avg")).view(n, c, 1, 1)


def _conv_bn_relu(cin: int, cout: int, kernel: int, dilation: int) -> list[nn.Module]:
    pad = dilation * (kernel // 2)
    return [nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class BAMSpatial(nn.Module):
    """Ms(F): 1x1 to C/r, two 3x3 convolutions of dilation 4 (each with BN and ReLU), 1x1 to one map."""

    def __init__(self, channels: int, hidden: int, *, dilation: int = 4, depth: int = 2) -> None:
        super().__init__()
        layers = _conv_bn_relu(channels, hidden, 1, 1)
        for _ in range(depth):
            layers += _conv_bn_relu(hidden, hidden, 3, dilation)
        self.body = nn.Sequential(*layers, nn.Conv2d(hidden, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class BAM(nn.Module):
    """F * (1 + sigmoid(Mc + Ms)), or sigmoid(Mc * Ms) with combine='product'."""

    def __init__(self, channels: int, *, reduction: int = 16, min_hidden: int = 1, combine: str = "sum") -> None:
        super().__init__()
        if combine not in COMBINES:
            raise ValueError(f"unknown BAM combine {combine!r}; allowed: {', '.join(COMBINES)}")
        hidden = hidden_width(channels, reduction, min_hidden)
        self.combine = combine
        self.channel = BAMChannel(channels, hidden)
        self.spatial = BAMSpatial(channels, hidden)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The joined pre-sigmoid map, broadcast to (N, C, H, W)."""
        mc, ms = self.channel(x), self.spatial(x)
        return mc + ms if self.combine == "sum" else mc * ms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (1 + torch.sigmoid(self.logits(x)))
