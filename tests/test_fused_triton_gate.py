"""The whole CBAM gate in Triton kernels (fused/gate_triton.py, gate_kernels.py) against the plain
formula in float64: the MLP, the spatial convolution and norm in each of its modes, their
gradients, the norm's running statistics, NCHW and channels_last, a bfloat16 map. Compiled on a
machine with a GPU, interpreted on the CPU elsewhere (conftest)."""

from __future__ import annotations

import pytest
import torch
from test_fused_explicit import _close, _pair

from cbam_bench.attention.fused import explicit
from cbam_bench.attention.fused.autograd import fused_cbam
from cbam_bench.spec import AttentionSpec

pytest.importorskip("triton", reason="Triton ships with torch's Linux builds; this torch has none")
# The interpreter computes sigmoid with numpy, whose exp overflows (to the right limit, 0) for large negative logits.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
SPECS = {
    "default": AttentionSpec(kind="cbam"),
    "max-first-r4-k3": AttentionSpec(kind="cbam", pooling=("max", "avg"), reduction=4, kernel=3),
    "avg-no-bias": AttentionSpec(kind="cbam", pooling=("avg",), mlp_bias=False),
    "max-no-norm": AttentionSpec(kind="cbam", pooling=("max",), spatial_bn=False),
    "wide-r1-k5": AttentionSpec(kind="cbam", reduction=1, kernel=5),
}


@pytest.fixture(scope="module")
def ops():
    from cbam_bench.attention.fused import triton_ops

    return triton_ops


def _step(module: torch.nn.Module, x: torch.Tensor, g: torch.Tensor, ops=None) -> list[torch.Tensor]:
    x = x.detach().clone().requires_grad_()
    out = fused_cbam(module, x, ops) if ops is not None else module(x)
    if ops is not None:  # the whole gate, not FusedCBAM's recorded small parts
        assert type(out.grad_fn).__name__ == "CompiledCBAMBackward"
    out.backward(g.to(out.dtype))
    return [out.detach(), x.grad, *(p.grad for p in module.parameters())]


def _running(module: torch.nn.Module) -> list[torch.Tensor]:
    bn = module.spatial.bn
    return [] if bn is None else [bn.running_mean.double(), bn.running_var.double(), bn.num_batches_tracked.double()]


def _case(spec: AttentionSpec, shape: tuple[int, ...], training: bool, channels_last: bool = False):
    fused, plain = _pair(spec, shape[1])
    fused.to(DEVICE).train(training), plain.to(DEVICE).train(training)
    x, g = torch.randn(shape, device=DEVICE), torch.randn(shape, device=DEVICE)
    if channels_last:
        x, g = (t.contiguous(memory_format=torch.channels_last) for t in (x, g))
    return fused, plain, x, g


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_the_triton_gate_matches_the_formula(ops, spec, training) -> None:
    fused, plain, x, g = _case(spec, (3, 36, 5, 7), training)
    assert explicit.gate_if_applies(fused, x) is not None
    _close(_step(fused, x, g, ops), _step(plain, x.double(), g.double()))
    for ours, want in zip(_running(fused), _running(plain)):  # moved once in training, as BatchNorm2d does
        torch.testing.assert_close(ours, want)


def test_the_triton_gate_on_channels_last_maps_keeps_their_layout(ops) -> None:
    fused, plain, x, g = _case(SPECS["default"], (2, 40, 12, 11), True, channels_last=True)
    ours = _step(fused, x, g, ops)
    assert ours[0].is_contiguous(memory_format=torch.channels_last) and not ours[0].is_contiguous()
    _close(ours, _step(plain, x.double(), g.double()))


def test_the_triton_gate_keeps_a_plain_average_when_momentum_is_none(ops) -> None:
    fused, plain, _, _ = _case(SPECS["max-first-r4-k3"], (4, 8, 6, 6), True)
    fused.spatial.bn.momentum = plain.spatial.bn.momentum = None
    for _ in range(2):  # the first batch's statistics, then the mean of both
        x, g = torch.randn(4, 8, 6, 6, device=DEVICE) * 3 + 1, torch.randn(4, 8, 6, 6, device=DEVICE)
        _close(_step(fused, x, g, ops), _step(plain, x.double(), g.double()))
    assert int(fused.spatial.bn.num_batches_tracked) == 2
    torch.testing.assert_close(fused.spatial.bn.running_var.double(), plain.spatial.bn.running_var)


def test_the_triton_gate_on_a_bfloat16_map_is_as_close_to_float64_as_the_formula(ops) -> None:
    # float32 parameters on a bfloat16 map, as under autocast: the small parts run in float32 here
    fused, plain, x, g = _case(SPECS["default"], (2, 40, 12, 11), True, channels_last=True)
    formula, _ = _pair(SPECS["default"], 40)
    formula.load_state_dict(fused.state_dict())
    formula.to(DEVICE).fused = "off"
    x, g = x.bfloat16(), g.bfloat16()
    ours, theirs = _step(fused, x, g, ops), _step(formula.bfloat16(), x, g)
    exact = _step(plain, x.double(), g.double())
    for a, f, b in zip(ours[:2], theirs[:2], exact[:2], strict=True):
        # the output and dL/dx are bfloat16 maps: the formula's own error is the yardstick, two
        # bfloat16 steps of the largest value the floor
        assert (a.double() - b).abs().max() <= max(2 * (f.double() - b).abs().max(), 0.02 * b.abs().max())
    # everything else, the descriptor included, is float32: the parameters' gradients are float32's
    # (the formula's in bfloat16 are off by up to a third where a norm's gradient sums cancel)
    _close(ours[2:], exact[2:])
