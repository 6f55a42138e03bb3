"""Every attention kind, one entry each: the one place the spec, factory, sampler, CLI and counter read.

An entry names its builder as "module:callable" and it is imported only when a module is built,
so specs stay free of torch. The builder follows timm's `create_attn` contract: channels first,
keyword options after (`options(spec)` supplies them). Adding a kind is its own module plus one
entry here; the spec's validation, canonical form and archid, the sampler, `spaces show`, the CLI's
help and the counter then know it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


# An entry's functions take a cbam_bench.spec.AttentionSpec; spec.py reads this module to check a
# kind, so the class is not imported here (not even for typing) and is named by this alias instead.
AttentionSpec = Any

# The AttentionSpec fields a kind may use, in sampling order, with their search-space keys.
# `order` comes first: it decides which of CBAM's other fields apply.
SPACE_KEYS: dict[str, str] = {
    "order": "attention.order",
    "combine": "attention.combine",
    "pooling": "channel.pooling",
    "reduction": "channel.reduction",
    "min_hidden": "channel.min_hidden",
    "descriptor": "spatial.descriptor",
    "kernel": "spatial.kernel",
    "spatial_bn": "spatial.bn",
    "bn_momentum": "spatial.bn_momentum",
}
# The spatial gate's BatchNorm momentum in the authors' CBAM code; PyTorch's default is 0.1.
SPATIAL_BN_MOMENTUM = 0.01
# BAM's ways of joining its branches: the paper's sigmoid(Mc + Ms) first (the default), then the
# authors' released code's sigmoid(Mc * Ms).
COMBINES = ("sum", "product")
CHANNEL_FIELDS = ("reduction", "min_hidden", "mlp_bias")
ORDER_LABELS = {
    "channel-spatial": "c-s",
    "spatial-channel": "s-c",
    "parallel": "par",
    "channel-only": "c",
    "spatial-only": "s",
}
# The element-wise primitives every gate may call (aten op -> how the counter counts it: one op per
# element "written", per element "read", or a "sum" of k values as k - 1 adds); each entry adds its own.
COMMON_ELEMENTWISE = {
    **dict.fromkeys(("sigmoid", "mul", "mul_", "add", "add_", "div", "relu", "relu_", "batch_norm"), "written"),
    **dict.fromkeys(("mean", "adaptive_avg_pool2d"), "read"),
    "sum": "sum",
}


@dataclass(frozen=True)
class AttentionKind:
    """One kind: how to build it, which spec fields shape it, its label and what counting needs.

    `fields` maps every field the kind may use to when it applies (words for `spaces show`, ""
    for always); `applies(spec)` says which of them apply to this spec. `canonical(spec)` is the
    kind's part of the archid: by default the kind and the applied fields.
    """

    name: str
    summary: str
    builder: str | None  # "module:callable", None for no module
    fields: dict[str, str] = field(default_factory=dict)
    applies: Callable[[AttentionSpec], tuple[str, ...]] | None = None
    label: Callable[[AttentionSpec], str] | None = None
    canonical: Callable[[AttentionSpec], dict[str, Any]] | None = None
    elementwise: dict[str, str] = field(default_factory=dict)  # its forward's ops beyond COMMON_ELEMENTWISE

    def applied(self, spec: AttentionSpec) -> tuple[str, ...]:
        return self.applies(spec) if self.applies is not None else tuple(self.fields)

    def options(self, spec: AttentionSpec) -> dict[str, Any]:
        """The builder's keyword options: the applied fields, by their spec names (builders take those)."""
        return {f: getattr(spec, f) for f in self.applied(spec)}

    def key(self, spec: AttentionSpec) -> dict[str, Any]:
        if self.canonical is not None:
            return self.canonical(spec)
        out: dict[str, Any] = {"gate": self.name}
        out.update({f: _plain(getattr(spec, f)) for f in self.applied(spec)})
        return out

    def describe(self, spec: AttentionSpec) -> str:
        return self.label(spec) if self.label is not None else self.name

    def build(self, channels: int, spec: AttentionSpec) -> nn.Module | None:
        if self.builder is None:
            return None
        module, _, name = self.builder.partition(":")
        return getattr(importlib.import_module(module), name)(channels, **self.options(spec))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# -- CBAM and SE: their canonical forms predate the registry and stay as they were (archids hold) --


def _cbam_applies(spec: AttentionSpec) -> tuple[str, ...]:
    out = ["order"]
    if spec.order != "spatial-only":
        out += ["pooling", *CHANNEL_FIELDS]
    if spec.order != "channel-only":
        out += ["descriptor", "kernel", "spatial_bn"] + (["bn_momentum"] if spec.spatial_bn else [])
    return tuple(out)


