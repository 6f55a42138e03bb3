"""train(arch, spec): fit one network to a dataset, and say how well and how fast it learned.

The recipe is the usual one for ResNets on small images: SGD with (Nesterov) momentum, weight
decay, optional label smoothing, a linear warm-up then a cosine decay (or one-cycle), per step.
On a GPU it runs in bfloat16 autocast with channels_last tensors, each step replayed from a CUDA
graph (train_step.py); on the CPU in float32, where a seed fixes the result exactly. Batches come
from tensors already on the device (cbam_bench.data).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cbam_bench.attention.fused.dispatch import set_fused
from cbam_bench.data.batches import eval_batches, steps_per_epoch, train_batches
from cbam_bench.data.fit import fit_arch
from cbam_bench.data.load import Data, Split, load_data
from cbam_bench.device import autocast_dtype, cudnn_autotune, memory_format_for, resolve_device, reuse_freed_memory
from cbam_bench.divergence import TrainingError, advice, check_epoch, check_validation, first_non_finite
from cbam_bench.measure.memory import PeakMemory, track_peak_memory
from cbam_bench.models.build import build_model, load_backbone_weights
from cbam_bench.schedule import lr_factor, param_groups, warmup_steps
from cbam_bench.spec import ArchSpec
from cbam_bench.train_spec import TrainSpec
from cbam_bench.train_step import GraphedStep, Step, graph_ready_optimizer, plain_step, set_lr

# How often the loss is checked for nan/inf: every step costs nothing on the CPU, but on a GPU each
# check waits for the device, so there the losses are kept on the device and looked at in bulk.
CHECK_EVERY = {"cpu": 1, "cuda": 50}


@dataclass(frozen=True)
class EpochReport:
    """One epoch's training loss and validation accuracy, handed to the on_epoch callback."""

    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's steps, with label smoothing if any
    val_accuracy: float  # top-1 on the validation split, a fraction
    val_top5: float
    seconds: float  # training only, evaluation excluded


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced. Accuracies are fractions; `accuracy` is on the validation split."""

    arch: ArchSpec
    accuracy: float
    top5: float
    test_accuracy: float | None
    test_top5: float | None
    loss: float  # final validation loss (plain cross-entropy)
    history: list[EpochReport]
    epoch_seconds: list[float]
    images_per_s: float  # training images per second, median over epochs
    wall_s: float  # the whole call, data loading included
    peak_memory_bytes: int | None = None  # growth during training (see cbam_bench.measure.memory)
    extras: dict[str, Any] = field(default_factory=dict)  # device, precision, steps: how it ran
    # The trained weights on the CPU, for a caller that keeps them (a study's trial artifacts);
    # train() sets it, to_dict() leaves it out.
    state: dict[str, torch.Tensor] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(dataclasses.replace(self, state=None))
        del out["state"]
        out["arch"] = self.arch.to_dict()
        return out


def initial_model(arch: ArchSpec, seed: int, weights: str | Path | None = None) -> nn.Module:
    """arch's network initialised from `seed`, leaving the caller's global RNG state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(arch)
    if weights is not None:
        load_backbone_weights(model, weights)
    return model


@dataclass(frozen=True)
class Evaluation:
    """Mean cross-entropy and top-1 / top-5 accuracy (fractions) on one split."""

    loss: float
    top1: float
    top5: float


