"""The compiled CPU path's whole gate in one call each way (fused/explicit.py, gate_cpu.c) against the
plain formula in float64: Mc's MLP, the spatial norm in each of its modes, their gradients and the
norm's running statistics; and where the recorded small parts must take over instead."""

from __future__ import annotations

import copy

import pytest
import torch

from cbam_bench.attention.factory import build_attention
from cbam_bench.attention.fused import cpu, explicit, gate_cpu
from cbam_bench.spec import AttentionSpec

pytestmark = pytest.mark.skipif(cpu.library() is None, reason="no C compiler to build the compiled passes")


def _pair(spec: AttentionSpec, channels: int):
    """A float32 CBAM with random parameters and running statistics, and a float64 copy on the plain formula."""
    fused = build_attention(channels, spec)
    with torch.no_grad():
        for p in fused.parameters():
            p.normal_()
        if fused.spatial.bn is not None:
            fused.spatial.bn.running_mean.fill_(0.3)
            fused.spatial.bn.running_var.fill_(2.0)
    plain = copy.deepcopy(fused).double()
    plain.fused = "off"
    return fused, plain


def _step(module: torch.nn.Module, x: torch.Tensor, g: torch.Tensor):
    x = x.detach().clone().requires_grad_()
    out = module(x)
    out.backward(g.to(out.dtype))
    return [out.detach(), x.grad, *(p.grad for p in module.parameters())]


def _close(ours: list[torch.Tensor], reference: list[torch.Tensor]) -> None:
    for got, want in zip(ours, reference, strict=True):
        scale = want.abs().max().item() + 1e-3
        torch.testing.assert_close(got.double(), want, rtol=2e-4, atol=2e-5 * scale)


@pytest.mark.parametrize(
    "spec",
    [
        AttentionSpec(kind="cbam"),
        AttentionSpec(kind="cbam", pooling=("max", "avg"), reduction=4, kernel=3),
        AttentionSpec(kind="cbam", pooling=("avg",), mlp_bias=False),
        AttentionSpec(kind="cbam", pooling=("max",), spatial_bn=False),
        AttentionSpec(kind="cbam", reduction=2, bn_momentum=0.5),
        # wide hidden layers: the MLP batched over images instead of image by image (2 Hd > HW)
        AttentionSpec(kind="cbam", pooling=("max", "avg"), reduction=1),
        AttentionSpec(kind="cbam", pooling=("max",), reduction=1, mlp_bias=False),
    ],
    ids=["default", "max-first-r4-k3", "avg-no-bias", "max-no-norm", "r2-momentum", "max-first-r1", "max-r1-no-bias"],
)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
# odd-widths: with r = 1 the batched MLP meets an odd number of weight rows (33), vectors in a
# group of two after groups of four (10 pooled, 5 summed) and rows that end in a partial vector
@pytest.mark.parametrize("shape", [(3, 36, 5, 7), (2, 16, 8, 8), (5, 33, 3, 3)], ids=["odd", "even", "odd-widths"])
def test_hand_written_parts_match_the_formula(spec, training, shape) -> None:
    fused, plain = _pair(spec, shape[1])
    fused.train(training), plain.train(training)
    x, g = torch.randn(shape), torch.randn(shape)
    gate, params = explicit.gate_if_applies(fused, x)
    assert params == list(fused.parameters()) and gate.norm is fused.spatial.bn
    _close(_step(fused, x, g), _step(plain, x.double(), g.double()))
    if fused.spatial.bn is not None:  # moved once in training, left alone in eval, as BatchNorm2d does
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            torch.testing.assert_close(
                getattr(fused.spatial.bn, name).double(), getattr(plain.spatial.bn, name).double()
            )


def test_momentum_none_keeps_a_plain_average_of_the_batches() -> None:
    fused, plain = _pair(AttentionSpec(kind="cbam"), 8)
    fused.spatial.bn.momentum = plain.spatial.bn.momentum = None
    for _ in range(3):
        x, g = torch.randn(4, 8, 6, 6) * 3 + 1, torch.randn(4, 8, 6, 6)
        _close(_step(fused, x, g), _step(plain, x.double(), g.double()))
    assert int(fused.spatial.bn.num_batches_tracked) == 3
    torch.testing.assert_close(fused.spatial.bn.running_var.double(), plain.spatial.bn.running_var)


def test_frozen_parameters_get_no_gradient() -> None:
    fused, _ = _pair(AttentionSpec(kind="cbam"), 16)
    frozen = [fused.channel.mlp[0].weight, fused.spatial.bn.bias]
    for p in frozen:
        p.requires_grad_(False)
    _step(fused, torch.randn(2, 16, 6, 6), torch.randn(2, 16, 6, 6))
    assert all(p.grad is None for p in frozen)
    assert all(p.grad is not None for p in fused.parameters() if p.requires_grad)


def test_a_second_backward_through_the_kept_state_gives_the_same_gradients() -> None:
    # The backward only reads the forward's state tensor, so retain_graph=True may run it again.
    fused, _ = _pair(AttentionSpec(kind="cbam"), 16)
    x = torch.randn(2, 16, 6, 6, requires_grad=True)
    out = fused(x)
    assert type(out.grad_fn).__name__ == "CompiledCBAMBackward"
    g = torch.randn_like(out)
    first = torch.autograd.grad(out, [x, *fused.parameters()], g, retain_graph=True)
    second = torch.autograd.grad(out, [x, *fused.parameters()], g)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