def _gate_canonical(spec: AttentionSpec, gate: str, pooling: list[str], applied: tuple[str, ...]) -> dict[str, Any]:
    """SE and channel-only CBAM with avg pooling are one network, so they share this form."""
    out: dict[str, Any] = {"gate": gate}
    if "reduction" in applied:
        out.update(pooling=pooling, reduction=spec.reduction, min_hidden=spec.min_hidden, mlp_bias=spec.mlp_bias)
    if "descriptor" in applied:
        out.update(descriptor=spec.descriptor, kernel=spec.kernel, spatial_bn=spec.spatial_bn)
        if spec.spatial_bn:
            out["bn_momentum"] = spec.bn_momentum
    return out


def _cbam_label(spec: AttentionSpec) -> str:
    applied = _cbam_applies(spec)
    parts = ["cbam"]
    if "reduction" in applied:
        parts += ["+".join(spec.pooling), f"r{spec.reduction}"]
    if "descriptor" in applied:
        parts.append(("" if spec.descriptor == "avg+max" else "1x1conv ") + f"k{spec.kernel}")
        if spec.spatial_bn and spec.bn_momentum != SPATIAL_BN_MOMENTUM:
            parts.append(f"bn-m{spec.bn_momentum:g}")
    return " ".join([*parts, ORDER_LABELS[spec.order]])


_CBAM_WHEN = {
    "order": "",
    "pooling": "with a channel gate",
    "reduction": "with a channel gate",
    "min_hidden": "with a channel gate",
    "mlp_bias": "with a channel gate",
    "descriptor": "with a spatial gate",
    "kernel": "with a spatial gate",
    "spatial_bn": "with a spatial gate",
    "bn_momentum": "with a spatial gate and its BatchNorm",
}

KINDS: dict[str, AttentionKind] = {
    k.name: k
    for k in (
        AttentionKind("none", "no attention", None, canonical=lambda s: {"gate": "none"}),
        AttentionKind(
            "se",
            "SE: CBAM's channel gate, average pooling only",
            "cbam_bench.attention.se:squeeze_excite",
            fields={"reduction": "", "min_hidden": "", "mlp_bias": ""},
            label=lambda s: f"se avg r{s.reduction}",
            canonical=lambda s: _gate_canonical(s, "channel-only", ["avg"], CHANNEL_FIELDS),
        ),
        AttentionKind(
            "eca",
            "ECA: a 1-D convolution across pooled channels",
            "cbam_bench.attention.eca:ECA",
            canonical=lambda s: {"gate": "eca"},
        ),
        AttentionKind(
            "cbam",
            "CBAM: a channel gate and a spatial gate",
            "cbam_bench.attention.cbam:build_cbam",
            fields=_CBAM_WHEN,
            applies=_cbam_applies,
            label=_cbam_label,
            canonical=lambda s: _gate_canonical(s, s.order, list(s.pooling), _cbam_applies(s)),
            elementwise={"sqrt": "written", **dict.fromkeys(("amax", "max", "pow", "logsumexp"), "read")},
        ),
        AttentionKind(
            "bam",
            "BAM: channel MLP and dilated spatial branch",
            "cbam_bench.attention.bam:BAM",
            fields={"reduction": "", "min_hidden": "", "combine": ""},
            label=lambda s: f"bam r{s.reduction} {s.combine}",
        ),
        AttentionKind(
            "coord",
            "coordinate attention: row and column gates",
            "cbam_bench.attention.coord:CoordAttention",
            fields={"reduction": ""},
            label=lambda s: f"coord r{s.reduction}",
            elementwise=dict.fromkeys(("hardswish", "hardswish_"), "written"),
        ),
    )
}
ATTENTION_KINDS = tuple(KINDS)


def attention_kind(name: str) -> AttentionKind:
    """The entry for `name`; KeyError for an unknown kind (the spec refuses those first)."""
    return KINDS[name]


def applies_when(field_name: str) -> str:
    """When a field is sampled, in words: 'kind is se, cbam with a channel gate, or bam'."""
    uses = [f"{k.name} {k.fields[field_name]}".strip() for k in KINDS.values() if field_name in k.fields]
    if not uses:
        return "never"
    listed = uses[0] if len(uses) == 1 else ", ".join(uses[:-1]) + ", or " + uses[-1]
    return f"kind is {listed}"
