"""The training step: plain on the CPU, recorded as a CUDA graph and replayed on a GPU.

The graph tests need a CUDA device. CI has none, so there they are skipped with that reason; on a
machine with a GPU `make test` runs them.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from cbam_bench.schedule import param_groups
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.train import initial_model, train
from cbam_bench.train_spec import TrainSpec
from cbam_bench.train_step import PLAIN_STEPS_BEFORE_CAPTURE, GraphedStep, graph_ready_optimizer, plain_step, set_lr

ARCH = ArchSpec(
    "cifar_resnet20",
    width=0.5,
    num_classes=10,
    input_size=16,
    in_channels=1,
    attention=AttentionSpec(kind="cbam", reduction=4),
)
needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (the step is recorded as a CUDA graph)"
)


def _batches(n: int, device: str | torch.device, batch: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [
        (torch.randn(batch, 1, 16, 16, generator=g).to(device), torch.randint(0, 10, (batch,), generator=g).to(device))
        for _ in range(n)
    ]


def test_plain_step_is_forward_backward_update() -> None:
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    expected = copy.deepcopy(model)
    loss = torch.nn.functional.cross_entropy(expected(x), y)
    grads = torch.autograd.grad(loss, list(expected.parameters()))
    got = plain_step(model, optimizer, None, 0.0)(x, y)
    assert got.requires_grad is False and got.item() == pytest.approx(loss.item())
    for p, q, g in zip(model.parameters(), expected.parameters(), grads):
        torch.testing.assert_close(p.detach(), q.detach() - 0.5 * g)


def test_set_lr_assigns_floats_and_refills_device_tensors_in_place() -> None:
    model = nn.Linear(3, 2)
    plain = torch.optim.SGD(model.parameters(), lr=0.1)
    set_lr(plain, 0.25)
    assert plain.param_groups[0]["lr"] == 0.25
    tensors = torch.optim.SGD([{"params": model.parameters(), "lr": torch.tensor(0.1)}], lr=0.1)
    before = tensors.param_groups[0]["lr"]
    set_lr(tensors, 0.25)
    assert tensors.param_groups[0]["lr"] is before and before.item() == 0.25  # same tensor: a graph keeps reading it


@needs_cuda
def test_replayed_steps_train_as_the_plain_steps_do() -> None:
    torch.backends.cudnn.deterministic = True
    try:
        batches = _batches(PLAIN_STEPS_BEFORE_CAPTURE + 5, "cuda")
        runs = []
        for graphed in (False, True):
            model = initial_model(ARCH, seed=0).cuda().train()
            groups = param_groups(model, 5e-4)
            optimizer = graph_ready_optimizer(groups, 0.05, 0.9, True, torch.device("cuda"))
            step = GraphedStep(model, optimizer, None, 0.1) if graphed else plain_step(model, optimizer, None, 0.1)
            losses = []
            for i, (x, y) in enumerate(batches):
                set_lr(optimizer, 0.05 * (1 + i) / len(batches))  # a schedule the graph must follow
                losses.append(step(x, y).clone())
            if graphed:
                assert step.replaying and step.fallback is None
            runs.append((torch.stack(losses), [p.detach().clone() for p in model.parameters()]))
        (plain_losses, plain_params), (graph_losses, graph_params) = runs
        torch.testing.assert_close(graph_losses, plain_losses, rtol=1e-4, atol=1e-5)
        for a, b in zip(graph_params, plain_params):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    finally:
        torch.backends.cudnn.deterministic = False


@needs_cuda
def test_a_zero_learning_rate_leaves_the_weights_where_they_are_after_replay() -> None:
    model = initial_model(ARCH, seed=0).cuda().train()
    optimizer = graph_ready_optimizer(param_groups(model, 0.0), 0.1, 0.0, False, torch.device("cuda"))
    step = GraphedStep(model, optimizer, torch.bfloat16, 0.0)
    for x, y in _batches(PLAIN_STEPS_BEFORE_CAPTURE + 1, "cuda"):
        step(x, y)
    assert step.replaying
    frozen = [p.detach().clone() for p in model.parameters() if p.ndim > 1]
    set_lr(optimizer, 0.0)
    x, y = _batches(1, "cuda")[0]
    assert torch.isfinite(step(x, y))
    for before, after in zip(frozen, [p for p in model.parameters() if p.ndim > 1]):
        assert torch.equal(before, after)


@needs_cuda
def test_a_step_that_cannot_be_recorded_runs_plainly() -> None:
    class Syncs(nn.Module):
        """Reads a value back to the host every call: not allowed while a graph records."""

        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(256, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.linear(x.flatten(1))
            return out * (1.0 if out.sum().item() != 0 else 2.0)

    model = Syncs().cuda()
    optimizer = graph_ready_optimizer(param_groups(model, 0.0), 0.1, 0.9, False, torch.device("cuda"))
    step = GraphedStep(model, optimizer, None, 0.0)
    losses = [step(x, y).item() for x, y in _batches(PLAIN_STEPS_BEFORE_CAPTURE + 3, "cuda")]
    assert not step.replaying and step.fallback is not None and all(map(torch.isfinite, torch.tensor(losses)))


@needs_cuda
def test_training_on_a_gpu_replays_a_graph_and_learns() -> None:
    spec = TrainSpec(image_size=16, train_images=512, val_images=256, batch_size=32, epochs=3, lr=0.1, device="cuda")
    result = train(ARCH, spec)
    assert result.extras["cuda_graph"] is True and "cuda_graph_fallback" not in result.extras
    assert result.extras["precision"] == "bf16" and result.extras["memory_format"] == "channels_last"
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert all(math.isfinite(r.train_loss) for r in result.history) and 0 <= result.accuracy <= result.top5 <= 1


def test_the_summary_says_how_the_steps_ran() -> None:
    from cbam_bench.cli.train_output import _graph_note

    assert _graph_note({"device": "cpu", "cuda_graph": None}) == ""
    assert _graph_note({"cuda_graph": True}) == ", CUDA graph"
    assert _graph_note({"cuda_graph": False, "cuda_graph_fallback": "RuntimeError: capture"}) == (
        ", steps run plainly (no CUDA graph: RuntimeError: capture)"
    )
