"""Fused CBAM's compiled passes against torch_ops and the plain formula: the C passes for the CPU,
and the Triton kernels for CUDA, compiled on a machine with a GPU and run on the CPU by Triton's
interpreter elsewhere (conftest). Tiny shapes, but each spans two channel blocks and two position
blocks of the kernels."""

from __future__ import annotations

import copy

import pytest
import torch

from cbam_bench.attention.factory import build_attention
from cbam_bench.attention.fused import cpu, torch_ops
from cbam_bench.attention.fused.autograd import fused_cbam
from cbam_bench.spec import AttentionSpec

pytest.importorskip("triton", reason="Triton ships with torch's Linux builds; this torch has none")

SHAPE = (2, 40, 12, 11)  # 40 channels > one block of 32; 132 positions > one block of 128
# Where the Triton kernels' tensors live: the GPU, or the CPU under conftest's TRITON_INTERPRET=1.
TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(scope="module")
def kernels():
    """triton_ops, whose kernels are compiled for the GPU or interpreted on the CPU (conftest)."""
    from cbam_bench.attention.fused import triton_ops

    return triton_ops


def _map(
    channels_last: bool, dtype: torch.dtype = torch.float32, shape: tuple[int, ...] = SHAPE, device: str = "cpu"
) -> torch.Tensor:
    x = torch.randn(shape).to(device=device, dtype=dtype)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _module(dtype: torch.dtype, device: str = "cpu") -> torch.nn.Module:
    module = build_attention(SHAPE[1], AttentionSpec(kind="cbam", kernel=3)).to(device=device, dtype=dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    return module


def _run(module, x, g, ops=None):
    x = x.clone().requires_grad_()
    out = fused_cbam(module, x, ops) if ops is not None else module(x)
    out.backward(g)
    return [out.double(), x.grad.double(), *(p.grad.double() for p in module.parameters())]


@pytest.fixture(scope="module")
def compiled():
    """The C passes, which every machine with a C compiler builds."""
    assert cpu.library() is not None, "cbam_cpu.c did not build: is a C compiler (cc) installed?"
    return cpu


@pytest.mark.parametrize(
    "backend, channels_last, shape",
    [
        ("kernels", False, SHAPE),
        ("kernels", True, SHAPE),
        ("kernels", False, (16, 5, 3, 3)),  # 16 programs each way: one chunk, no partial results
        ("compiled", False, SHAPE),
        # 42 positions: the compiled passes' blocks of 32, then a lone vector, then two one by one
        ("compiled", False, (3, 5, 7, 6)),
    ],
    ids=["triton-nchw", "triton-channels_last", "triton-one-chunk", "c-nchw", "c-nchw-42-positions"],
)
def test_compiled_passes_equal_torch_ops_pass_by_pass(request, backend, channels_last, shape) -> None:
    kernels = request.getfixturevalue(backend)
    device = TRITON_DEVICE if backend == "kernels" else "cpu"
    x, g = _map(channels_last, shape=shape, device=device), _map(channels_last, shape=shape, device=device)
    mc, ms = torch.rand(shape[:2], device=device), torch.rand(shape[0], *shape[2:], device=device)
    avg, mx, where_hw = kernels.pool(x)
    ref_avg, ref_mx, ref_where_hw = torch_ops.pool(x)
    torch.testing.assert_close(avg, ref_avg)
    torch.testing.assert_close(mx, ref_mx, rtol=0, atol=0)
    assert torch.equal(where_hw.long(), ref_where_hw)  # ties: none in random floats
    desc, where_c, _ = kernels.describe(x, mc)
    ref_desc, ref_where_c, gated = torch_ops.describe(x, mc)
    torch.testing.assert_close(desc, ref_desc)
    assert torch.equal(where_c.long().view_as(ref_where_c), ref_where_c)
    out = kernels.gate(x, mc, ms, None)
    assert out.stride() == x.stride()
    torch.testing.assert_close(out, torch_ops.gate(x, mc, ms, gated))
    d_ms, share = kernels.grad_ms(g, x, mc, ms)
    ref_d_ms, gx = torch_ops.grad_ms(g, x, mc, ms)
    torch.testing.assert_close(d_ms, ref_d_ms, rtol=1e-5, atol=1e-5)
    d_desc = torch.randn(shape[0], 2, *shape[2:], device=device)
    torch.testing.assert_close(
        kernels.grad_mc(share, x, ms, d_desc, where_c),
        torch_ops.grad_mc(gx, x, ms, d_desc, ref_where_c),
        rtol=1e-5,
        atol=1e-4,
    )
    d_pool = (torch.randn(shape[:2], device=device), torch.randn(shape[:2], device=device))
    dx = kernels.grad_input(g, mc, ms, d_desc, where_c, d_pool, where_hw)
    assert dx.stride() == g.stride()
    torch.testing.assert_close(dx, torch_ops.grad_input(g, mc, ms, d_desc, ref_where_c, d_pool, ref_where_hw))


def test_triton_reductions_are_cut_into_chunks_that_fill_the_gpu(kernels, monkeypatch) -> None:
    # The tests' shape runs in two chunks each way on the interpreter's nominal four multiprocessors.
    assert kernels._chunks(132, 128, 4, torch.device("cpu")) == (128, 2)
    assert kernels._chunks(40, 32, 4, torch.device("cpu")) == (32, 2)
    monkeypatch.setattr(kernels, "_multiprocessors", lambda device: 132)  # an H100
    # 8x256x56x56 pooled: 64 programs of (image, 32 channels) want 9 chunks of 3 blocks of 128 positions
    assert kernels._chunks(56 * 56, 128, 8 * 8, torch.device("cuda")) == (384, 9)
    # 128 images x 1 block of channels: 4 chunks of 2 blocks; enough programs already: one chunk
    assert kernels._chunks(1024, 128, 128, torch.device("cuda")) == (256, 4)
    assert kernels._chunks(1024, 128, 4 * 132, torch.device("cuda")) == (1024, 1)
    # never more chunks than blocks
    assert kernels._chunks(49, 32, 1, torch.device("cuda")) == (32, 2)


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_triton_pooling_and_descriptor_report_the_first_of_tied_maxima_across_chunks(kernels, channels_last) -> None:
    x = torch.ones(SHAPE, device=TRITON_DEVICE)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    avg, mx, where_hw = kernels.pool(x)  # every position ties: the first of the first chunk wins
    assert torch.equal(where_hw.long(), torch.zeros(SHAPE[:2], dtype=torch.long, device=TRITON_DEVICE))
    assert torch.equal(mx, torch.ones_like(mx)) and torch.allclose(avg, torch.ones_like(avg))
    x[:, :, 5, 10] = 2.0  # position 65, in the first chunk of 128; and at 131, the second's last
    x[:, :, 11, 10] = 2.0
    assert torch.equal(kernels.pool(x)[2].long(), torch.full(SHAPE[:2], 65, device=TRITON_DEVICE))
    x[:, :, 5, 10] = 1.0
    assert torch.equal(kernels.pool(x)[2].long(), torch.full(SHAPE[:2], 131, device=TRITON_DEVICE))
    desc, where_c, _ = kernels.describe(
        torch.ones(SHAPE, device=TRITON_DEVICE), torch.ones(SHAPE[:2], device=TRITON_DEVICE)
    )
    assert torch.equal(
        where_c.long(), torch.zeros(SHAPE[0], SHAPE[2] * SHAPE[3], dtype=torch.long, device=TRITON_DEVICE)
    )
    assert torch.allclose(desc, torch.ones_like(desc))


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_triton_cbam_equals_the_formula_in_float32(kernels, channels_last) -> None:
    module = _module(torch.float32, TRITON_DEVICE)
    plain = copy.deepcopy(module)
    plain.fused = "off"
    x, g = _map(channels_last, device=TRITON_DEVICE), _map(channels_last, device=TRITON_DEVICE)
    for got, want in zip(_run(module, x, g, kernels), _run(plain, x, g)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_triton_cbam_in_bfloat16_is_as_close_to_float64_as_the_formula(kernels) -> None:
    module = _module(torch.bfloat16, TRITON_DEVICE)
    plain, exact = copy.deepcopy(module), copy.deepcopy(module).double()
    plain.fused = exact.fused = "off"
    x, g = _map(True, torch.bfloat16, device=TRITON_DEVICE), _map(True, torch.bfloat16, device=TRITON_DEVICE)
    got, formula = _run(module, x, g, kernels), _run(plain, x, g)
    want = _run(exact, x.double(), g.double())
    for a, f, b in zip(got, formula, want):
        # The MLP and the convolution run in bfloat16 on both paths, so the formula's own error is
        # the yardstick; the floor is about two bfloat16 steps (1/128) of the largest value.
        scale = b.abs().max()
        assert (a - b).abs().max() <= max(2 * (f - b).abs().max(), 0.02 * scale)


@pytest.mark.parametrize("side", [(7, 11), (2, 3), (8, 8)])  # 77 positions: groups, a vector and a tail; 6; 64
def test_compiled_pooling_reports_the_first_of_tied_maxima_as_torch_does(compiled, side) -> None:
    hw = side[0] * side[1]
    x = torch.zeros(2, 4, hw)
    # Tied maxima, each channel its own: in the tail; first and last; one lane of two accumulator
    # chains (11 and 3: 8-float vectors, 4 chains of them); one lane of one chain in two groups and
    # in the single vectors after them (35, 3, 67). Places past a short row are dropped.
    places = [(hw - 1, hw - 2), (0, hw - 1), (11, 3), (35, 3, 67)]
    for c, spots in enumerate(places):
        x[:, c, [i for i in spots if i < hw]] = 5.0
    x[1] -= torch.rand(4, hw)  # the second image: random values below the tied maxima
    x = x.view(2, 4, *side)
    avg, mx, where = compiled.pool(x)
    want_mx, want_where = x.flatten(2).max(dim=2)
    assert torch.equal(mx, want_mx) and torch.equal(where, want_where)
    torch.testing.assert_close(avg, x.flatten(2).mean(dim=2))


@pytest.mark.parametrize("side", [(4, 4), (1, 1), (7, 9)])  # short rows (below 64 positions) go eight at a time
def test_compiled_pooling_of_short_rows_eight_at_once_and_the_rest_one_by_one(compiled, side) -> None:
    # 3 images x 5 channels: rows 0-7 and 8-15 would be two blocks of eight; row 15 does not
    # exist, so rows 8-14 take the one-by-one way, and both ways must agree with torch.
    hw = side[0] * side[1]
    x = torch.randn(3, 5, hw)
    x[0, 1, [hw // 2, hw - 1]] = 9.0  # a tie in the block of eight: the first place is reported
    x[2, 4, [0, hw - 1]] = 9.0  # and among the rows one by one
    x[0, 2] = -torch.inf  # a map of -inf pools to -inf at place 0, as torch.max says
    x[2, 3] = -torch.inf
    x = x.view(3, 5, *side)
    avg, mx, where = compiled.pool(x)
    want_mx, want_where = x.flatten(2).max(dim=2)
    assert torch.equal(mx, want_mx) and torch.equal(where, want_where)
    torch.testing.assert_close(avg, x.flatten(2).mean(dim=2))


def test_compiled_descriptor_keeps_minus_infinity(compiled) -> None:
    x = torch.randn(2, 3, 4, 4)
    x[1, :, 0, 0] = -torch.inf  # every channel -inf at one position: its max is -inf, from channel 0
    desc, where_c, _ = compiled.describe(x, torch.ones(2, 3))
    assert desc[1, 1, 0, 0] == -torch.inf and where_c[1, 0, 0, 0] == 0
    torch.testing.assert_close(desc[0, 1], x[0].amax(dim=0))


@pytest.mark.parametrize(
    "maps, kernel, bias, height, width",
    # widths of one vector and a bit (9), of exactly four (32, one register block), of five and a
    # tail (33), and narrower than the kernel's reach (2)
    [
        (2, 7, False, 6, 9),
        (1, 3, True, 6, 9),
        (2, 5, True, 6, 9),
        (2, 7, False, 32, 32),
        (2, 3, False, 5, 33),
        (2, 7, False, 3, 2),
    ],
)
def test_compiled_map_conv_equals_conv2d_with_its_gradients(compiled, maps, kernel, bias, height, width) -> None:
    from cbam_bench.attention.map_conv import MapConv2d

    conv = MapConv2d(maps, 1, kernel, padding=kernel // 2, bias=bias)
    x = torch.randn(5, maps, height, width, requires_grad=True)
    g = torch.randn(5, 1, height, width)
    ours = conv(x)
    assert "MapConv" in type(ours.grad_fn).__name__
    ours.backward(g)
    got = [ours.detach(), x.grad, *(p.grad for p in conv.parameters())]
    # The exact values: conv2d in float64. The weight's gradient sums 5 x H x W products, so both
    # float32 paths round; ours is held to float rounding of the exact sum (conv2d's own float32
    # error at 32 x 32 is several times larger).
    exact_x, *exact_params = (t.detach().double().requires_grad_() for t in (x, *conv.parameters()))
    exact = torch.nn.functional.conv2d(exact_x, exact_params[0], *exact_params[1:], padding=kernel // 2)
    exact.backward(g.double())
    for a, b in zip(got, [exact, exact_x.grad, *(p.grad for p in exact_params)]):
        torch.testing.assert_close(a.double(), b.detach(), rtol=1e-5, atol=1e-6 * b.abs().max().item())


def test_a_build_replaces_older_builds_in_the_cache(tmp_path, monkeypatch) -> None:
    """An upgrade builds the new source once and leaves no stale library behind."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    stale = tmp_path / "cbam_bench" / "cbam_cpu-0123456789abcdef.so"
    stale.parent.mkdir()
    stale.write_bytes(b"an older build")
    other = tmp_path / "cbam_bench" / "notes.txt"  # not a build: left alone
    other.write_text("kept")
    cpu.library.cache_clear()
    try:
        lib = cpu.library()
        assert lib is not None and hasattr(lib, "cbam_pool")
        assert not stale.exists() and other.read_text() == "kept"
        assert len(list((tmp_path / "cbam_bench").glob("cbam_cpu-*.so"))) == 1
    finally:
        monkeypatch.undo()
        cpu.library.cache_clear()  # the rest of the session loads the usual cache's build again
