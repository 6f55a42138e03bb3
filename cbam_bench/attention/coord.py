"""Coordinate attention (Hou, Zhou, Feng, CVPR 2021, arXiv:2103.02907).

Pooling along each axis separately keeps position along the other: a C x H x 1 and a C x 1 x W
descriptor share one 1x1 reduction to max(8, C // r) channels with BatchNorm and h-swish, then two
1x1 convolutions give a per-row and a per-column sigmoid gate: F * a_h * a_w. As in the authors'
code the convolutions have biases and the hidden width never drops below 8; their r is 32.
"""

from __future__ import annotations

import torch
from torch import nn

COORD_MIN_HIDDEN = 8


class CoordAttention(nn.Module):
    """F * sigmoid(conv_h(y_h)) * sigmoid(conv_w(y_w)), y = h-swish(BN(conv(pool_h(F) ++ pool_w(F))))."""

    def __init__(self, channels: int, *, reduction: int = 32) -> None:
        super().__init__()
        hidden = max(COORD_MIN_HIDDEN, channels // reduction)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.bn = nn.BatchNorm2d(hidden)
        self.act = nn.Hardswish()
        self.gate_h = nn.Conv2d(hidden, channels, 1)
        self.gate_w = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        # sum / n rather than mean, as the other gates pool: the same values, a cheaper CPU backward.
        along_w = x.sum(dim=3, keepdim=True) / w  # (N, C, H, 1): one value per row
        along_h = (x.sum(dim=2, keepdim=True) / h).transpose(2, 3)  # (N, C, W, 1): one per column
        y = self.act(self.bn(self.reduce(torch.cat([along_w, along_h], dim=2))))
        rows, cols = torch.split(y, [h, w], dim=2)
        a_h = torch.sigmoid(self.gate_h(rows))  # (N, C, H, 1)
        a_w = torch.sigmoid(self.gate_w(cols.transpose(2, 3)))  # (N, C, 1, W)
        return x * a_h * a_w
