"""A stand-in for cbam_bench.train / cbam_bench.data that returns their own types, for search tests.

Accuracy is a fixed function of the network and the seed, so tests can compute what a study must
record. In a separate process, select it with CBAM_BENCH_TRAINER=fake_training (tests/ on
PYTHONPATH); FAKE_EPOCH_S makes every epoch sleep, FAKE_FAIL_KIND makes every candidate of that
attention kind fail with a non-finite loss, FAKE_CALLS names a file that gets one line per train(). The detect_* functions are the same
contract for a detection space (map = final_accuracy / 2, map50 = map + 0.2).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable

from cbam_bench.data import DatasetInfo
from cbam_bench.detection.recipe import DetectSpec
from cbam_bench.detection.train import DetectEpoch, DetectResult
from cbam_bench.errors import DataError
from cbam_bench.spec import ArchSpec
from cbam_bench.train import EpochReport, TrainingError, TrainResult
from cbam_bench.train_spec import TrainSpec

IMAGE_SIZE = 16
KIND_BONUS = {"none": 0.0, "se": 0.05, "eca": 0.04, "cbam": 0.1}


def dataset_info(spec: TrainSpec) -> DatasetInfo:
    if spec.dataset != "digits-clutter":
        raise DataError(f"--dataset: {spec.dataset!r} is not available to the fake trainer")
    return DatasetInfo(spec.dataset, 10, 1, IMAGE_SIZE)


def fit_arch(arch: ArchSpec, spec: TrainSpec) -> ArchSpec:
    info = dataset_info(spec)
    return dataclasses.replace(
        arch, num_classes=info.num_classes, in_channels=info.in_channels, input_size=info.image_size
    )


def final_accuracy(arch: ArchSpec, seed: int) -> float:
    """0.5 + a bonus per attention kind + up to 0.1 from the network's hash + up to 0.01 from the seed."""
    digest = int(hashlib.sha256(f"{arch.archid}:{seed}".encode()).hexdigest()[:8], 16)
    net = int(arch.archid[:8], 16) / 0xFFFFFFFF
    # A kind this table does not name (a new registry entry) gets a small bonus of its own.
    return 0.5 + KIND_BONUS.get(arch.attention.kind, 0.03) + 0.1 * net + 0.01 * (digest / 0xFFFFFFFF)


def train(arch: ArchSpec, spec: TrainSpec, *, on_epoch: Callable[[EpochReport], None] | None = None) -> TrainResult:
    arch = fit_arch(arch, spec)
    calls = os.environ.get("FAKE_CALLS")
    if calls:
        with open(calls, "a") as f:
            f.write(f"{arch.archid} {spec.seed}\n")
    final = final_accuracy(arch, spec.seed)
    history = []
    for epoch in range(1, spec.epochs + 1):
        time.sleep(float(os.environ.get("FAKE_EPOCH_S", "0")))
        if os.environ.get("FAKE_FAIL_KIND") == arch.attention.kind:
            raise TrainingError(f"loss became nan at epoch {epoch}, step 3 (lr {spec.lr})")
        # the loss falls with the epoch and is lower for a network that ends more accurate
        loss = (2.0 - final) / epoch
        report = EpochReport(epoch, loss, final * epoch / spec.epochs, min(1.0, final + 0.2), 0.01)
        history.append(report)
        if on_epoch is not None:
            on_epoch(report)
    return TrainResult(
        arch=arch,
        accuracy=final,
        top5=min(1.0, final + 0.2),
        test_accuracy=final - 0.01,
        test_top5=None,
        loss=0.5,
        history=history,
        epoch_seconds=[0.01] * spec.epochs,
        images_per_s=1000.0 + spec.seed,
        wall_s=0.05,
    )


# --- detection: the same contract for a `task: detection` space, prefixed detect_ ---------------


def detect_dataset_info(spec: DetectSpec) -> DatasetInfo:
    if spec.dataset != "digits-detect":
        raise DataError(f"--dataset: {spec.dataset!r} is not available to the fake trainer")
    return DatasetInfo(spec.dataset, 10, 1, spec.image_size)


def detect_fit_arch(arch: ArchSpec, spec: DetectSpec) -> ArchSpec:
    info = detect_dataset_info(spec)
    return dataclasses.replace(arch, num_classes=10, in_channels=1, input_size=info.image_size)


def final_map(arch: ArchSpec, seed: int) -> float:
    """Half of final_accuracy: mAP@[.5:.95]; mAP@.5 is 0.2 above it."""
    return final_accuracy(arch, seed) / 2


def detect_train(
    arch: ArchSpec, spec: DetectSpec, *, on_epoch: Callable[[DetectEpoch], None] | None = None
) -> DetectResult:
    arch = detect_fit_arch(arch, spec)
    final = final_map(arch, spec.seed)
    for epoch in range(1, spec.epochs + 1):
        if os.environ.get("FAKE_FAIL_KIND") == arch.attention.kind:
            raise TrainingError(f"step 3: the loss is nan (lr {spec.lr})")
        val = {"map": final * epoch / spec.epochs, "map50": final * epoch / spec.epochs + 0.2}
        if on_epoch is not None:
            on_epoch(DetectEpoch(epoch, 1.0 / epoch, 0.01, val))
    return DetectResult(
        val={"map": final, "map50": final + 0.2},
        test=None,
        epoch_losses=[1.0 / e for e in range(1, spec.epochs + 1)],
        epoch_seconds=[0.01] * spec.epochs,
        images_per_s=100.0 + spec.seed,
        detections=[],
    )
