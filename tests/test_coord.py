"""Coordinate attention (Hou et al., CVPR 2021): its formula, its hidden width and its costs by hand."""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from cbam_bench.attention.coord import CoordAttention
from cbam_bench.cli.app import app
from cbam_bench.measure.counting import count_cost
from cbam_bench.models.build import build_model
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec


def test_output_is_f_times_a_row_gate_times_a_column_gate() -> None:
    torch.manual_seed(0)
    coord = CoordAttention(16, reduction=4).eval()
    for p in coord.bn.parameters():  # make the norm do something
        torch.nn.init.uniform_(p, 0.5, 1.5)
    x = torch.randn(2, 16, 5, 7)  # H != W, so a swapped axis shows
    with torch.no_grad():
        pooled_w, pooled_h = x.mean(dim=3, keepdim=True), x.mean(dim=2, keepdim=True)  # (2,16,5,1), (2,16,1,7)
        shared = lambda t: F.hardswish(coord.bn(coord.reduce(t)))  # noqa: E731 - the shared 1x1, BN, h-swish
        a_h = torch.sigmoid(coord.gate_h(shared(pooled_w)))  # one gate per row
        a_w = torch.sigmoid(coord.gate_w(shared(pooled_h)))  # one gate per column
        # BN in eval mode is per position, so reducing each pooled map alone is the same as reducing them joined.
        torch.testing.assert_close(coord(x), x * a_h * a_w)
    assert a_h.shape == (2, 16, 5, 1) and a_w.shape == (2, 16, 1, 7)


def test_hidden_width_is_c_over_r_never_below_8() -> None:
    assert CoordAttention(256, reduction=32).reduce.out_channels == 8
    assert CoordAttention(1024, reduction=32).reduce.out_channels == 32
    assert CoordAttention(16, reduction=4).reduce.out_channels == 8  # 16 // 4 = 4 is floored at 8


def test_one_coordinate_attention_costs_by_hand() -> None:
    """One module on a 32 x 16 x 16 map (cifar_resnet20 stage 2), r = 4: m = max(8, 8) = 8, N = 8192."""
    c, h, w, m, n = 32, 16, 16, 8, 8192
    params = (c * m + m) + 2 * m + 2 * (m * c + c)  # shared 1x1 with bias, its BN, two 1x1 gates with bias
    macs = c * m * (h + w) + m * c * h + m * c * w  # the shared 1x1 on H + W positions, each gate on H or W
    elementwise = (
        n
        + n  # pooling along W and along H each read every element (sums, then divides)
        + 2 * m * (h + w)  # BatchNorm and h-swish on the m x (H + W) map
        + c * (h + w)  # the two sigmoids: C x H and C x W
        + n
        + n  # F * a_h, then * a_w
    )
    assert (params, macs, elementwise) == (856, 16_384, 34_304)
    spec = ArchSpec(
        "cifar_resnet20",
        attention=AttentionSpec(kind="coord", reduction=4),
        placement=PlacementSpec(stages=(2,), blocks="first"),
    )
    cost = count_cost(build_model(spec), (1, 3, 32, 32))[""]
    assert (cost.attention_params, cost.attention_macs, cost.elementwise_ops) == (params, macs, elementwise)


def test_fx_traces_coordinate_attention_in_every_block_to_the_same_outputs() -> None:
    model = build_model(ArchSpec("cifar_resnet20", attention=AttentionSpec(kind="coord"))).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


def test_profile_selects_coord_from_the_command_line() -> None:
    args = ["profile", "cifar_resnet20", "--attention", "coord", "--stages", "3", "--blocks", "last", "--json"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # C = 64, r = 16 (the spec's default): m = max(8, 4) = 8; 3Cm + 3m + 2C = 1536 + 24 + 128.
    assert doc["attention_modules"] == 1 and doc["attention_params"] == 1_688
