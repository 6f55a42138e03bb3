"""One place that turns an AttentionSpec into a module for a given channel count."""

from __future__ import annotations

from torch import nn

from cbam_bench.attention.cbam import CBAM
from cbam_bench.attention.channel import ChannelGate
from cbam_bench.attention.eca import ECA
from cbam_bench.attention.se import squeeze_excite
from cbam_bench.attention.spatial import SpatialGate
from cbam_bench.spec import AttentionSpec


def build_attention(channels: int, spec: AttentionSpec) -> nn.Module | None:
    """The module for `spec` on a `channels`-wide tensor, or None for kind 'none'."""
    if spec.kind == "none":
        return None
    if spec.kind == "eca":
        return ECA(channels)
    if spec.kind == "se":
        return squeeze_excite(channels, reduction=spec.reduction, min_hidden=spec.min_hidden, bias=spec.mlp_bias)
    channel = (
        ChannelGate(
            channels, pooling=spec.pooling, reduction=spec.reduction, min_hidden=spec.min_hidden, bias=spec.mlp_bias
        )
        if spec.uses_channel_gate
        else None
    )
    spatial = (
        SpatialGate(
            channels, descriptor=spec.descriptor, kernel=spec.kernel, bn=spec.spatial_bn, bn_momentum=spec.bn_momentum
        )
        if spec.uses_spatial_gate
        else None
    )
    if spatial is None:
        return channel
    if channel is None:
        return spatial
    return CBAM(channel, spatial, order=spec.order)
