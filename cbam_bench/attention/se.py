"""Squeeze-and-Excitation (Hu et al., CVPR 2018) as the CBAM paper compares against it."""

from __future__ import annotations

from cbam_bench.attention.channel import ChannelGate


def squeeze_excite(channels: int, *, reduction: int = 16, min_hidden: int = 1, mlp_bias: bool = True) -> ChannelGate:
    """SE is CBAM's channel gate with average pooling only; one class keeps their counts comparable."""
    return ChannelGate(channels, pooling=("avg",), reduction=reduction, min_hidden=min_hidden, bias=mlp_bias)
