"""Batches drawn from tensors already on the device: shuffled, augmented and normalised batch-wise.

A random crop after zero padding and a horizontal flip are both a choice of source rows and
columns per image, so one indexing operation does both for the whole batch: no per-sample Python,
no loader processes, nothing copied between host and device.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from cbam_bench.data.load import Data, Split

EVAL_BATCH = 512


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Full batches only (a ragged last batch would give batch norm noisy statistics), at least one."""
    return max(1, images // batch_size)


def crop_and_flip(images: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Each image shifted by up to `padding` pixels each way (zero fill) and, if `flip`, mirrored half the time."""
    n, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (padding,) * 4) if padding else images
    dy, dx = torch.randint(0, 2 * padding + 1, (2, n, 1), generator=generator, device=device)
    rows = dy + torch.arange(h, device=device)
    cols = torch.arange(w, device=device).expand(n, w)
    if flip:
        mirrored = torch.rand(n, 1, generator=generator, device=device) < 0.5
        cols = torch.where(mirrored, w - 1 - cols, cols)
    cols = dx + cols
    return padded[
        torch.arange(n, device=device).view(n, 1, 1, 1),
        torch.arange(c, device=device).view(1, c, 1, 1),
        rows.view(n, 1, h, 1),
        cols.view(n, 1, 1, w),
    ]


def normalize(images: torch.Tensor, data: Data, memory_format: torch.memory_format) -> torch.Tensor:
    """uint8 pixels -> float32 with the training split's per-channel mean 0 and std 1."""
    shape = (1, -1, 1, 1)
    x = (images.float() - data.mean.view(shape)) / data.std.view(shape)
    return x.contiguous(memory_format=memory_format)


def train_batches(
    data: Data,
    batch_size: int,
    generator: torch.Generator,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled, augmented, normalised (images, labels) batches of the training split."""
    split = data.train
    size = min(batch_size, len(split))
    order = torch.randperm(len(split), generator=generator, device=split.labels.device)
    augment = data.crop_padding > 0 or data.flip
    for step in range(steps_per_epoch(len(split), size)):
        index = order[step * size : (step + 1) * size]
        images = split.images[index]
        if augment:
            images = crop_and_flip(images, data.crop_padding, data.flip, generator)
        yield normalize(images, data, memory_format), split.labels[index]


def eval_batches(
    data: Data, split: Split, memory_format: torch.memory_format = torch.contiguous_format, batch_size: int = EVAL_BATCH
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every image of `split` once, in order, normalised, unaugmented."""
    for start in range(0, len(split), batch_size):
        yield (
            normalize(split.images[start : start + batch_size], data, memory_format),
            split.labels[start : start + batch_size],
        )
