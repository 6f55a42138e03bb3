"""Fused CBAM on a GPU, as the trainer runs it: Triton kernels compiled (conftest leaves Triton's
interpreter off where there is a GPU), at the shapes of a real network, inside a CUDA graph, under
bf16 autocast with channels_last maps.

tests/test_fused_kernels.py checks each kernel against the formula, on the GPU or interpreted on
the CPU; what only a GPU can show is here: that the kernels compile for every block and grid a
network's maps ask for, that a graph records and replays them, and that the trainer's own mode
trains with them. CI has no GPU, so these are skipped there with that reason.
"""

from __future__ import annotations

import copy
from unittest import mock

import pytest
import torch
from test_train_step import ARCH  # the small CBAM network the graph tests train

from cbam_bench.attention.factory import build_attention
from cbam_bench.attention.fused.dispatch import set_fused
from cbam_bench.schedule import param_groups
from cbam_bench.spec import AttentionSpec
from cbam_bench.train import initial_model, train
from cbam_bench.train_spec import TrainSpec
from cbam_bench.train_step import PLAIN_STEPS_BEFORE_CAPTURE, GraphedStep, graph_ready_optimizer, plain_step

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (the Triton kernels compiled, CUDA graphs)"
)
pytest.importorskip("triton", reason="Triton ships with torch's Linux builds; this torch has none")


def _gate_values(module: torch.nn.Module, x: torch.Tensor, g: torch.Tensor) -> list[torch.Tensor]:
    x = x.clone().requires_grad_()
    out = module(x)
    out.backward(g)
    return [out.double(), x.grad.double(), *(p.grad.double() for p in module.parameters())]


@pytest.mark.parametrize("shape", [(8, 256, 56, 56), (4, 2048, 7, 7), (3, 64, 33, 17)], ids=["56x56", "7x7", "odd"])
def test_the_compiled_kernels_in_bfloat16_channels_last_are_as_close_to_float64_as_the_formula(shape) -> None:
    module = build_attention(shape[1], AttentionSpec(kind="cbam", kernel=7)).cuda()
    module.fused = "on"
    plain = copy.deepcopy(module)
    plain.fused = "off"
    exact = copy.deepcopy(plain).double()
    x = torch.randn(shape, device="cuda").contiguous(memory_format=torch.channels_last)
    g = torch.randn(shape, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        got = _gate_values(module, x.bfloat16(), g.bfloat16())
        formula = _gate_values(plain, x.bfloat16(), g.bfloat16())
    want = _gate_values(exact, x.bfloat16().double(), g.bfloat16().double())
    for a, f, b in zip(got, formula, want):
        # Both paths run the MLP and the convolution in bfloat16: the formula's own error is the
        # yardstick, and about two bfloat16 steps of the largest value the floor.
        assert (a - b).abs().max() <= max(2 * (f - b).abs().max(), 0.02 * b.abs().max())


def _steps(fused: str, graphed: bool, batches: list) -> tuple[torch.Tensor, list[torch.Tensor], GraphedStep | None]:
    model = set_fused(initial_model(ARCH, seed=0), fused).cuda().train()
    optimizer = graph_ready_optimizer(param_groups(model, 5e-4), 0.05, 0.9, True, torch.device("cuda"))
    step = GraphedStep(model, optimizer, None, 0.0) if graphed else plain_step(model, optimizer, None, 0.0)
    losses = torch.stack([step(x, y).clone() for x, y in batches])
    return losses, [p.detach().clone() for p in model.parameters()], step if graphed else None


def test_a_cuda_graph_records_the_fused_gates_and_trains_as_the_formula_does() -> None:
    g = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(16, 1, 16, 16, generator=g).cuda(), torch.randint(0, 10, (16,), generator=g).cuda())
        for _ in range(PLAIN_STEPS_BEFORE_CAPTURE + 5)
    ]
    from cbam_bench.attention.fused import triton_ops

    with mock.patch.object(triton_ops, "pool", wraps=triton_ops.pool) as pool:
        fused_losses, fused_params, step = _steps("on", True, batches)
    assert step is not None and step.replaying and step.fallback is None
    assert pool.call_count > 0  # the plain steps and the recording ran the kernels; replays run no Python
    plain_losses, plain_params, _ = _steps("off", False, batches)
    torch.testing.assert_close(fused_losses, plain_losses, rtol=1e-3, atol=1e-4)
    for a, b in zip(fused_params, plain_params):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_the_trainers_mode_with_fused_gates_replays_a_graph_and_learns() -> None:
    spec = TrainSpec(
        image_size=16, train_images=512, val_images=256, batch_size=32, epochs=3, lr=0.1, device="cuda", fused="on"
    )
    result = train(ARCH, spec)
    assert result.extras["cuda_graph"] is True and "cuda_graph_fallback" not in result.extras
    assert result.extras["precision"] == "bf16" and result.extras["memory_format"] == "channels_last"
    assert result.history[-1].train_loss < result.history[0].train_loss
