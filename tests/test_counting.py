"""Counts against the CBAM paper's Table 4, against torch's own counter, and against hand arithmetic."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from cbam_bench.measure.counting import count_cost
from cbam_bench.measure.profile import profile
from cbam_bench.models.build import build_model
from cbam_bench.paper import COMPLEXITY
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec

# The nine rows PAPER.md prints: (backbone, attention) -> (Param. M, GFLOPs).
PAPER_MD_ROWS = {
    ("resnet18", "none"): (11.69, 1.814),
    ("resnet18", "se"): (11.78, 1.814),
    ("resnet18", "cbam"): (11.78, 1.815),
    ("resnet34", "none"): (21.80, 3.664),
    ("resnet34", "se"): (21.96, 3.664),
    ("resnet34", "cbam"): (21.96, 3.665),
    ("resnet50", "none"): (25.56, 3.858),
    ("resnet50", "se"): (28.09, 3.860),
    ("resnet50", "cbam"): (28.09, 3.864),
}


def _paper_spec(backbone: str, kind: str, width: float = 1.0) -> ArchSpec:
    return ArchSpec(backbone, width=width, stride_on="1x1", attention=AttentionSpec(kind=kind))


@pytest.mark.parametrize("backbone, kind", list(PAPER_MD_ROWS))
def test_table4_rows_reproduce_to_the_printed_digit(backbone, kind) -> None:
    cost = profile(_paper_spec(backbone, kind)).total
    params_m, gflops = PAPER_MD_ROWS[backbone, kind]
    assert round(cost.params / 1e6, 2) == params_m
    assert round(cost.macs / 1e9, 3) == gflops


def test_resnet50_exact_parameter_counts() -> None:
    assert profile(_paper_spec("resnet50", "none")).total.params == 25_557_032
    assert profile(_paper_spec("resnet50", "se")).total.params == 28_088_024
    assert profile(_paper_spec("resnet50", "cbam")).total.params == 28_089_624


@pytest.mark.slow
@pytest.mark.parametrize("key", [k for k in COMPLEXITY if k[0] != "mobilenet_v1" and (k[0], k[2]) not in PAPER_MD_ROWS])
def test_rest_of_table4_follows_from_the_same_rules(key) -> None:
    backbone, width, kind = key
    row = COMPLEXITY[key]
    cost = profile(_paper_spec(backbone, kind, width)).total
    assert round(cost.params / 1e6, 2) == row.params_m
    assert round(cost.macs / 1e9, 3) == row.gflops


def test_resnet50_attention_overheads_by_hand() -> None:
    """SE adds 2C^2/r + C/r + C per block; CBAM adds 7*7*2 + 2 (conv + BN) per block on top."""
    blocks = [(256, 56)] * 3 + [(512, 28)] * 4 + [(1024, 14)] * 6 + [(2048, 7)] * 3
    se_params = sum(2 * c * (c // 16) + c // 16 + c for c, _ in blocks)
    se_macs = sum(2 * c * (c // 16) for c, _ in blocks)
    # CBAM runs the shared MLP twice (avg and max) and adds one 7x7 conv over 2 maps per position.
    cbam_macs = 2 * se_macs + sum(98 * hw * hw for _, hw in blocks)
    base = profile(_paper_spec("resnet50", "none")).total
    se = profile(_paper_spec("resnet50", "se")).total
    cbam = profile(_paper_spec("resnet50", "cbam")).total
    assert se.params - base.params == se.attention_params == se_params
    assert se.macs - base.macs == se.attention_macs == se_macs
    assert cbam.params - base.params == se_params + 100 * len(blocks)
    assert cbam.macs - base.macs == cbam.attention_macs == cbam_macs


def _torch_macs(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(shape))
    return counter.get_total_flops() // 2  # torch counts a multiply-add as two flops


@pytest.mark.parametrize(
    "spec",
    [
        ArchSpec("resnet18", input_size=64),
        ArchSpec("resnet18", input_size=64, attention=AttentionSpec(kind="cbam")),
        ArchSpec("resnet50", input_size=64, stride_on="1x1", attention=AttentionSpec(kind="cbam", order="parallel")),
        ArchSpec("resnext50_32x4d", input_size=64, attention=AttentionSpec(kind="se")),
        ArchSpec(
            "cifar_resnet20",
            attention=AttentionSpec(kind="cbam", pooling=("avg", "max", "lp", "lse"), descriptor="conv1x1"),
        ),
        ArchSpec("cifar_resnet20", attention=AttentionSpec(kind="eca")),
        ArchSpec(
            "mobilenet_v2", input_size=96, attention=AttentionSpec(kind="cbam"), placement=PlacementSpec(position="pre")
        ),
        ArchSpec("mobilenet_v1", input_size=96, attention=AttentionSpec(kind="cbam", order="spatial-channel")),
    ],
    ids=lambda s: f"{s.backbone}-{s.attention.summary()}",
)
def test_macs_agree_with_torch_flop_counter(spec) -> None:
    model = build_model(spec)
    shape = (1, 3, spec.input_size, spec.input_size)
    assert count_cost(model, shape)[""].macs == _torch_macs(model, shape)


# layer2.0 of cifar_resnet20 outputs 32 channels at 16x16; r = 4 gives a hidden width of 8.
C, H, W, HIDDEN = 32, 16, 16, 8
N = C * H * W  # 8192 elements


def _one_module(attention: AttentionSpec) -> int:
    spec = ArchSpec(
        "cifar_resnet20", input_size=32, attention=attention, placement=PlacementSpec(stages=(2,), blocks="first")
    )
    return count_cost(build_model(spec), (1, 3, 32, 32))[""].elementwise_ops


def test_elementwise_ops_of_one_cbam_by_hand() -> None:
    """One CBAM on a C x H x W map, counted primitive by primitive."""
    channel = (
        N
        + N  # avg pooling (N - C adds, then C divides) and max pooling read every element
        + 2 * HIDDEN  # ReLU on the hidden vector of each pooled descriptor
        + C  # summing the two MLP outputs: (P - 1) * C = 1 * 32 adds
        + C  # sigmoid
        + N  # multiply
    )  # 8192 * 3 + 16 + 32 + 32 = 24656
    spatial = (
        N
        + N  # channel mean (N - HW adds, then HW divides) and channel max read every element
        + H * W  # batch norm on the one-channel map
        + H * W  # sigmoid
        + N  # multiply
    )  # 8192 * 3 + 256 + 256 = 25088
    assert channel == 24_656 and spatial == 25_088
    assert _one_module(AttentionSpec(kind="cbam", reduction=4)) == channel + spatial == 49_744
    assert count_cost(build_model(ArchSpec("cifar_resnet20")), (1, 3, 32, 32))[""].elementwise_ops == 0


def test_elementwise_ops_of_se_and_of_four_pools_by_hand() -> None:
    """SE has one pooled vector, so nothing to sum; four pools sum four MLP outputs with 3 * C adds."""
    se = N + HIDDEN + C + N  # avg pooling, ReLU, sigmoid, multiply: 8192 * 2 + 8 + 32 = 16424
    assert _one_module(AttentionSpec(kind="se", reduction=4)) == se == 16_424
    four = (
        N
        + N  # avg and max pooling
        + N
        + (N - C)
        + C  # lp: square every element, N - C adds, a square root per channel
        + N  # log-sum-exp reads every element
        + 4 * HIDDEN  # ReLU per pooled vector
        + 3 * C  # (P - 1) * C adds
        + C
        + N  # sigmoid, multiply
    )  # 8192 * 6 + 32 + 96 + 32 = 49312
    attention = AttentionSpec(kind="cbam", order="channel-only", reduction=4, pooling=("avg", "max", "lp", "lse"))
    assert _one_module(attention) == four == 49_312


def test_stage_rows_add_up_to_the_total() -> None:
    result = profile(ArchSpec("resnet50", input_size=64, attention=AttentionSpec(kind="cbam")), by="stage")
    assert [r.name for r in result.rows] == ["stage 1", "stage 2", "stage 3", "stage 4", "stem + head"]
    assert [r.modules for r in result.rows] == [3, 4, 6, 3, 0]
    for field in ("params", "macs", "attention_params", "attention_macs", "elementwise_ops", "fvcore_flops"):
        assert sum(getattr(r.cost, field) for r in result.rows) == getattr(result.total, field), field


def test_block_rows_show_attention_where_placed() -> None:
    spec = ArchSpec(
        "cifar_resnet20", attention=AttentionSpec(kind="se"), placement=PlacementSpec(stages=(3,), blocks="last")
    )
    result = profile(spec, by="block")
    with_attention = [r.name for r in result.rows if r.cost.attention_params]
    assert with_attention == ["layer3.2"]
    assert [r.name for r in result.rows if r.modules] == ["layer3.2"]
