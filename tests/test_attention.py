"""Each gate against its formula written out by hand, on small random tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from cbam_bench.attention.cbam import CBAM
from cbam_bench.attention.channel import ChannelGate, hidden_width
from cbam_bench.attention.eca import ECA, eca_kernel_size
from cbam_bench.attention.factory import build_attention
from cbam_bench.attention.map_conv import MapConv2d
from cbam_bench.attention.spatial import SpatialGate
from cbam_bench.spec import AttentionSpec


def _mlp(gate: ChannelGate, v: torch.Tensor) -> torch.Tensor:
    first, _, second = gate.mlp
    return F.linear(F.relu(F.linear(v, first.weight, first.bias)), second.weight, second.bias)


def _randomise(module: torch.nn.Module) -> None:
    """Give every parameter (the zero-initialised BN weight too) a random value."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()


@pytest.mark.parametrize(
    "pooling, reducer",
    [
        (("avg",), lambda x: x.mean(dim=(2, 3))),
        (("max",), lambda x: x.amax(dim=(2, 3))),
        (("lp",), lambda x: x.pow(2).sum(dim=(2, 3)).sqrt()),
        (("lse",), lambda x: x.exp().sum(dim=(2, 3)).log()),
    ],
)
def test_channel_gate_single_pool_matches_formula(pooling, reducer) -> None:
    x = torch.randn(2, 8, 5, 4)
    gate = ChannelGate(8, pooling=pooling, reduction=2)
    expected = x * torch.sigmoid(_mlp(gate, reducer(x))).view(2, 8, 1, 1)
    torch.testing.assert_close(gate(x), expected)


def test_channel_gate_sums_shared_mlp_over_avg_and_max() -> None:
    x = torch.randn(3, 6, 4, 4)
    gate = ChannelGate(6, pooling=("avg", "max"), reduction=2)
    mc = torch.sigmoid(_mlp(gate, x.mean(dim=(2, 3))) + _mlp(gate, x.amax(dim=(2, 3))))
    torch.testing.assert_close(gate(x), x * mc.view(3, 6, 1, 1))


def test_hidden_width_has_a_floor() -> None:
    assert hidden_width(16, 32, 1) == 1  # 16 // 32 would be 0
    assert hidden_width(16, 32, 4) == 4
    assert hidden_width(256, 16, 1) == 16
    assert ChannelGate(16, reduction=32).mlp[0].out_features == 1


def test_spatial_gate_mean_first_then_max_formula() -> None:
    x = torch.randn(2, 5, 6, 7)
    gate = SpatialGate(5, kernel=3).eval()
    _randomise(gate)
    gate.bn.running_mean.fill_(0.3)
    gate.bn.running_var.fill_(2.0)
    desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
    z = F.conv2d(desc, gate.conv.weight, padding=1)
    z = (z - 0.3) / torch.sqrt(torch.tensor(2.0) + gate.bn.eps) * gate.bn.weight + gate.bn.bias
    torch.testing.assert_close(gate(x), x * torch.sigmoid(z))


def test_spatial_gate_starts_at_one_half_everywhere() -> None:
    gate = SpatialGate(4).eval()
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(gate(x), 0.5 * x)
    assert gate.conv.bias is None


def test_spatial_gate_conv1x1_descriptor_and_no_bn() -> None:
    x = torch.randn(2, 4, 6, 6)
    gate = SpatialGate(4, descriptor="conv1x1", kernel=5, bn=False)
    _randomise(gate)
    z = F.conv2d(F.conv2d(x, gate.compress.weight), gate.conv.weight, gate.conv.bias, padding=2)
    torch.testing.assert_close(gate(x), x * torch.sigmoid(z))
    assert gate.bn is None and gate.conv.bias is not None


def test_cbam_sequential_orders_and_parallel_formula() -> None:
    x = torch.randn(2, 8, 6, 6)
    channel, spatial = ChannelGate(8, reduction=2), SpatialGate(8).eval()
    _randomise(spatial)
    cs = CBAM(channel, spatial, order="channel-spatial")
    sc = CBAM(channel, spatial, order="spatial-channel")
    par = CBAM(channel, spatial, order="parallel")
    torch.testing.assert_close(cs(x), spatial(channel(x)))
    torch.testing.assert_close(sc(x), channel(spatial(x)))
    expected = x * torch.sigmoid(channel.logits(x) + spatial.logits(x))
    torch.testing.assert_close(par(x), expected)


def test_cbam_parallel_differs_from_sequential() -> None:
    x = torch.randn(2, 8, 6, 6)
    channel, spatial = ChannelGate(8, reduction=2), SpatialGate(8).eval()
    _randomise(spatial)
    outs = [CBAM(channel, spatial, order=o)(x) for o in ("channel-spatial", "spatial-channel", "parallel")]
    assert not torch.allclose(outs[0], outs[2])
    assert not torch.allclose(outs[1], outs[2])
    assert not torch.allclose(outs[0], outs[1])


