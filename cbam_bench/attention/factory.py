"""One place that turns an AttentionSpec into a module for a given channel count."""

from __future__ import annotations

from torch import nn

from cbam_bench.attention.registry import attention_kind
from cbam_bench.spec import AttentionSpec


def build_attention(channels: int, spec: AttentionSpec) -> nn.Module | None:
    """The module for `spec` on a `channels`-wide tensor, or None for kind 'none'."""
    return attention_kind(spec.kind).build(channels, spec)
