"""Channel gate of CBAM (Woo et al., ECCV 2018, arXiv:1807.06521): which channels matter."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def hidden_width(channels: int, reduction: int, min_hidden: int) -> int:
    """Width of the gate's bottleneck: channels // r, never below the floor (a 16-channel stage with r=32 would get 0)."""
    return max(min_hidden, channels // reduction)


def pool_channels(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Global pooling of an (N, C, H, W) map to (N, C)."""
    flat = x.flatten(2)
    if kind == "avg":
        # sum / n, not mean: mean's backward divides the whole expanded map (4x slower on the CPU).
        return flat.sum(dim=2) / flat.shape[2]
    if kind == "max":
        return flat.max(dim=2).values  # not amax: its backward builds a tie mask, slower on the CPU
    if kind == "lp":
        # Power-2 pooling as in the authors' code: the L2 norm over positions.
        return flat.pow(2).sum(dim=2).sqrt()
    if kind == "lse":
        return torch.logsumexp(flat, dim=2)
    raise ValueError(f"unknown pooling {kind!r}")


class ChannelGate(nn.Module):
    """Mc(F) = sigmoid(sum over pools p of MLP(p(F))), one MLP shared by every pooled vector."""

    def __init__(
        self,
        channels: int,
        *,
        pooling: Sequence[str] = ("avg", "max"),
        reduction: int = 16,
        min_hidden: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.pooling = tuple(pooling)
        hidden = hidden_width(channels, reduction, min_hidden)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden, bias=bias),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=bias),
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid map of shape (N, C, 1, 1)."""
        n, c = x.shape[:2]
        # One MLP call on all pooled vectors stacked: the same multiply-adds as one call per pool.
        pooled = torch.cat([pool_channels(x, kind) for kind in self.pooling], dim=0)
        return self.scores(pooled).view(n, c, 1, 1)

    def scores(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid (N, C) map from the pooled vectors stacked in `pooling` order, (P * N, C)."""
        return self.mlp(pooled).view(len(self.pooling), -1, pooled.shape[1]).sum(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.logits(x))
