"""The attention modules' own maps: CBAM's spatial map Ms ("where") and channel weights Mc ("what").

Grad-CAM shows what the gradient credits; these show what the module itself multiplies in. They
are read with a forward hook on each block's attention child (models/slot.py), whose input is the
tensor the module gates, and recomputed from the module's own gates: sigmoid(logits) of each.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cbam_bench.attention.cbam import CBAM
from cbam_bench.attention.channel import ChannelGate
from cbam_bench.attention.spatial import SpatialGate
from cbam_bench.models.build import block_sites
from cbam_bench.spec import ArchSpec


@dataclass(frozen=True)
class GateMaps:
    """One gated block's maps for a batch: Ms (N, H, W) and Mc (N, C), each None if it has no such gate."""

    block: str  # the block's module name, e.g. "layer3.2"
    spatial: torch.Tensor | None
    channel: torch.Tensor | None


def gate_maps(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(Ms, Mc) that `module` applies to its input `x`; (None, None) for a kind without them.

    In CBAM's sequential orders the second gate sees the first gate's output, as in forward. In the
    parallel order the module applies sigmoid(Mc + Ms) once; each branch is shown through its own
    sigmoid, which is what it contributes on its own.
    """
    if isinstance(module, ChannelGate):
        return None, torch.sigmoid(module.logits(x)).flatten(1)
    if isinstance(module, SpatialGate):
        return torch.sigmoid(module.logits(x))[:, 0], None
    if not isinstance(module, CBAM):
        return None, None
    if module.order == "channel-spatial":
        mc = torch.sigmoid(module.channel.logits(x))
        ms = torch.sigmoid(module.spatial.logits(x * mc))
    elif module.order == "spatial-channel":
        ms = torch.sigmoid(module.spatial.logits(x))
        mc = torch.sigmoid(module.channel.logits(x * ms))
    else:
        ms, mc = torch.sigmoid(module.spatial.logits(x)), torch.sigmoid(module.channel.logits(x))
    return ms[:, 0], mc.flatten(1)


@torch.inference_mode()
def attention_maps(model: nn.Module, arch: ArchSpec, images: torch.Tensor, stage: int | None = None) -> list[GateMaps]:
    """The maps of every gated block (of `stage` only, if given), in network order, for `images`."""
    sites = [s for s in block_sites(model, arch) if s.block.attention is not None and stage in (None, s.stage)]
    found: dict[str, tuple[torch.Tensor | None, torch.Tensor | None]] = {}
    handles = []
    for site in sites:

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], _out: object, name: str = site.name) -> None:
            found[name] = gate_maps(module, inputs[0])

        handles.append(site.block.attention.register_forward_hook(hook))
    try:
        model(images)
    finally:
        for handle in handles:
            handle.remove()
    return [GateMaps(s.name, *found[s.name]) for s in sites if s.name in found]
