"""Datasets as tensors on the training device: the built-in digits-clutter, CIFAR-10/100, image folders.

What a dataset looks like (data.fit: `dataset_info`, `fit_arch`) is answered without torch; loading
it and batching it import torch on first use. data.fit is not re-exported here: it reads the specs,
which read data.catalog, and importing it with the package would close that loop.
"""

from __future__ import annotations

from cbam_bench.data.catalog import DATASET_NAMES as DATASET_NAMES  # re-exported
from cbam_bench.data.catalog import DatasetInfo as DatasetInfo  # re-exported
from cbam_bench.lazy import lazy_exports

_LAZY = {
    "Data": "cbam_bench.data.load",
    "Split": "cbam_bench.data.load",
    "load_data": "cbam_bench.data.load",
    "download": "cbam_bench.data.load",
    "train_batches": "cbam_bench.data.batches",
    "eval_batches": "cbam_bench.data.batches",
}

__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = sorted(["DATASET_NAMES", "DatasetInfo", *_LAZY])
