"""ECA (Wang et al., CVPR 2020, arXiv:1910.03151): a 1-D convolution across pooled channels."""

from __future__ import annotations

import math

import torch
from torch import nn

from cbam_bench.attention.channel import pool_channels


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """The adaptive kernel: |log2(C)/gamma + b/gamma|, rounded to the nearest odd number above."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    """sigmoid(conv1d_k(avgpool(F))) over the channel axis, no dimensionality reduction."""

    def __init__(self, channels: int, *, gamma: int = 2, b: int = 1) -> None:
        super().__init__()
        k = eca_kernel_size(channels, gamma, b)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        pooled = pool_channels(x, "avg").view(n, 1, c)
        return x * torch.sigmoid(self.conv(pooled)).view(n, c, 1, 1)
