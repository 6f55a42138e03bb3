"""Placing attention into a built backbone: a separate step, so backbones never know about attention.

Each selected block gets its module as a child named `attention` (so it shows in the model and
its state_dict) and a forward hook at the chosen position:
- `residual`: on the output of the residual branch's last norm, before the add (the paper);
- `post-add`: on the block's output;
- `pre`: on the input of the residual branch only, the shortcut still sees the raw input.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from cbam_bench.attention.factory import build_attention
from cbam_bench.models.sites import BlockSite
from cbam_bench.spec import ArchSpec


def _after(attention: nn.Module, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    return attention(output)


def _before(attention: nn.Module, module: nn.Module, inputs: tuple) -> tuple:
    return (attention(inputs[0]), *inputs[1:])


def place_attention(sites: list[BlockSite], spec: ArchSpec) -> list[BlockSite]:
    """Attach spec.attention to the blocks spec.placement selects; returns the blocks that got one."""
    wanted = set(spec.sites())
    position = spec.placement.position
    placed = []
    for site in sites:
        if (site.stage, site.index) not in wanted:
            continue
        channels = site.in_channels if position == "pre" else site.out_channels
        attention = build_attention(channels, spec.attention)
        if attention is None:
            continue
        if isinstance(site.block, nn.Sequential):
            raise TypeError(f"{site.name}: a Sequential block would run its attention child twice")
        site.block.attention = attention
        if position == "residual":
            site.last_norm.register_forward_hook(functools.partial(_after, attention))
        elif position == "post-add":
            site.block.register_forward_hook(functools.partial(_after, attention))
        else:
            site.entry.register_forward_pre_hook(functools.partial(_before, attention))
        placed.append(site)
    return placed
