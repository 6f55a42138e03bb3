"""BAM (Park et al., BMVC 2018): its formula, the authors' ResNet-50 + BAM count, and its costs by hand."""

from __future__ import annotations

import json

import pytest
import torch

from cbam_bench.attention.bam import BAM
from cbam_bench.measure.counting import count_cost
from cbam_bench.measure.profile import profile
from cbam_bench.models.build import build_model
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec


def _bam_params(c: int, r: int = 16) -> int:
    """One BAM on C channels, hidden h = C // r, every linear layer and convolution with a bias.

    channel: Linear C->h (C*h + h), BatchNorm1d(h) (2h), Linear h->C (h*C + C)       = 2Ch + 3h + C
    spatial: 1x1 C->h (C*h + h) + BN (2h); two 3x3 h->h (9h^2 + h) + BN (2h) each;
             1x1 h->1 (h + 1)                                                        = Ch + 18h^2 + 10h + 1
    """
    h = c // r
    return (2 * c * h + 3 * h + c) + (c * h + 18 * h * h + 10 * h + 1)


def test_the_authors_resnet50_with_bam_has_25_915_099_parameters() -> None:
    # After stages 1, 2, 3 of ResNet-50: C = 256, 512, 1024 (h = 16, 32, 64):
    # 17,361 + 68,513 + 272,193 = 358,067 on top of ResNet-50's 25,557,032 = 25,915,099.
    # Without the BatchNorm after the 1x1 reduction (2h each) it would be 224 fewer: that norm is there.
    assert [_bam_params(c) for c in (256, 512, 1024)] == [17_361, 68_513, 272_193]
    spec = ArchSpec("resnet50", attention=AttentionSpec(kind="bam"), placement=PlacementSpec(position="between-stages"))
    model = build_model(spec)
    assert sum(p.numel() for p in model.parameters()) == 25_557_032 + 358_067 == 25_915_099
    assert [name for name, m in model.named_modules() if isinstance(m, BAM)] == [
        "layer1.2.attention",
        "layer2.3.attention",
        "layer3.5.attention",
    ]


def test_between_stages_is_counted_in_the_stage_it_follows() -> None:
    spec = ArchSpec(
        "resnet50",
        input_size=64,
        attention=AttentionSpec(kind="bam"),
        placement=PlacementSpec(position="between-stages"),
    )
    rows = profile(spec, by="stage").rows
    assert [r.modules for r in rows] == [1, 1, 1, 0, 0]
    assert [r.cost.attention_params for r in rows] == [17_361, 68_513, 272_193, 0, 0]


@pytest.mark.parametrize("combine", ["sum", "product"])
def test_output_is_f_times_one_plus_the_sigmoid_of_the_joined_maps(combine) -> None:
    torch.manual_seed(0)
    bam = BAM(32, reduction=4, combine=combine).eval()
    x = torch.randn(2, 32, 9, 9)
    with torch.no_grad():
        mc = bam.channel.mlp(x.mean(dim=(2, 3))).view(2, 32, 1, 1)
        ms = bam.spatial.body(x)
        joined = mc + ms if combine == "sum" else mc * ms
        torch.testing.assert_close(bam(x), x * (1 + torch.sigmoid(joined)))
    assert ms.shape == (2, 1, 9, 9)  # the dilated convolutions keep the map's size


def test_the_paper_sum_is_the_default_and_the_two_combines_differ() -> None:
    assert AttentionSpec(kind="bam").combine == "sum"
    torch.manual_seed(0)
    a, b = BAM(16, reduction=4).eval(), BAM(16, reduction=4, combine="product").eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(a(x), b(x))
    with pytest.raises(ValueError, match="combine"):
        BAM(16, combine="max")


def test_one_bam_costs_by_hand() -> None:
    """One BAM on a 32 x 16 x 16 map (cifar_resnet20 stage 2), r = 4: h = 8, N = C*H*W = 8192, HW = 256."""
    c, hw, h, n = 32, 256, 8, 8192
    params = (2 * c * h + 3 * h + c) + (c * h + 18 * h * h + 10 * h + 1)  # 568 + 1489
    macs = 2 * c * h + c * h * hw + 2 * 9 * h * h * hw + h * hw  # MLP 512, 1x1 65,536, 3x3 294,912, 1x1 2,048
    elementwise = (
        n  # average pooling reads every element (N - C adds, then C divides)
        + 2 * h  # BatchNorm1d and ReLU on the hidden vector
        + 3 * 2 * h * hw  # BatchNorm and ReLU after each of the three hidden convolutions
        + n  # joining Mc (C x 1 x 1) and Ms (1 x H x W): one add (or multiply) per element of C x H x W
        + n
        + n
        + n  # sigmoid, 1 + M, F * (1 + M)
    )
    assert (params, macs, elementwise) == (2_057, 363_008, 53_264)
    for combine in ("sum", "product"):
        spec = ArchSpec(
            "cifar_resnet20",
            attention=AttentionSpec(kind="bam", reduction=4, combine=combine),
            placement=PlacementSpec(stages=(2,), blocks="first"),
        )
        cost = count_cost(build_model(spec), (1, 3, 32, 32))[""]
        assert (cost.attention_params, cost.attention_macs, cost.elementwise_ops) == (params, macs, elementwise)


def test_profile_selects_bam_between_stages_from_the_command_line() -> None:
    from typer.testing import CliRunner

    from cbam_bench.cli.app import app

    args = [
        "profile",
        "cifar_resnet20",
        "--attention",
        "bam",
        "--reduction",
        "4",
        "--position",
        "between-stages",
        "--json",
    ]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # After stages 1 and 2 of a 16-32-64 network: C = 16 (h = 4) and C = 32 (h = 8).
    assert doc["attention_modules"] == 2
    assert doc["attention_params"] == _bam_params(16, 4) + _bam_params(32, 4) == 549 + 2_057
    assert doc["arch"]["attention"]["combine"] == "sum" and doc["arch"]["placement"]["position"] == "between-stages"


def test_fx_traces_bam_between_stages_to_the_same_outputs() -> None:
    spec = ArchSpec(
        "cifar_resnet20",
        attention=AttentionSpec(kind="bam", reduction=4),
        placement=PlacementSpec(position="between-stages"),
    )
    model = build_model(spec).eval()
    traced = torch.fx.symbolic_trace(model)
    assert sum(".attention." in n.target for n in traced.graph.nodes if n.op == "call_module") > 0
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)
