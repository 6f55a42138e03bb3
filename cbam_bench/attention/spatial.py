"""Spatial gate of CBAM (Woo et al., ECCV 2018, arXiv:1807.06521): where in the map matters."""

from __future__ import annotations

import torch
from torch import nn

from cbam_bench.attention.map_conv import MapConv2d
from cbam_bench.attention.registry import SPATIAL_BN_MOMENTUM


class SpatialGate(nn.Module):
    """Ms(F) = sigmoid(conv_kxk(descriptor(F))), one output channel.

    The descriptor is the channel mean and max concatenated (mean first, as the paper's text
    reads), or a learned 1x1 convolution to one channel. As in the authors' code, the kxk
    convolution has no bias and is followed by a one-channel BatchNorm of momentum 0.01 (PyTorch's
    default is 0.1) whose weight starts at zero, so the map starts at 0.5 everywhere; without the
    norm the convolution gets a bias.
    """

    def __init__(
        self,
        channels: int,
        *,
        descriptor: str = "avg+max",
        kernel: int = 7,
        bn: bool = True,
        bn_momentum: float = SPATIAL_BN_MOMENTUM,
    ) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"spatial kernel must be odd, got {kernel}")
        self.descriptor = descriptor
        if descriptor == "avg+max":
            self.compress: nn.Module | None = None
            in_maps = 2
        elif descriptor == "conv1x1":
            self.compress = nn.Conv2d(channels, 1, kernel_size=1, bias=False)
            in_maps = 1
        else:
            raise ValueError(f"unknown spatial descriptor {descriptor!r}")
        self.conv = MapConv2d(in_maps, 1, kernel_size=kernel, padding=kernel // 2, bias=not bn)
        self.bn = nn.BatchNorm2d(1, momentum=bn_momentum) if bn else None
        if self.bn is not None:
            nn.init.zeros_(self.bn.weight)

    def describe(self, x: torch.Tensor) -> torch.Tensor:
        if self.compress is not None:
            return self.compress(x)
        # Cheaper backwards on the CPU, same values: sum / n instead of mean (whose backward divides
        # the whole expanded map), max instead of amax (whose backward builds a tie mask).
        mean = x.sum(dim=1, keepdim=True) / x.shape[1]
        return torch.cat([mean, x.max(dim=1, keepdim=True).values], dim=1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid map of shape (N, 1, H, W)."""
        return self.descriptor_logits(self.describe(x))

    def descriptor_logits(self, desc: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid map from an already computed descriptor (the fused path computes its own)."""
        out = self.conv(desc)
        return self.bn(out) if self.bn is not None else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.logits(x))