def test_eca_kernel_and_formula() -> None:
    assert [eca_kernel_size(c) for c in (16, 64, 256, 512, 2048)] == [3, 3, 5, 5, 7]
    x = torch.randn(2, 64, 5, 5)
    eca = ECA(64)
    y = F.conv1d(x.mean(dim=(2, 3)).unsqueeze(1), eca.conv.weight, padding=1).squeeze(1)
    torch.testing.assert_close(eca(x), x * torch.sigmoid(y).view(2, 64, 1, 1))


@pytest.mark.parametrize(
    "spec, cls",
    [
        (AttentionSpec(kind="se"), ChannelGate),
        (AttentionSpec(kind="eca"), ECA),
        (AttentionSpec(kind="cbam"), CBAM),
        (AttentionSpec(kind="cbam", order="channel-only"), ChannelGate),
        (AttentionSpec(kind="cbam", order="spatial-only"), SpatialGate),
    ],
)
def test_factory_builds_the_right_module(spec, cls) -> None:
    assert isinstance(build_attention(32, spec), cls)


def test_factory_se_is_avg_only_channel_gate_and_none_is_nothing() -> None:
    se = build_attention(32, AttentionSpec(kind="se", reduction=4))
    assert se.pooling == ("avg",) and se.mlp[0].out_features == 8
    assert build_attention(32, AttentionSpec(kind="none")) is None


@pytest.mark.parametrize("order", ["channel-spatial", "spatial-channel", "parallel"])
@pytest.mark.parametrize("pooling", [("avg", "max"), ("avg", "max", "lp", "lse")])
def test_gradients_reach_every_attention_parameter(order, pooling) -> None:
    module = build_attention(
        16,
        AttentionSpec(
            kind="cbam",
            order=order,
            pooling=pooling,
            reduction=4,
            descriptor="conv1x1" if order == "parallel" else "avg+max",
        ),
    )
    # The spatial BN weight starts at 0, which blocks gradients to the conv behind it on the
    # first step; one nudge stands in for a training step.
    with torch.no_grad():
        module.spatial.bn.weight.fill_(0.1)
    x = torch.randn(4, 16, 6, 6, requires_grad=True)
    module(x).square().sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "batch, maps, kernel, bias",
    # batches of up to SMALL_BATCH take the native convolution, larger ones oneDNN's
    [(3, 2, 7, False), (9, 2, 7, False), (1, 2, 3, True), (6, 1, 5, True), (2, 6, 1, False)],
)
def test_map_conv_values_and_gradients_match_conv2d(batch: int, maps: int, kernel: int, bias: bool) -> None:
    conv = MapConv2d(maps, 1, kernel, padding=kernel // 2, bias=bias).double()
    x = torch.randn(batch, maps, 9, 7, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(batch, 1, 9, 7, dtype=torch.float64)
    ours = conv(x)
    assert ours.grad_fn is not None and "MapConv" in type(ours.grad_fn).__name__  # the fast path ran
    inputs = (x, conv.weight, *((conv.bias,) if bias else ()))
    expected_grads = torch.autograd.grad(F.conv2d(x, conv.weight, conv.bias, padding=kernel // 2), inputs, grad_out)
    torch.testing.assert_close(ours, F.conv2d(x, conv.weight, conv.bias, padding=kernel // 2))
    for got, expected in zip(torch.autograd.grad(ours, inputs, grad_out), expected_grads):
        torch.testing.assert_close(got, expected)
    with torch.inference_mode():
        torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=kernel // 2))


def test_map_conv_is_a_plain_convolution_where_counters_look() -> None:
    conv = MapConv2d(2, 1, 7, padding=3, bias=False)
    x = torch.randn(2, 2, 8, 8, requires_grad=True)
    with torch.no_grad():
        assert conv(x).grad_fn is None
    graph = str(torch.jit.trace(SpatialGate(2, bn=False), x).inlined_graph)  # how fvcore sees the network
    assert "PythonOp" not in graph and "aten::_convolution" in graph
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():  # batch 2 would take the native convolution if nothing watched
        conv(x)
    assert counter.get_total_flops() == 2 * (2 * 8 * 8) * (2 * 49)  # 2 flops per multiply-add
    strided, valid, oblong = (
        MapConv2d(2, 1, 3, stride=2, padding=1),
        MapConv2d(2, 1, 3),
        MapConv2d(2, 1, (3, 5), padding=(1, 2)),
    )
    for other in (strided, valid, oblong):
        out = other(x)  # outside what the fast path handles: nn.Conv2d's own forward
        assert "MapConv" not in type(out.grad_fn).__name__
        torch.testing.assert_close(out, F.conv2d(x, other.weight, other.bias, other.stride, other.padding))


def test_cbam_trains_under_cpu_bfloat16_autocast() -> None:
    # Autocast casts inside a forward but not in a custom backward, so the fast path stands aside.
    gate = build_attention(8, AttentionSpec(kind="cbam"))
    x = torch.randn(6, 8, 5, 5, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = gate(x)
    out.square().sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all()
    grads = [p.grad for p in gate.spatial.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
