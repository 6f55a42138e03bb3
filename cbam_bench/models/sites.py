"""The blocks of a backbone and its stage outputs, described the same way for every backbone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from torch import nn


@dataclass(frozen=True)
class BlockSite:
    """One block of a backbone and the two modules that bound its residual branch.

    `entry` is the first layer of the residual branch (its input width is what `pre` attention
    sees); `last_norm` is the branch's last normalization (its width is what `residual` and
    `post-add` attention see). The block's own forward calls its attention (models/slot.py).
    """

    stage: int  # 1-based
    index: int  # 0-based within the stage
    name: str  # qualified module name, e.g. "layer2.0"
    block: nn.Module
    entry: nn.Module
    last_norm: nn.BatchNorm2d
    stride: int  # how much the block downsamples

    @property
    def in_channels(self) -> int:
        return self.entry.in_channels  # type: ignore[return-value]

    @property
    def out_channels(self) -> int:
        return self.last_norm.num_features


class StageInfo(NamedTuple):
    """One stage's output, as a detector's feature pyramid taps it."""

    name: str  # the module whose output is the stage's output (a create_feature_extractor node)
    channels: int
    stride: int  # input pixels per output pixel, along each side


def stage_outputs(sites: list[BlockSite], stem_stride: int, name: Callable[[int, BlockSite], str]) -> list[StageInfo]:
    """StageInfo per stage from its blocks: `name(stage, last block)` names the module to tap."""
    out, stride = [], stem_stride
    for stage in sorted({s.stage for s in sites}):
        members = [s for s in sites if s.stage == stage]
        for site in members:
            stride *= site.stride
        out.append(StageInfo(name(stage, members[-1]), members[-1].out_channels, stride))
    return out
