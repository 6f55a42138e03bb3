"""Placing attention into a built backbone: a separate step, so backbones never know which attention.

Each selected block gets its module in its attention slot (models/slot.py): a child named
`attention`, so it shows in the model and its state_dict, called by the block's own forward at the
chosen position:
- `residual`: on the output of the residual branch's last norm, before the add (the paper);
- `post-add`: on the block's output;
- `pre`: on the input of the residual branch only, the shortcut still sees the raw input.

A module that acts between stages (BAM, after stages 1-3) needs no block code either: the output of
a stage is the `post-add` output of its last block, whose width `stage_info()` reports.
"""

from __future__ import annotations

from cbam_bench.attention.factory import build_attention
from cbam_bench.models.sites import BlockSite
from cbam_bench.models.slot import AttentionSlot
from cbam_bench.spec import BETWEEN_STAGES, ArchSpec


def place_attention(sites: list[BlockSite], spec: ArchSpec) -> list[BlockSite]:
    """Fill the slots of the blocks spec.placement selects with spec.attention; returns those blocks."""
    wanted = set(spec.sites())
    # Between stages is after a stage's last block, that is, on its post-add output.
    position = "post-add" if spec.placement.position == BETWEEN_STAGES else spec.placement.position
    placed = []
    for site in sites:
        if (site.stage, site.index) not in wanted:
            continue
        channels = site.in_channels if position == "pre" else site.out_channels
        attention = build_attention(channels, spec.attention)
        if attention is None:
            continue
        if not isinstance(site.block, AttentionSlot):
            raise TypeError(f"{site.name}: {type(site.block).__name__} has no attention slot")
        site.block.set_attention(attention, position)
        placed.append(site)
    return placed
