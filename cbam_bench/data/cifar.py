"""CIFAR-10 / CIFAR-100 from the python-version folders (Krizhevsky, 2009), read without torchvision.

The batches are pickles; they are read with an unpickler that builds only plain containers and
numpy arrays, so a tampered file in the data folder cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from cbam_bench.data.catalog import CIFAR, CIFAR_URL, missing_cifar_file
from cbam_bench.errors import DataError

# What numpy's array pickles refer to (numpy 1 and 2 module names), and how Python 3 writes bytes
# at protocol 2; nothing else may be imported.
_ALLOWED = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch: uint8 images (N, 3, 32, 32) and int64 labels (N,)."""
    try:
        with path.open("rb") as f:
            batch = _ArraysOnly(f, encoding="bytes").load()
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
        data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, ValueError, AttributeError, TypeError) as exc:
        raise DataError(f"{path}: not a CIFAR python-version batch ({type(exc).__name__}: {exc})") from None
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data, labels


def read_cifar(root: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The official training batches joined, and the test batch: (train_x, train_y, test_x, test_y)."""
    layout = CIFAR[name]
    folder = root / layout.folder
    parts = [read_batch(folder / file, layout.label_key) for file in layout.train_files]
    test_x, test_y = read_batch(folder / layout.test_file, layout.label_key)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), test_x, test_y


def download_cifar(root: Path, name: str) -> None:
    """Fetch and extract the python version with torchvision unless it is already there."""
    if missing_cifar_file(root, name) is None:
        return
    from torchvision import datasets

    fetch = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        root.mkdir(parents=True, exist_ok=True)
        fetch(root=str(root), train=True, download=True)
    except Exception as exc:  # no network, a proxy, a checksum: all end the same way for the user
        raise DataError(
            f"--download: could not fetch {name} ({type(exc).__name__}: {exc}); extract the python version "
            f"({CIFAR[name].folder}/, from {CIFAR_URL}) into {root} (--data-dir)"
        ) from None