def evaluate(
    model: nn.Module,
    data: Data,
    split: Split,
    *,
    amp: torch.dtype | None = None,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> Evaluation:
    """Mean cross-entropy, top-1 and top-5 accuracy (top-k with k capped at the classes) on `split`."""
    device = split.labels.device
    k = min(5, data.info.num_classes)
    loss = torch.zeros((), dtype=torch.float64, device=device)
    hits = torch.zeros(2, dtype=torch.int64, device=device)
    model.eval()
    with torch.inference_mode():
        for x, y in eval_batches(data, split, memory_format):
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                logits = model(x).float()
            loss += F.cross_entropy(logits, y, reduction="sum")
            correct = logits.topk(k, dim=1).indices.eq(y[:, None])
            hits += torch.stack([correct[:, 0].sum(), correct.any(dim=1).sum()])
    n = max(1, len(split))
    top1, top5 = hits.tolist()
    return Evaluation(loss=loss.item() / n, top1=top1 / n, top5=top5 / n)


@dataclass(frozen=True)
class _Plan:
    """The fixed shape of one run: where it runs, in what precision, and how many steps it takes."""

    device: torch.device
    amp: torch.dtype | None  # autocast dtype, None for plain float32
    memory_format: torch.memory_format
    batch: int
    steps: int  # per epoch
    warmup: int  # steps
    total: int  # steps

    def lr_at(self, spec: TrainSpec, step: int) -> float:
        return spec.lr * lr_factor(step, self.total, self.warmup, spec.schedule)


def _plan(spec: TrainSpec, data: Data, device: torch.device) -> _Plan:
    batch = min(spec.batch_size, len(data.train))
    steps = steps_per_epoch(len(data.train), batch)
    return _Plan(
        device=device,
        amp=autocast_dtype(spec.precision, device),
        memory_format=memory_format_for(device),
        batch=batch,
        steps=steps,
        warmup=warmup_steps(spec, steps),
        total=steps * spec.epochs,
    )


def _check_finite(losses: torch.Tensor, first_step: int, epoch: int, plan: _Plan, spec: TrainSpec) -> None:
    """Raise TrainingError at the first nan/inf among the losses of steps first_step, first_step + 1, ..."""
    found = first_non_finite(losses, first_step)
    if found is None:
        return
    step, value = found
    lr = plan.lr_at(spec, (epoch - 1) * plan.steps + step - 1)
    raise TrainingError(
        f"loss became {value} at epoch {epoch}, step {step} of {plan.steps} (lr {lr:.3g}); {advice(spec.lr)}"
    )


def _train_epoch(
    step_fn: Step,
    optimizer: torch.optim.Optimizer,
    data: Data,
    generator: torch.Generator,
    plan: _Plan,
    spec: TrainSpec,
    epoch: int,
) -> float:
    """One pass over the training split; returns the mean loss."""
    losses = torch.zeros(plan.steps, device=plan.device)
    check_every = CHECK_EVERY.get(plan.device.type, 1)
    checked = 0
    first = (epoch - 1) * plan.steps
    for step, (x, y) in enumerate(train_batches(data, plan.batch, generator, plan.memory_format)):
        set_lr(optimizer, plan.lr_at(spec, first + step))
        losses[step] = step_fn(x, y)
        if step + 1 - checked >= check_every:
            _check_finite(losses[checked : step + 1], checked, epoch, plan, spec)
            checked = step + 1
    _check_finite(losses[checked:], checked, epoch, plan, spec)
    return losses.mean().item()  # waits for the device, so the epoch's time is honest


def _step_function(model: nn.Module, plan: _Plan, spec: TrainSpec) -> tuple[Step, torch.optim.Optimizer]:
    """The step the trainer runs, and its optimizer: recorded as a CUDA graph on a GPU, plain elsewhere."""
    groups = param_groups(model, spec.weight_decay)
    nesterov = spec.nesterov and spec.momentum > 0
    if plan.device.type == "cuda":
        optimizer = graph_ready_optimizer(groups, spec.lr, spec.momentum, nesterov, plan.device)
        return GraphedStep(model, optimizer, plan.amp, spec.label_smoothing), optimizer
    optimizer = torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, nesterov=nesterov)
    return plain_step(model, optimizer, plan.amp, spec.label_smoothing), optimizer