def test_a_hook_on_a_small_part_takes_the_recorded_way_and_fires() -> None:
    fused, plain = _pair(AttentionSpec(kind="cbam"), 16)
    seen = []
    fused.spatial.bn.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    x = torch.randn(2, 16, 6, 6)
    assert explicit.gate_if_applies(fused, x) is None
    _close(_step(fused, x, torch.ones_like(x)), _step(plain, x.double(), torch.ones_like(x.double())))
    assert seen == [torch.Size([2, 1, 6, 6])]


@pytest.mark.parametrize("otherwise", ["norm-without-affine", "conv-bias-and-norm"])
def test_a_gate_built_otherwise_takes_the_recorded_way_with_the_same_result(otherwise) -> None:
    fused, plain = _pair(AttentionSpec(kind="cbam"), 16)
    if otherwise == "norm-without-affine":
        fused.spatial.bn, plain.spatial.bn = (
            torch.nn.BatchNorm2d(1, affine=False),
            torch.nn.BatchNorm2d(1, affine=False),
        )
    else:  # a bias before the norm: the compiled call would drop it, and in eval it does not cancel
        fused.eval(), plain.eval()
        fused.spatial.conv.bias = torch.nn.Parameter(torch.tensor([0.7]))
        plain.spatial.conv.bias = torch.nn.Parameter(torch.tensor([0.7]))
    plain.double()
    x, g = torch.randn(2, 16, 6, 6), torch.randn(2, 16, 6, 6)
    assert explicit.gate_if_applies(fused, x) is None
    _close(_step(fused, x, g), _step(plain, x.double(), g.double()))


def test_one_value_per_norm_is_left_to_batchnorm_to_refuse() -> None:
    fused, _ = _pair(AttentionSpec(kind="cbam"), 8)
    x = torch.randn(1, 8, 1, 1, requires_grad=True)
    assert explicit.gate_if_applies(fused, x) is None
    with pytest.raises(ValueError, match="more than 1 value"):
        fused(x)


def test_compiled_sigmoid_equals_torch_over_the_float_range() -> None:
    z = torch.cat([torch.linspace(-120, 120, 2001), torch.tensor([0.0, -0.0, 1e-8, -87.5, 88.5])]).view(1, 1, 1, -1)
    # a 1x1 convolution that passes the descriptor's first map through, no norm, no bias: Ms = sigmoid(z)
    desc = torch.cat([z, torch.zeros_like(z)], dim=1).contiguous()
    weight = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    n, _, h, w = desc.shape
    z_out, ms, used = torch.empty_like(z), torch.empty_like(z), torch.empty(3, dtype=torch.float64)
    no_norm = (gate_cpu.NO_NORM, None, None, None, None, None, 0.0, 0.0)
    cpu.call("cbam_spatial_forward", desc, n, h, w, 1, weight, *no_norm, z_out, ms, used)
    torch.testing.assert_close(ms, torch.sigmoid(z), rtol=4e-7, atol=1e-30)


@pytest.mark.parametrize("way", ["explicit", "recorded"])
def test_parameters_swapped_in_by_functional_call_are_the_ones_used_and_differentiated(way) -> None:
    fused, _ = _pair(AttentionSpec(kind="cbam"), 16)
    fused.eval()
    if way == "recorded":  # a hook on the norm sends the small parts through the modules
        fused.spatial.bn.register_forward_hook(lambda module, args, out: None)
    loaded = copy.deepcopy(fused)
    assert (explicit.gate_if_applies(fused, torch.randn(2, 16, 6, 6)) is None) == (way == "recorded")
    swapped = {name: (p.detach() * 0.5 + 0.1).requires_grad_() for name, p in fused.named_parameters()}
    with torch.no_grad():
        for name, p in loaded.named_parameters():
            p.copy_(swapped[name])
    x = torch.randn(2, 16, 6, 6)
    out = torch.func.functional_call(fused, swapped, (x,))
    out.sum().backward()
    ref = loaded(x)
    ref.sum().backward()
    torch.testing.assert_close(out, ref)
    for name, p in loaded.named_parameters():
        torch.testing.assert_close(swapped[name].grad, p.grad)
    assert all(p.grad is None for p in fused.parameters())


@pytest.mark.parametrize(
    ("spec", "absent"),
    [
        (AttentionSpec(kind="cbam"), {1: False, 3: False, 5: True, 6: False, 7: False}),
        (AttentionSpec(kind="cbam", mlp_bias=False), {1: True, 3: True, 5: True, 6: False, 7: False}),
        (AttentionSpec(kind="cbam", spatial_bn=False), {1: False, 3: False, 5: False, 6: True, 7: True}),
    ],
    ids=["default", "no-mlp-bias", "no-norm"],
)
def test_named_slots_follow_the_gate_and_listed_undoes_them(spec: AttentionSpec, absent: dict[int, bool]) -> None:
    """W1, b1, W2, b2, conv weight, conv bias, norm weight, norm bias: a default CBAM's convolution
    has no bias (the norm follows it), and without the norm it has one."""
    module = build_attention(8, spec)
    gate, params = explicit.gate_if_applies(module, torch.rand(2, 8, 5, 5))
    slots = gate_cpu.named(params, gate)
    assert len(slots) == 8 and all((slots[i] is None) == gone for i, gone in absent.items())
    assert slots[0] is module.channel.mlp[0].weight and slots[4] is module.spatial.conv.weight
    assert [id(p) for p in gate_cpu.listed(slots, gate)] == [id(p) for p in params]
