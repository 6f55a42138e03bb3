"""Blocks call their attention child: the same numbers as hooks placed the old way, the same keys."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v2 as tv_mobilenet_v2
from torchvision.models import resnet as tv

from cbam_bench.attention.factory import build_attention
from cbam_bench.models.build import block_sites, build_model
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.models.sites import BlockSite
from cbam_bench.spec import BLOCK_POSITIONS, ArchSpec, AttentionSpec, PlacementSpec

FAMILY_EXAMPLES = ("resnet18", "resnet50", "cifar_resnet20", "mobilenet_v1", "mobilenet_v2")
KINDS = (
    AttentionSpec(kind="cbam"),
    AttentionSpec(kind="cbam", order="parallel", pooling=("avg", "max", "lp")),
    AttentionSpec(kind="se"),
    AttentionSpec(kind="eca"),
)


def _spec(backbone: str, position: str, attention: AttentionSpec, **arch: object) -> ArchSpec:
    small = {"resnet": 0.25, "mobilenet_v1": 0.25, "mobilenet_v2": 0.5}.get(BACKBONES[backbone].family, 1.0)
    return ArchSpec(
        backbone, width=small, num_classes=5, attention=attention, placement=PlacementSpec(position=position), **arch
    )


def _hook_the_old_way(site: BlockSite, attention: nn.Module, position: str) -> None:
    """What placement did before blocks had a slot: a forward hook at the position."""
    if position == "residual":
        site.last_norm.register_forward_hook(lambda module, inputs, output: attention(output))
    elif position == "post-add":
        site.block.register_forward_hook(lambda module, inputs, output: attention(output))
    else:
        site.entry.register_forward_pre_hook(lambda module, inputs: (attention(inputs[0]), *inputs[1:]))


@pytest.mark.parametrize("attention", KINDS, ids=lambda a: a.summary())
@pytest.mark.parametrize("position", BLOCK_POSITIONS)
@pytest.mark.parametrize("backbone", FAMILY_EXAMPLES)
def test_slots_compute_what_hooks_at_the_same_position_computed(backbone, position, attention) -> None:
    spec = _spec(backbone, position, attention, stride_on="1x1" if backbone == "resnet50" else "3x3")
    model = build_model(spec)
    for name, p in model.named_parameters():
        if name.endswith("spatial.bn.weight"):  # the spatial map starts flat; make it matter
            nn.init.uniform_(p, 0.5, 1.5)
    hooked = copy.deepcopy(model)
    hooked.moved = nn.ModuleList()  # still children, so train() and eval() reach them
    for site in block_sites(hooked, spec):
        if site.block.attention is not None:
            module, site.block.attention = site.block.attention, None
            hooked.moved.append(module)
            _hook_the_old_way(site, module, position)
    assert not any(".attention." in k for k in hooked.state_dict())
    x = torch.randn(2, 3, 64, 64)
    torch.manual_seed(0)
    ours = model.train()(x)
    ours.square().sum().backward()
    torch.manual_seed(0)  # MobileNetV2's dropout
    theirs = hooked.train()(x)
    theirs.square().sum().backward()
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    # Both list backbone parameters first in the same order, then attention's in block order.
    ours_grads = [p.grad for n, p in model.named_parameters() if ".attention." not in n]
    ours_grads += [p.grad for n, p in model.named_parameters() if ".attention." in n]
    theirs_grads = [p.grad for p in hooked.parameters()]
    assert len(ours_grads) == len(theirs_grads)
    for a, b in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), hooked.eval()(x), rtol=0, atol=0)


def _torchvision_twin(backbone: str) -> nn.Module:
    """torchvision's own network of the same layout, for its state_dict keys."""
    info = BACKBONES[backbone]
    if info.family == "mobilenet_v2":
        return tv_mobilenet_v2()
    block = tv.Bottleneck if info.bottleneck else tv.BasicBlock
    return tv.ResNet(block, list(info.depths), groups=info.groups, width_per_group=info.width_per_group)


def _attention_keys(model: nn.Module, spec: ArchSpec) -> set[str]:
    """Where attention's keys have always been: `<block>.attention.<the module's own keys>`."""
    keys = set()
    for site in block_sites(model, spec):
        if (site.stage, site.index) in spec.sites():
            width = site.in_channels if spec.placement.position == "pre" else site.out_channels
            keys |= {f"{site.name}.attention.{k}" for k in build_attention(width, spec.attention).state_dict()}
    return keys


@pytest.mark.parametrize("position", BLOCK_POSITIONS)
@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_state_dict_keys_are_the_backbones_plus_attention_at_the_old_names(backbone, position) -> None:
    spec = ArchSpec(
        backbone, attention=AttentionSpec(kind="cbam"), placement=PlacementSpec(position=position, blocks="every-2")
    )
    with torch.device("meta"):  # keys only: skip allocating and initialising the weights
        model = build_model(spec)
        if BACKBONES[backbone].family in ("resnet", "mobilenet_v2"):
            backbone_keys = set(_torchvision_twin(backbone).state_dict())
        else:
            backbone_keys = set(build_model(ArchSpec(backbone)).state_dict())
        expected = backbone_keys | _attention_keys(model, spec)
    assert len(expected) > len(backbone_keys)
    assert set(model.state_dict()) == expected
