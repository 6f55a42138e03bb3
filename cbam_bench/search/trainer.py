"""The training a study calls, passed in rather than imported: the real trainer by default.

The search uses three calls of the training contract: `train(arch, spec, on_epoch=...)`,
`fit_arch(arch, spec)` and `dataset_info(spec)`. Tests pass stand-ins that honour the same
contract; a search started as a separate process picks a stand-in module through the
CBAM_BENCH_TRAINER environment variable (the module defines the same three names, and for a
detection space the same three prefixed `detect_`).

A detection space's trainer takes a DetectSpec where classification's takes a TrainSpec, and its
train returns a DetectResult (cbam_bench.detection.contract); the trial folds either kind.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cbam_bench.errors import CbamBenchError
from cbam_bench.spec import ArchSpec
from cbam_bench.train_spec import TrainSpec

TRAINER_ENV = "CBAM_BENCH_TRAINER"
_NAMES = ("train", "fit_arch", "dataset_info")
# The stand-in module's names of the three calls for each task.
_PREFIXES = {"classification": "", "detection": "detect_"}


@dataclass(frozen=True)
class Trainer:
    """train(arch, spec, *, on_epoch) -> TrainResult; fit_arch(arch, spec) -> ArchSpec; dataset_info(spec)."""

    train: Callable[..., Any]
    fit_arch: Callable[[ArchSpec, TrainSpec], ArchSpec]
    dataset_info: Callable[[TrainSpec], Any]


def default_trainer(task: str = "classification") -> Trainer:
    """cbam_bench.train and cbam_bench.data (detection: cbam_bench.detection.contract), or the
    module named by $CBAM_BENCH_TRAINER."""
    name = os.environ.get(TRAINER_ENV)
    if not name and task == "detection":
        from cbam_bench.detection import contract

        return Trainer(train=contract.train, fit_arch=contract.fit_arch, dataset_info=contract.dataset_info)
    if not name:
        from cbam_bench.data.fit import dataset_info, fit_arch
        from cbam_bench.train import train

        return Trainer(train=train, fit_arch=fit_arch, dataset_info=dataset_info)
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise CbamBenchError(f"{TRAINER_ENV}={name}: cannot import it ({exc})") from None
    names = [_PREFIXES[task] + n for n in _NAMES]
    missing = [n for n in names if not callable(getattr(module, n, None))]
    if missing:
        raise CbamBenchError(f"{TRAINER_ENV}={name}: the module lacks {', '.join(missing)}")
    return Trainer(*(getattr(module, n) for n in names))
