"""train_detector(arch, spec): fit a Faster R-CNN on a detection dataset and score it with COCOeval.

SGD with momentum, a linear warm-up and a cosine decay per step, batches drawn from tensors already
on the device (no flips: a mirrored digit is another glyph or none). On a GPU the forward runs under
bfloat16 autocast, which torchvision's detection ops (RoIAlign, NMS) accept by computing in float32.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torchvision.models.detection import FasterRCNN

from cbam_bench.data.detection import DetectData, DetectTensors, load_detect_data
from cbam_bench.detection.evaluate import as_float_images, coco_map, predict
from cbam_bench.detection.model import DetectorSpec, build_detector, with_input_channels
from cbam_bench.detection.recipe import DetectSpec
from cbam_bench.device import autocast_dtype, reuse_freed_memory
from cbam_bench.divergence import TrainingError, advice
from cbam_bench.schedule import lr_factor, param_groups
from cbam_bench.spec import ArchSpec


@dataclass(frozen=True)
class DetectResult:
    """What one detection run produced: COCO statistics on val (and test), the losses, the speed."""

    val: dict[str, float | None]
    test: dict[str, float | None] | None
    epoch_losses: list[float]  # mean total loss per epoch
    epoch_seconds: list[float]
    images_per_s: float  # training images per second, median over epochs
    detections: list[dict[str, Any]]  # on val, COCO results format
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectEpoch:
    """One finished epoch; `val` holds the validation COCO statistics when epochs are scored."""

    epoch: int
    loss: float  # mean total loss
    seconds: float  # training only, scoring excluded
    val: dict[str, float | None] | None = None


def detector_spec(data: DetectData) -> DetectorSpec:
    return DetectorSpec(num_classes=len(data.categories), image_size=(data.image_size, data.image_size))


def load_for(spec: DetectSpec, device: torch.device) -> DetectData:
    return load_detect_data(
        spec.dataset,
        image_size=spec.image_size,
        train_images=spec.train_images,
        val_images=spec.val_images,
        seed=spec.data_seed,
        device=device,
    )


def detection_batches(split: DetectTensors, batch_size: int, generator: torch.Generator) -> Iterator[tuple[list, list]]:
    """One shuffled epoch of (images, targets) as torchvision's detectors take them; full batches only."""
    size = min(batch_size, len(split))
    order = torch.randperm(len(split), generator=generator, device=split.images.device)
    for step in range(max(1, len(split) // size)):
        index = order[step * size : (step + 1) * size]
        keep = split.labels[index] > 0
        targets = [
            {"boxes": b[k], "labels": lab[k]} for b, lab, k in zip(split.boxes[index], split.labels[index], keep)
        ]
        yield as_float_images(split.images[index]), targets


def initial_detector(arch: ArchSpec, data: DetectData, seed: int, weights: str | Path | None = None) -> FasterRCNN:
    """The detector for `data`, initialised from `seed` without touching the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_detector(
            with_input_channels(arch, data.in_channels),
            detector_spec(data),
            mean=data.mean,
            std=data.std,
            weights=weights,
        )


def _epoch(
    model: FasterRCNN,
    optimizer: torch.optim.Optimizer,
    batches: Iterator,
    step: int,
    total: int,
    spec: DetectSpec,
    amp: torch.dtype | None,
) -> tuple[float, int]:
    """Train one epoch from optimizer step `step`; (mean loss, next step)."""
    losses = []
    for images, targets in batches:
        for group in optimizer.param_groups:
            group["lr"] = spec.lr * lr_factor(step, total, spec.warmup_steps, "cosine")
        with torch.autocast(images[0].device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
            loss = sum(model(images, targets).values())
        value = loss.detach().item()
        if not math.isfinite(value):
            raise TrainingError(f"step {step + 1}: the loss is {value}; {advice(spec.lr)}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(value)
        step += 1
    return statistics.fmean(losses), step


def train_detector(
    arch: ArchSpec,
    spec: DetectSpec,
    *,
    device: torch.device,
    data: DetectData | None = None,
    weights: str | Path | None = None,
    on_epoch: Callable[[DetectEpoch], None] | None = None,
    score_epochs: bool = False,
) -> tuple[FasterRCNN, DetectResult]:
    """Train `arch`'s detector under `spec`, then score val (and test) with COCOeval.

    `score_epochs` scores val after every epoch, not only the last, for a search's curve and early
    stopping; the last epoch's score is the result's, so scoring every epoch adds epochs - 1 evaluations.
    """
    if device.type == "cpu":
        reuse_freed_memory()
    data = data if data is not None else load_for(spec, device)
    with _seeded(spec.seed, device):
        return _fit(arch, spec, device, data, weights, on_epoch, score_epochs)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """torch's global generators seeded from `seed`, and the caller's state restored after.

    torchvision's RPN and RoI heads draw the positive and negative samples of every step from the
    global generator, which a process starts at a random seed: unseeded, two runs of one --seed
    train differently (mAP@.5 17 % and 28 % for one recipe and seed), so --seed fixes it too.
    """
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _fit(
    arch: ArchSpec,
    spec: DetectSpec,
    device: torch.device,
    data: DetectData,
    weights: str | Path | None,
    on_epoch: Callable[[DetectEpoch], None] | None,
    score_epochs: bool,
) -> tuple[FasterRCNN, DetectResult]:
    model = initial_detector(arch, data, spec.seed, weights).to(device)
    model.train()
    optimizer = torch.optim.SGD(param_groups(model, spec.weight_decay), lr=spec.lr, momentum=spec.momentum)
    generator = torch.Generator(device=device).manual_seed(spec.seed)
    amp = autocast_dtype(spec.precision, device)
    per_epoch = max(1, len(data.train) // min(spec.batch_size, len(data.train)))
    step, losses, seconds = 0, [], []
    detections, val = [], None
    for epoch in range(1, spec.epochs + 1):
        start = time.perf_counter()
        loss, step = _epoch(
            model,
            optimizer,
            detection_batches(data.train, spec.batch_size, generator),
            step,
            per_epoch * spec.epochs,
            spec,
            amp,
        )
        seconds.append(time.perf_counter() - start)
        losses.append(loss)
        if score_epochs or epoch == spec.epochs:
            detections = predict(model, data.val, data.categories)
            val = coco_map(data.val.ground_truth, detections)
        if on_epoch is not None:
            on_epoch(DetectEpoch(epoch, loss, seconds[-1], val if score_epochs else None))
    assert val is not None
    test = None if data.test is None else coco_map(data.test.ground_truth, predict(model, data.test, data.categories))
    batch = min(spec.batch_size, len(data.train))
    result = DetectResult(
        val=val,
        test=test,
        epoch_losses=losses,
        epoch_seconds=seconds,
        images_per_s=statistics.median(per_epoch * batch / s for s in seconds),
        detections=detections,
        extras=_run_facts(data, device, amp, batch, step),
    )
    return model, result


def _run_facts(data: DetectData, device: torch.device, amp: torch.dtype | None, batch: int, steps: int) -> dict:
    """Where and on how much a run trained, as `detect --json` reports it."""
    return {
        "device": str(device),
        "precision": "bf16" if amp is not None else "fp32",
        "batch_size": batch,
        "steps": steps,
        "train_images": len(data.train),
        "val_images": len(data.val),
        "test_images": 0 if data.test is None else len(data.test),
    }
