"""The attention modules' own maps, read by hooks: the ones the module really multiplies in."""

from __future__ import annotations

import pytest
import torch

from cbam_bench.attention.factory import build_attention
from cbam_bench.inspect.maps import attention_maps, gate_maps
from cbam_bench.models.build import build_model
from cbam_bench.spec import ArchSpec, AttentionSpec


def tiny(kind: str, **attention: object) -> ArchSpec:
    return ArchSpec(
        "cifar_resnet20",
        width=0.5,
        num_classes=3,
        in_channels=1,
        input_size=16,
        attention=AttentionSpec(kind=kind, **attention),
    )


@pytest.mark.parametrize("order", ["channel-spatial", "spatial-channel"])
def test_sequential_maps_reproduce_the_modules_output(order: str) -> None:
    torch.manual_seed(0)
    module = build_attention(8, AttentionSpec(kind="cbam", order=order)).eval()
    torch.nn.init.normal_(module.spatial.bn.weight)  # away from the flat 0.5 map it starts with
    x = torch.randn(2, 8, 5, 5)
    ms, mc = gate_maps(module, x)
    assert ms.shape == (2, 5, 5) and mc.shape == (2, 8)
    assert torch.allclose(module(x), x * mc[:, :, None, None] * ms[:, None], atol=1e-6)
    assert ms.std() > 0.01


def test_maps_of_every_gated_block_of_a_stage_in_network_order() -> None:
    arch = tiny("cbam")
    model = build_model(arch).eval()
    images = torch.randn(3, 1, 16, 16)
    found = attention_maps(model, arch, images, stage=3)
    assert [m.block for m in found] == ["layer3.0", "layer3.1", "layer3.2"]
    for m in found:
        assert m.spatial.shape == (3, 4, 4) and m.channel.shape == (3, 32)
        assert torch.all((m.channel > 0) & (m.channel < 1))
        # The spatial BatchNorm's weight starts at 0 (the authors' init): the map is 0.5 everywhere.
        assert torch.allclose(m.spatial, torch.full_like(m.spatial, 0.5))
    assert len(attention_maps(model, arch, images)) == 9  # every block of the three stages
    assert not any(h for mod in model.modules() for h in mod._forward_hooks.values())  # hooks removed


def test_se_has_channel_weights_only_and_no_attention_has_no_maps() -> None:
    arch = tiny("se")
    found = attention_maps(build_model(arch).eval(), arch, torch.randn(2, 1, 16, 16), stage=1)
    assert len(found) == 3 and all(m.spatial is None and m.channel.shape == (2, 8) for m in found)
    plain = tiny("none")
    assert attention_maps(build_model(plain).eval(), plain, torch.randn(2, 1, 16, 16)) == []
