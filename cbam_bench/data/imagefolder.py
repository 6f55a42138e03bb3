"""Image folders (train/CLASS/*, val/CLASS/*): decoded once, resized, cached on disk as tensors.

Decoding thousands of files is the slow part of small-image training, and a search trains many
networks on the same images, so the decoded uint8 tensors are saved next to the data, under a name
that changes whenever a file, the image size or the folder changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from cbam_bench.data.catalog import MIN_TRAIN_IMAGES, imagefolder_classes
from cbam_bench.errors import DataError
from cbam_bench.files import atomic_write

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
CACHE_VERSION = 1


def list_images(path: Path, split: str, classes: list[str]) -> list[tuple[Path, int]]:
    """(file, class index) of every image of one split, in a stable order."""
    files = []
    for index, cls in enumerate(classes):
        folder = path / split / cls
        if folder.is_dir():
            files += [(p, index) for p in sorted(folder.iterdir()) if p.suffix.lower() in EXTENSIONS and p.is_file()]
    if not files:
        raise DataError(f"dataset imagefolder:{path}: no images in {path / split} (looked for {', '.join(EXTENSIONS)})")
    return files


def decode(file: Path, size: int) -> np.ndarray:
    """RGB uint8 (3, size, size): the largest centred square, resized (the aspect ratio is kept)."""
    try:
        with Image.open(file) as image:
            square = ImageOps.fit(image.convert("RGB"), (size, size), method=Image.Resampling.BILINEAR)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{file}: not a readable image ({exc})") from None
    return np.asarray(square, dtype=np.uint8).transpose(2, 0, 1)


def cache_key(path: Path, size: int, files: list[tuple[Path, int]]) -> str:
    """Changes when any file is added, removed, renamed, rewritten, or the size changes."""
    h = hashlib.sha256(f"v{CACHE_VERSION} {path.resolve()} {size}".encode())
    for file, label in files:
        stat = file.stat()
        h.update(f"\n{file.relative_to(path)} {label} {stat.st_size} {stat.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def read_imagefolder(path: Path, size: int, cache_dir: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{'train': (images, labels), 'val': (...)}: uint8 (N, 3, size, size) and int64 labels."""
    classes = imagefolder_classes(path)
    listing = {split: list_images(path, split, classes) for split in ("train", "val")}
    if len(listing["train"]) < MIN_TRAIN_IMAGES:  # refused before anything is decoded or cached
        raise DataError(
            f"dataset imagefolder:{path}: {path / 'train'} holds {len(listing['train'])} images; "
            f"allowed: at least {MIN_TRAIN_IMAGES}"
        )
    cache = cache_dir / f"imagefolder-{cache_key(path, size, listing['train'] + listing['val'])}.pt"
    if cache.is_file():
        try:
            stored = torch.load(cache, map_location="cpu", weights_only=True)
            return {split: (stored[f"{split}_images"], stored[f"{split}_labels"]) for split in listing}
        except Exception:  # a cache from another version, or damaged: decode again and overwrite it
            pass
    out = {}
    for split, files in listing.items():
        images = torch.from_numpy(np.stack([decode(f, size) for f, _ in files]))
        out[split] = (images, torch.tensor([label for _, label in files], dtype=torch.int64))
    with atomic_write(cache) as f:
        torch.save({f"{s}_{part}": t for s, pair in out.items() for part, t in zip(("images", "labels"), pair)}, f)
    return out
