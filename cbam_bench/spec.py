"""The network specs every step passes along: what attention, where, on which backbone (how it
is trained: train_spec.py), and the limits every spec checks.

All are frozen dataclasses that validate on construction, round-trip through JSON, and (for
ArchSpec) hash to an ``archid`` that depends only on the network they build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cbam_bench.attention.registry import ATTENTION_KINDS, COMBINES, SPATIAL_BN_MOMENTUM, attention_kind
from cbam_bench.errors import SpecError, allowed, check_choice, check_int, did_you_mean
from cbam_bench.models.catalog import backbone_info

POOLINGS = ("avg", "max", "lp", "lse")
DESCRIPTORS = ("avg+max", "conv1x1")
KERNELS = (3, 5, 7)
ORDERS = ("channel-spatial", "spatial-channel", "parallel", "channel-only", "spatial-only")
# Where in a block a module acts (models/slot.py), and after a stage's last block, as BAM sits.
BLOCK_POSITIONS = ("residual", "post-add", "pre")
BETWEEN_STAGES = "between-stages"
POSITIONS = (*BLOCK_POSITIONS, BETWEEN_STAGES)
STRIDE_ON = ("1x1", "3x3")
_EVERY = re.compile(r"every-([1-9][0-9]*)$")


def _canonical_pooling(pooling: Any) -> tuple[str, ...]:
    if isinstance(pooling, str):
        pooling = [p for p in re.split(r"[,+ ]+", pooling) if p]
    if not isinstance(pooling, (list, tuple)) or not pooling:
        raise SpecError("attention.pooling", f"must be a non-empty set of {allowed(POOLINGS)}")
    for p in pooling:
        check_choice("attention.pooling", p, POOLINGS)
    # The MLP is shared and its outputs are summed, so the order of pools does not matter.
    return tuple(p for p in POOLINGS if p in pooling)


# Upper bounds of the integers a spec takes: far past any real use, so that only a slip (an extra
# run of digits) meets them. Seeds stay below 2**32, the most numpy's and Optuna's samplers take.
MAX_EPOCHS = 10_000
MAX_BATCH = 65_536
MAX_SEED = 2**32 - 1
MAX_IMAGE_SIZE = 4096
MAX_IMAGES = 100_000_000
MAX_CLASSES = 100_000
MAX_CHANNELS = 4096  # input channels, hidden widths and reduction ratios
MAX_STAGES = 8


@dataclass(frozen=True)
class AttentionSpec:
    """What attention module to build. The defaults are the paper's CBAM.

    Which fields shape a module depends on its kind: the attention registry says which
    (cbam_bench.attention.registry), and only those enter the canonical form and the archid.
    """

    kind: str = "cbam"
    pooling: tuple[str, ...] = ("avg", "max")
    reduction: int = 16
    min_hidden: int = 1
    mlp_bias: bool = True
    descriptor: str = "avg+max"
    kernel: int = 7
    spatial_bn: bool = True
    order: str = "channel-spatial"
    bn_momentum: float = SPATIAL_BN_MOMENTUM
    combine: str = COMBINES[0]  # BAM's: the paper's sigmoid(Mc + Ms)

    def __post_init__(self) -> None:
        check_choice("attention.kind", self.kind, ATTENTION_KINDS)
        object.__setattr__(self, "pooling", _canonical_pooling(self.pooling))
        check_int("attention.reduction", self.reduction, 1, MAX_CHANNELS)
        check_int("attention.min_hidden", self.min_hidden, 1, MAX_CHANNELS)
        check_choice("attention.descriptor", self.descriptor, DESCRIPTORS)
        check_choice("attention.kernel", self.kernel, KERNELS)
        check_choice("attention.order", self.order, ORDERS)
        check_choice("attention.combine", self.combine, COMBINES)
        for name in ("mlp_bias", "spatial_bn"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"attention.{name}", f"{getattr(self, name)!r} is not allowed; allowed: true, false")
        m = self.bn_momentum
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 < m <= 1:
            raise SpecError("attention.bn_momentum", f"{m!r} is not allowed; allowed: a number in (0, 1]")
        object.__setattr__(self, "bn_momentum", float(m))

    def applied(self) -> tuple[str, ...]:
        """The fields that shape this module (its kind's registry entry says which)."""
        return attention_kind(self.kind).applied(self)

    def canonical(self) -> dict[str, Any]:
        """Only the options that shape the module; `se` and channel-only CBAM with avg pooling match."""
        return attention_kind(self.kind).key(self)

    def summary(self) -> str:
        """A short human label, e.g. 'cbam avg+max r16 k7 c-s'."""
        return attention_kind(self.kind).describe(self)


@dataclass(frozen=True)
class PlacementSpec:
    """Where modules go: which stages (1-based, None = all), which blocks, where in a block."""

    stages: tuple[int, ...] | None = None
    blocks: str = "all"
    position: str = "residual"

    def __post_init__(self) -> None:
        if self.stages is not None:
            stages = self.stages
            if isinstance(stages, int) and not isinstance(stages, bool):
                stages = (stages,)
            if not isinstance(stages, (list, tuple)) or not stages:
                raise SpecError("placement.stages", "must be a non-empty list of stage numbers, or omitted for all")
            for s in stages:
                check_int("placement.stages", s, 1, MAX_STAGES)
            object.__setattr__(self, "stages", tuple(sorted(set(stages))))
        if self.blocks not in ("all", "first", "last") and not _EVERY.match(str(self.blocks)):
            raise SpecError("placement.blocks", f"{self.blocks!r} is not allowed; allowed: all, first, last, every-K")
        if self.blocks == "every-1":
            object.__setattr__(self, "blocks", "all")
        check_choice("placement.position", self.position, POSITIONS)
        if self.position == BETWEEN_STAGES and self.blocks != "all":
            raise SpecError(
                "placement.blocks",
                f"{self.blocks!r} does not apply between stages (a module follows each stage's last block); allowed: all",
            )

    def selects(self, stage: int, index: int, depth: int) -> bool:
        """Whether block `index` (0-based) of 1-based `stage`, which has `depth` blocks, gets a module."""
        if self.stages is not None and stage not in self.stages:
            return False
        if self.blocks == "first":
            return index == 0
        if self.blocks == "last":
            return index == depth - 1
        match = _EVERY.match(self.blocks)
        every = int(match.group(1)) if match else 1
        return index % every == 0


@dataclass(frozen=True)
class ArchSpec:
    """One network: a backbone, its options, and the attention placed in it."""

    backbone: str
    width: float = 1.0
    stride_on: str = "3x3"
    num_classes: int | None = None
    input_size: int | None = None
    in_channels: int = 3
    attention: AttentionSpec = field(default_factory=lambda: AttentionSpec(kind="none"))
    placement: PlacementSpec = field(default_factory=PlacementSpec)

    def __post_init__(self) -> None:
        info = backbone_info(self.backbone)
        if isinstance(self.width, bool) or not isinstance(self.width, (int, float)) or not 0 < self.width <= 8:
            raise SpecError("width", f"{self.width!r} is not allowed; allowed: a number in (0, 8]")
        object.__setattr__(self, "width", float(self.width))
        check_choice("stride_on", self.stride_on, STRIDE_ON)
        if self.num_classes is None:
            object.__setattr__(self, "num_classes", info.num_classes)
        if self.input_size is None:
            object.__setattr__(self, "input_size", info.input_size)
        check_int("num_classes", self.num_classes, 1, MAX_CLASSES)
        check_int("input_size", self.input_size, 8, MAX_IMAGE_SIZE)
        check_int("in_channels", self.in_channels, 1, MAX_CHANNELS)
        if not isinstance(self.attention, AttentionSpec):
            raise SpecError("attention", "must be an AttentionSpec")
        if not isinstance(self.placement, PlacementSpec):
            raise SpecError("placement", "must be a PlacementSpec")
        if self.placement.stages is not None:
            for s in self.placement.stages:
                if s > len(info.depths):
                    raise SpecError(
                        "placement.stages",
                        f"{s} is out of range for {self.backbone}; allowed: {allowed(range(1, len(info.depths) + 1))}",
                    )

    def sites(self) -> list[tuple[int, int]]:
        """(stage, block index) of every block that gets a module; empty without attention."""
        if self.attention.kind == "none":
            return []
        depths = backbone_info(self.backbone).depths
        if self.placement.position == BETWEEN_STAGES:
            # After each chosen stage's last block; by default every stage but the last, as BAM's authors do.
            stages = self.placement.stages or tuple(range(1, len(depths)))
            return [(stage, depths[stage - 1] - 1) for stage in stages]
        return [
            (stage, index)
            for stage, depth in enumerate(depths, start=1)
            for index in range(depth)
            if self.placement.selects(stage, index, depth)
        ]

    def canonical(self) -> dict[str, Any]:
        """What determines the built network and its cost; options that change nothing are dropped."""
        info = backbone_info(self.backbone)
        sites = self.sites()
        out: dict[str, Any] = {
            "backbone": self.backbone,
            "width": self.width,
            "num_classes": self.num_classes,
            "input_size": self.input_size,
            "in_channels": self.in_channels,
        }
        if info.bottleneck:
            out["stride_on"] = self.stride_on
        if sites:
            out["attention"] = self.attention.canonical()
            out["sites"] = [list(s) for s in sites]
            # A module between stages is the post-add module of a stage's last block: one network, one archid.
            position = self.placement.position
            out["position"] = "post-add" if position == BETWEEN_STAGES else position
        return out

    @property
    def archid(self) -> str:
        """Stable short hash of the network this spec builds."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["attention"]["pooling"] = list(self.attention.pooling)
        if self.placement.stages is not None:
            out["placement"]["stages"] = list(self.placement.stages)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        if not isinstance(data, dict):
            raise SpecError("arch", "must be a JSON object")
        fields = checked_fields(cls, data, "")
        if "attention" in fields:
            fields["attention"] = AttentionSpec(**checked_fields(AttentionSpec, fields["attention"], "attention."))
        if "placement" in fields:
            fields["placement"] = PlacementSpec(**checked_fields(PlacementSpec, fields["placement"], "placement."))
        if "backbone" not in fields:
            raise SpecError("arch", "the key 'backbone' is required")
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError("arch", f"not valid JSON ({exc})") from None
        return cls.from_dict(data)


def checked_fields(cls: type, data: Any, prefix: str) -> dict[str, Any]:
    """Reject unknown keys with a 'did you mean' hint instead of a TypeError."""
    if not isinstance(data, dict):
        raise SpecError(f"{prefix.rstrip('.') or 'spec'}", "must be a mapping")
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise SpecError(f"{prefix}{key}", f"unknown key{did_you_mean(str(key), names)}; allowed: {allowed(names)}")
    return dict(data)