def _extras(
    spec: TrainSpec, plan: _Plan, data: Data, memory: PeakMemory, graphed: GraphedStep | None
) -> dict[str, Any]:
    """How the run went: TrainResult.extras, stored with every trial."""
    return {
        "device": str(plan.device),
        "precision": "bf16" if plan.amp is torch.bfloat16 else "fp32",
        "memory_format": "channels_last" if plan.memory_format is torch.channels_last else "contiguous",
        "fused": spec.fused,
        "steps_per_epoch": plan.steps,
        "batch_size": plan.batch,
        "train_images": len(data.train),
        "val_images": len(data.val),
        "test_images": None if data.test is None else len(data.test),
        "peak_memory_method": memory.method,
        "cuda_graph": None if graphed is None else graphed.replaying,
        **({"cuda_graph_fallback": graphed.fallback} if graphed is not None and graphed.fallback else {}),
    }


def train_model(
    arch: ArchSpec,
    spec: TrainSpec,
    *,
    on_epoch: Callable[[EpochReport], None] | None = None,
    weights: str | Path | None = None,
) -> tuple[nn.Module, TrainResult]:
    """train(), also returning the trained network (on the training device, in eval mode)."""
    start = time.perf_counter()
    device = resolve_device(spec.device)
    if device.type == "cpu":
        reuse_freed_memory()
    arch = fit_arch(arch, spec)
    data = load_data(spec, device)
    plan = _plan(spec, data, device)
    model = set_fused(initial_model(arch, spec.seed, weights), spec.fused).to(
        device=device, memory_format=plan.memory_format
    )
    step_fn, optimizer = _step_function(model, plan, spec)
    graphed = step_fn if isinstance(step_fn, GraphedStep) else None
    generator = torch.Generator(device=device).manual_seed(spec.seed)
    history: list[EpochReport] = []

    with track_peak_memory(device) as memory, cudnn_autotune(device):
        for epoch in range(1, spec.epochs + 1):
            began = time.perf_counter()
            model.train()
            train_loss = _train_epoch(step_fn, optimizer, data, generator, plan, spec, epoch)
            seconds = time.perf_counter() - began
            check_epoch(model, epoch, train_loss, data.info.num_classes, spec.lr)
            val = evaluate(model, data, data.val, amp=plan.amp, memory_format=plan.memory_format)
            check_validation(epoch, val.loss, spec.lr)
            history.append(EpochReport(epoch, train_loss, val.top1, val.top5, seconds))
            if on_epoch is not None:
                on_epoch(history[-1])

    test = (
        None if data.test is None else evaluate(model, data, data.test, amp=plan.amp, memory_format=plan.memory_format)
    )
    epoch_seconds = [r.seconds for r in history]
    result = TrainResult(
        arch=arch,
        accuracy=val.top1,
        top5=val.top5,
        test_accuracy=None if test is None else test.top1,
        test_top5=None if test is None else test.top5,
        loss=val.loss,
        history=history,
        epoch_seconds=epoch_seconds,
        images_per_s=statistics.median(plan.steps * plan.batch / s for s in epoch_seconds),
        wall_s=time.perf_counter() - start,
        peak_memory_bytes=memory.bytes,
        extras=_extras(spec, plan, data, memory, graphed),
    )
    return model.eval(), result


def train(
    arch: ArchSpec,
    spec: TrainSpec,
    *,
    on_epoch: Callable[[EpochReport], None] | None = None,
    weights: str | Path | None = None,
) -> TrainResult:
    """Fit `arch` to spec's dataset (fit_arch) and train it; see TrainResult for what comes back.

    `on_epoch` is called after each epoch's evaluation; whatever it raises (optuna.TrialPruned, say)
    propagates unchanged. `weights`, a backbone state_dict file, starts the network from it.
    Raises SpecError / DataError for bad input and TrainingError when the run diverged (a nan or inf
    loss, an exploded training loss, weights or a validation loss that are not finite; divergence.py).
    """
    model, result = train_model(arch, spec, on_epoch=on_epoch, weights=weights)
    state = {key: value.detach().to("cpu", copy=True) for key, value in model.state_dict().items()}
    return dataclasses.replace(result, state=state)
