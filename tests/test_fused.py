"""The fused CBAM path against the plain formula: values, gradients, fallbacks and the switch."""

from __future__ import annotations

import copy

import pytest
import torch

from cbam_bench.attention.factory import build_attention
from cbam_bench.attention.fused import cpu, torch_ops
from cbam_bench.attention.fused.dispatch import check_mode, fused_ops, fused_setting, set_fused
from cbam_bench.spec import AttentionSpec


def _pair(spec: AttentionSpec, channels: int = 8, dtype: torch.dtype = torch.float64):
    """A CBAM module with every parameter random, and a copy that runs the plain formula."""
    fused = build_attention(channels, spec).to(dtype)
    with torch.no_grad():
        for p in fused.parameters():
            p.normal_()
    plain = copy.deepcopy(fused)
    plain.fused = "off"
    return fused, plain


def _run(module: torch.nn.Module, x: torch.Tensor, g: torch.Tensor):
    x = x.detach().clone().requires_grad_()
    out = module(x)
    out.backward(g)
    return out.detach(), x.grad, [p.grad for p in module.parameters()]


@pytest.mark.parametrize("pooling", [("avg", "max"), ("avg",), ("max",), ("max", "avg")])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_matches_plain_formula_in_float64(pooling, channels_last) -> None:
    fused, plain = _pair(AttentionSpec(kind="cbam", pooling=pooling, kernel=3))
    x = torch.randn(3, 8, 5, 6, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn_like(x)
    assert fused_ops(fused, x) is torch_ops
    (out, dx, dps), (ref, rdx, rdps) = _run(fused, x, g), _run(plain, x, g)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dx, rdx, rtol=1e-10, atol=1e-10)
    for dp, rdp in zip(dps, rdps):
        torch.testing.assert_close(dp, rdp, rtol=1e-10, atol=1e-10)
    # The spatial norm's running statistics moved once, as with the formula.
    torch.testing.assert_close(fused.spatial.bn.running_var, plain.spatial.bn.running_var)


def test_fused_float32_agrees_to_float_rounding() -> None:
    fused, plain = _pair(AttentionSpec(kind="cbam"), channels=16, dtype=torch.float32)
    x, g = torch.randn(4, 16, 7, 7), torch.randn(4, 16, 7, 7)
    assert fused_ops(fused, x) is cpu
    (out, dx, dps), (ref, rdx, rdps) = _run(fused, x, g), _run(plain, x, g)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(dx, rdx, rtol=1e-4, atol=1e-5)
    for dp, rdp in zip(dps, rdps):
        torch.testing.assert_close(dp, rdp, rtol=1e-4, atol=1e-4)


def test_fused_passes_gradcheck() -> None:
    fused, _ = _pair(AttentionSpec(kind="cbam", kernel=3), channels=4)
    x = torch.randn(2, 4, 4, 3, dtype=torch.float64, requires_grad=True)
    params = list(fused.parameters())
    assert torch.autograd.gradcheck(lambda t, *_: fused(t), (x, *params), eps=1e-6, atol=1e-6)


def test_fused_inference_matches_plain() -> None:
    fused, plain = _pair(AttentionSpec(kind="cbam"), dtype=torch.float32)
    fused.eval(), plain.eval()
    x = torch.randn(1, 8, 6, 6)
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), plain(x), rtol=1e-5, atol=1e-6)


def test_fused_leaves_a_frozen_input_without_gradient() -> None:
    fused, plain = _pair(AttentionSpec(kind="cbam"))
    x = torch.randn(2, 8, 4, 4, dtype=torch.float64)
    fused(x).sum().backward()
    plain(x).sum().backward()
    for p, q in zip(fused.parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad)


@pytest.mark.parametrize(
    "spec",
    [
        AttentionSpec(kind="cbam", order="spatial-channel"),
        AttentionSpec(kind="cbam", order="parallel"),
        AttentionSpec(kind="cbam", pooling=("avg", "lse")),
        AttentionSpec(kind="cbam", descriptor="conv1x1"),
    ],
    ids=["spatial-channel", "parallel", "lse", "conv1x1"],
)
def test_uncovered_combinations_fall_back_to_the_formula(spec) -> None:
    module = build_attention(8, spec)
    assert fused_ops(module, torch.randn(2, 8, 4, 4)) is None


def test_off_autocast_and_integer_inputs_take_the_formula() -> None:
    module = build_attention(8, AttentionSpec(kind="cbam"))
    x = torch.randn(2, 8, 4, 4)
    assert fused_ops(module, x) is cpu
    assert fused_ops(module, x.double()) is torch_ops
    assert fused_ops(module, x.contiguous(memory_format=torch.channels_last)) is torch_ops
    assert fused_ops(module, x.flatten(2)) is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert fused_ops(module, x) is None
    set_fused(module, "off")
    assert fused_ops(module, x) is None


def test_without_a_compiler_the_cpu_path_uses_torch_operators(monkeypatch) -> None:
    fused, plain = _pair(AttentionSpec(kind="cbam"), dtype=torch.float32)
    monkeypatch.setattr(cpu, "library", lambda: None)
    x, g = torch.randn(2, 8, 5, 5), torch.randn(2, 8, 5, 5)
    assert fused_ops(fused, x) is torch_ops
    for got, want in zip(_run(fused, x, g)[:2], _run(plain, x, g)[:2]):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_set_fused_reaches_every_cbam_and_is_recorded() -> None:
    from cbam_bench.models.build import build_model
    from cbam_bench.spec import ArchSpec

    model = build_model(ArchSpec("cifar_resnet20", num_classes=10, input_size=8, attention=AttentionSpec(kind="cbam")))
    assert fused_setting(model) == "auto"
    set_fused(model, "off")
    assert fused_setting(model) == "off"
    assert fused_setting(torch.nn.Linear(2, 2)) is None


def test_unknown_mode_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="fused mode 'fast' is not allowed; allowed: auto, on, off"):
        check_mode("fast")
