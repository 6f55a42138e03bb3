"""A dataset as uint8 tensors on the training device, loaded once per process.

Images stay uint8 until a batch is drawn (a quarter of the memory of float32), and the whole split
sits on the device, so a training step never waits for a loader or a host-to-device copy. The
search trains many networks on the same data in one process, hence the cache.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cbam_bench.data.catalog import CIFAR, CLUTTER, IMAGEFOLDER, DatasetInfo, recipe_of
from cbam_bench.data.fit import data_root, dataset_info
from cbam_bench.train_spec import TrainSpec

CACHE_SIZE = 2  # datasets kept per process; a search uses one, a comparison of two datasets two


@dataclass(frozen=True)
class Split:
    """uint8 images (N, C, H, W) and int64 labels (N,), on one device; for digits-clutter also the
    target digit's box in each image (int64 (N, 4): x0, y0, x1, y1 pixels, ends exclusive)."""

    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor | None = None  # kept on the CPU: only localisation scores read them

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Data:
    """Every split of a dataset plus what batching needs: normalisation and the augmentation that fits."""

    info: DatasetInfo
    train: Split
    val: Split
    test: Split | None  # image folders have none
    mean: torch.Tensor  # per channel, in pixel units (0-255), measured on the training split
    std: torch.Tensor
    crop_padding: int
    flip: bool


@dataclass(frozen=True)
class _Key:
    dataset: str
    root: str
    image_size: int
    train_images: int | None
    val_images: int | None
    data_seed: int
    device: str


def load_data(spec: TrainSpec, device: str | torch.device) -> Data:
    """spec's dataset on `device`; the same call in the same process returns the same tensors."""
    info = dataset_info(spec)  # fails fast, before any decoding, when files are missing
    recipe = recipe_of(spec.dataset)
    key = _Key(
        dataset=spec.dataset,
        root="" if spec.dataset in CLUTTER else str(data_root(spec).resolve()),
        image_size=info.image_size,
        train_images=spec.train_images or recipe.train_images,
        val_images=spec.val_images or recipe.val_images,
        data_seed=spec.data_seed,
        device=str(torch.device(device)),
    )
    return _load(key, info)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _load(key: _Key, info: DatasetInfo) -> Data:
    splits = _read(key)
    device = torch.device(key.device)
    on_device = {name: Split(s.images.to(device), s.labels.to(device), s.boxes) for name, s in splits.items()}
    mean, std = channel_stats(on_device["train"].images)
    recipe = recipe_of(key.dataset)
    # The shift range is part of the recipe at its native size and scales with --image-size.
    padding = round(recipe.crop_padding * key.image_size / recipe.image_size)
    return Data(
        info=info,
        train=on_device["train"],
        val=on_device["val"],
        test=on_device.get("test"),
        mean=mean,
        std=std,
        crop_padding=max(1, padding) if recipe.crop_padding else 0,
        flip=recipe.flip,
    )


def _read(key: _Key) -> dict[str, Split]:
    """Every split on the host, at the requested size and counts."""
    rng = np.random.default_rng(key.data_seed)
    if key.dataset in CLUTTER:
        from cbam_bench.data.digits import make_digits_clutter

        assert key.train_images is not None and key.val_images is not None
        made = make_digits_clutter(
            image_size=key.image_size,
            train_images=key.train_images,
            val_images=key.val_images,
            seed=key.data_seed,
            clutter=CLUTTER[key.dataset],
        )
        return {
            name: Split(torch.from_numpy(s.images), torch.from_numpy(s.labels), torch.from_numpy(s.boxes))
            for name, s in made.items()
        }
    if key.dataset in CIFAR:
        from cbam_bench.data.cifar import read_cifar

        train_x, train_y, test_x, test_y = read_cifar(Path(key.root), key.dataset)
        # A fixed, seeded hold-out of the official training batches is the validation split.
        order = rng.permutation(len(train_y))
        held = min(key.val_images or 0, len(order) - 1)
        val, train = order[:held], order[held:][: key.train_images]
        splits = {
            "train": (train_x[train], train_y[train]),
            "val": (train_x[val], train_y[val]),
            "test": (test_x, test_y),
        }
        return {
            name: Split(resize(torch.from_numpy(x), key.image_size), torch.from_numpy(y))
            for name, (x, y) in splits.items()
        }
    from cbam_bench.data.imagefolder import read_imagefolder

    folder = Path(key.dataset[len(IMAGEFOLDER) :]).expanduser()
    read = read_imagefolder(folder, key.image_size, Path(key.root) / "cache")
    limits = {"train": key.train_images, "val": key.val_images}
    return {name: _subset(x, y, limits[name], rng) for name, (x, y) in read.items()}


def _subset(x: torch.Tensor, y: torch.Tensor, limit: int | None, rng: np.random.Generator) -> Split:
    if limit is None or limit >= len(y):
        return Split(x, y)
    keep = torch.from_numpy(np.sort(rng.permutation(len(y))[:limit]))
    return Split(x[keep], y[keep])


def resize(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (N, C, size, size), antialiased; done once at load, never per batch."""
    if images.shape[-2:] == (size, size):
        return images
    parts = [
        F.interpolate(part.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        .round_()
        .clamp_(0, 255)
        .to(torch.uint8)
        for part in images.split(chunk)
    ]
    return torch.cat(parts)


def channel_stats(images: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 images, in float64, chunk by chunk."""
    total = torch.zeros(images.shape[1], dtype=torch.float64, device=images.device)
    squares = torch.zeros_like(total)
    for part in images.split(chunk):
        x = part.to(torch.float64).transpose(0, 1).flatten(1)
        total += x.sum(1)
        squares += x.square().sum(1)
    count = images.numel() / images.shape[1]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(1e-6).sqrt()
    return mean.float(), std.float()


def download(spec: TrainSpec) -> None:
    """Fetch spec's dataset where that is possible (CIFAR); other datasets have nothing to fetch."""
    if spec.dataset in CIFAR:
        from cbam_bench.data.cifar import download_cifar

        download_cifar(data_root(spec), spec.dataset)
