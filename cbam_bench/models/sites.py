"""The places inside a block where attention can go, described the same way for every backbone."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class BlockSite:
    """One block of a backbone and the two modules that bound its residual branch.

    `entry` is the first layer of the residual branch (its input is where `pre` attention acts);
    `last_norm` is the branch's last normalization (its output is where `residual` attention
    acts, before the add). `post-add` acts on the block's own output.
    """

    stage: int  # 1-based
    index: int  # 0-based within the stage
    name: str  # qualified module name, e.g. "layer2.0"
    block: nn.Module
    entry: nn.Module
    last_norm: nn.BatchNorm2d

    @property
    def in_channels(self) -> int:
        return self.entry.in_channels  # type: ignore[return-value]

    @property
    def out_channels(self) -> int:
        return self.last_norm.num_features
