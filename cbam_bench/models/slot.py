"""The one way attention enters a block: a child named `attention` that the block's forward calls.

Every block class a backbone uses mixes in AttentionSlot and calls `self.attend(x, position)` at
each of the three positions (see cbam_bench.spec.BLOCK_POSITIONS); the call returns `x` unchanged unless
the block's attention sits there. Placement only fills the slot, so a reader of a block's forward
sees where attention acts, and fx, feature extractors, torch.export and module hooks all see the
module being called.
"""

from __future__ import annotations

import torch
from torch import nn

from cbam_bench.spec import BLOCK_POSITIONS


class AttentionSlot:
    """Mixin for an nn.Module block: an optional `attention` child applied at one named position."""

    attention_position: str = BLOCK_POSITIONS[0]

    def init_slot(self) -> None:
        """Start with an empty slot: every block class calls this at the end of its __init__."""
        self.attention: nn.Module | None = None

    def set_attention(self, module: nn.Module, position: str) -> None:
        """Put `module` in the slot, acting at `position` (one of BLOCK_POSITIONS)."""
        if position not in BLOCK_POSITIONS:
            raise ValueError(f"unknown attention position {position!r}; allowed: {', '.join(BLOCK_POSITIONS)}")
        self.attention = module
        self.attention_position = position

    def attend(self, x: torch.Tensor, position: str) -> torch.Tensor:
        """`self.attention(x)` if the attention sits at `position`, else `x` itself."""
        if self.attention is None or position != self.attention_position:
            return x
        return self.attention(x)
