"""Datasets as tensors on the training device: the built-in digits-clutter, CIFAR-10/100, image folders.

What a dataset looks like (`dataset_info`, `fit_arch`) is answered without torch; loading it and
batching it import torch on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from cbam_bench.data.catalog import DATASET_NAMES, DatasetInfo, dataset_info, fit_arch

_LAZY = {
    "Data": "cbam_bench.data.load",
    "Split": "cbam_bench.data.load",
    "load_data": "cbam_bench.data.load",
    "download": "cbam_bench.data.load",
    "train_batches": "cbam_bench.data.batches",
    "eval_batches": "cbam_bench.data.batches",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cbam_bench.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(["DATASET_NAMES", "DatasetInfo", "dataset_info", "fit_arch", *_LAZY])
