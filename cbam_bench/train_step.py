"""One optimizer step: run as written, or on a GPU recorded once as a CUDA graph and replayed.

The networks this tool trains are small and their images tiny, so on a GPU each step is bound by
the host, not the device: on an H100, cifar_resnet20 with CBAM at batch 128 keeps the GPU busy for
about 5 ms of a 30 ms step, the rest being Python and kernel launches (a few hundred small
kernels, most of them from the attention gates). A CUDA graph records the whole step (forward,
backward and the SGD update) once and replays it as a single launch.

What replay needs, and how the trainer provides it:

- the same shapes and addresses every step: batches are always full (data.batches), and each one
  is copied into input buffers that the graph owns;
- nothing that waits for the device inside the step: the learning rate is a tensor on the device
  that fused SGD reads at replay and the trainer refills between steps, and the loss is checked
  outside the step (train.py);
- autocast without its cache of cast weights, whose lifetime a graph cannot follow;
- a few plain steps on a side stream before recording, so cuDNN's kernel choice and lazy
  initialisation stay out of the graph. They are real training steps, not extra ones.

If recording fails (an operator that cannot be captured), the step runs as written from then on
and `fallback` says why, so training never stops for it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
PLAIN_STEPS_BEFORE_CAPTURE = 3


def plain_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    amp: torch.dtype | None,
    label_smoothing: float,
    autocast_cache: bool = True,
) -> Step:
    """A step function (x, y) -> detached loss: forward, backward, optimizer step."""
    device_type = next(model.parameters()).device.type

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(
            device_type, dtype=amp or torch.float32, enabled=amp is not None, cache_enabled=autocast_cache
        ):
            loss = F.cross_entropy(model(x), y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def graph_ready_optimizer(
    param_groups: list[dict], lr: float, momentum: float, nesterov: bool, device: torch.device
) -> torch.optim.SGD:
    """SGD whose learning rate lives on the device (one tensor per group), fused into one kernel."""
    groups = [group | {"lr": torch.tensor(lr, device=device)} for group in param_groups]
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov, fused=True)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every group's learning rate; a device tensor is refilled in place, so a recorded graph sees it."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


class GraphedStep:
    """A step function that records itself as a CUDA graph after a few plain steps, then replays it.

    The loss it returns after recording is the graph's own output tensor: valid until the next
    call, so copy it (train.py stores it into a tensor of losses at once).
    """

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, amp: torch.dtype | None, label_smoothing: float
    ) -> None:
        self._step = plain_step(model, optimizer, amp, label_smoothing, autocast_cache=False)
        self._optimizer = optimizer
        self._side = torch.cuda.Stream()
        self._plain_steps = 0
        self._graph: torch.cuda.CUDAGraph | None = None
        self._inputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self._loss: torch.Tensor | None = None
        self.fallback: str | None = None  # why recording failed, if it did

    @property
    def replaying(self) -> bool:
        return self._graph is not None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self._graph is not None:
            static_x, static_y = self._inputs  # type: ignore[misc]
            static_x.copy_(x)
            static_y.copy_(y)
            self._graph.replay()
            return self._loss  # type: ignore[return-value]
        if self.fallback is not None:
            return self._step(x, y)
        if self._plain_steps < PLAIN_STEPS_BEFORE_CAPTURE:
            self._plain_steps += 1
            return self._on_side_stream(x, y)
        return self._record_and_replay(x, y)

    def _on_side_stream(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        current = torch.cuda.current_stream()
        self._side.wait_stream(current)
        with torch.cuda.stream(self._side):
            loss = self._step(x, y)
        current.wait_stream(self._side)
        return loss

    def _record_and_replay(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self._inputs = (x.clone(), y.clone())  # clone keeps the memory format
        self._optimizer.zero_grad(set_to_none=True)  # gradients are then allocated from the graph's pool
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self._loss = self._step(*self._inputs)
        except RuntimeError as exc:  # an operator that cannot be captured: carry on without a graph
            self.fallback = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self._inputs = self._loss = None
            torch.cuda.synchronize()
            return self._step(x, y)
        self._graph = graph
        graph.replay()  # recording ran nothing: this is the step itself
        return self._loss
