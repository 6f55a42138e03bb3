"""digits-clutter: real handwritten digits placed at random among fragments of other digits.

In the spirit of cluttered MNIST (Mnih et al., "Recurrent Models of Visual Attention", 2014), the
setting in which attention is usually tested: the class is decided by one digit somewhere on the
canvas, and strokes of other digits around it look locally like the real thing, so a network has to
find *where* the digit is. Built offline from scikit-learn's bundled 8x8 digits (1,797 images from
UCI's Optical Recognition of Handwritten Digits), in memory, deterministically from a seed.

Recipe for a canvas of side S (the preset's numbers, Clutter, are in data/catalog.py):
1. Split the source digits, per class, into disjoint train / val / test pools (60 / 20 / 20 %), so
   no handwritten digit (nor a fragment of it) appears in two splits.
2. Upscale every source digit to `digit_scale` of S (bilinear; S/2 x S/2 by default).
3. Each image: a black canvas; `fragments` fragments (crops of other digits from the same pool,
   `fragment_scale` of a digit's side: S/4 x S/4 by default) at random positions; then the target
   digit at a random position; layers combine by maximum, as ink does. Each layer gets a random contrast in [MIN_CONTRAST, 1] so brightness does
   not tell the target from the clutter. The target's square is kept as its box, which localisation
   scores (cbam_bench.inspect) are measured against.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cbam_bench.data.catalog import CLUTTER, DIGITS, Clutter

SOURCE_FRACTIONS = (0.6, 0.2, 0.2)  # train, val, test
MIN_CONTRAST = 0.6
PLACEMENT_TRIES = 8
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DigitSplit:
    """One generated split: uint8 images (N, 1, S, S), int64 labels (N,), the source digits used, and
    where each target digit lies."""

    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray  # indices into scikit-learn's digits, for the no-leakage check
    boxes: np.ndarray  # int64 (N, 4): the target digit's square as x0, y0, x1, y1 pixels, x1 and y1 exclusive


def source_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits as float32 in [0, 1], shape (1797, 8, 8), and their labels.

    The file load_digits() reads is read directly when it is where scikit-learn has always kept
    it: importing sklearn.datasets costs about two seconds, a twentieth of the default recipe.
    """
    package = importlib.util.find_spec("sklearn")
    locations = package.submodule_search_locations if package is not None else None
    bundled = Path(locations[0]) / "datasets" / "data" / "digits.csv.gz" if locations else None
    if bundled is not None and bundled.is_file():
        table = np.loadtxt(bundled, delimiter=",")
        images, labels = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images, labels = digits.images, digits.target
    return (images / 16.0).astype(np.float32), labels.astype(np.int64)


def split_sources(labels: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint index pools for train / val / test, each holding every class in proportion."""
    pools: list[list[np.ndarray]] = [[], [], []]
    bounds = np.cumsum(SOURCE_FRACTIONS)[:-1]
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        cuts = np.round(bounds * len(members)).astype(int)
        for pool, part in zip(pools, np.split(members, cuts)):
            pool.append(part)
    return [np.sort(np.concatenate(pool)) for pool in pools]


def upscale(images: np.ndarray, side: int) -> np.ndarray:
    """(N, 8, 8) -> (N, side, side), bilinear."""
    x = torch.from_numpy(images)[:, None]
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)[:, 0].clamp_(0, 1).numpy()


def _crop(images: np.ndarray, ys: np.ndarray, xs: np.ndarray, side: int) -> np.ndarray:
    """Square crops images[i, ys[i]:ys[i]+side, xs[i]:xs[i]+side], all at once."""
    r = np.arange(side)
    return images[np.arange(len(images))[:, None, None], (ys[:, None] + r)[:, :, None], (xs[:, None] + r)[:, None, :]]


def _paste_max(canvas: np.ndarray, patches: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> None:
    """canvas[i] = max(canvas[i], patches[i] placed at (ys[i], xs[i])), for every i at once."""
    side = patches.shape[1]
    r = np.arange(side)
    index = (np.arange(len(canvas))[:, None, None], (ys[:, None] + r)[:, :, None], (xs[:, None] + r)[:, None, :])
    canvas[index] = np.maximum(canvas[index], patches)


def _free_positions(
    count: int, canvas: int, side: int, box: tuple[np.ndarray, np.ndarray, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions for `side`-pixel squares that do not overlap each image's target box.

    Draws PLACEMENT_TRIES candidates per image and keeps the first that misses the box; `placed`
    is False where none did (that fragment is left out).
    """
    ys, xs = rng.integers(0, canvas - side + 1, (2, PLACEMENT_TRIES, count))
    by, bx, bside = box
    misses = (ys + side <= by) | (ys >= by + bside) | (xs + side <= bx) | (xs >= bx + bside)
    first = misses.argmax(axis=0)
    pick = np.arange(count)
    return ys[first, pick], xs[first, pick], misses[first, pick]


def compose(
    glyphs: np.ndarray,
    labels: np.ndarray,
    pool: np.ndarray,
    count: int,
    canvas: int,
    rng: np.random.Generator,
    clutter: Clutter = CLUTTER[DIGITS],
) -> DigitSplit:
    """`count` cluttered images whose targets and fragments all come from `pool`."""
    side = glyphs.shape[1]
    frag = max(2, min(side, round(side * clutter.fragment_scale)))
    # Targets cycle through the pool in shuffled order, so every source digit is used about equally.
    order = np.concatenate([rng.permutation(pool) for _ in range(-(-count // len(pool)))])[:count]
    images = np.zeros((count, canvas, canvas), dtype=np.float32)
    ty, tx = rng.integers(0, canvas - side + 1, (2, count))
    target_slot = np.searchsorted(pool, order)
    for _ in range(clutter.fragments):
        # Another digit of the pool: draw among the len(pool) - 1 others by skipping the target's slot.
        other = rng.integers(0, len(pool) - 1, count)
        other = pool[other + (other >= target_slot)]
        oy, ox = rng.integers(0, side - frag + 1, (2, count))
        contrast = rng.uniform(MIN_CONTRAST, 1.0, (count, 1, 1))
        ys, xs, placed = _free_positions(count, canvas, frag, (ty, tx, side), rng)
        pieces = _crop(glyphs[other], oy, ox, frag) * contrast * placed[:, None, None]
        _paste_max(images, pieces.astype(np.float32), ys, xs)
    digits = glyphs[order] * rng.uniform(MIN_CONTRAST, 1.0, (count, 1, 1))
    _paste_max(images, digits.astype(np.float32), ty, tx)
    pixels = np.round(images * 255).astype(np.uint8)[:, None]
    boxes = np.stack([tx, ty, tx + side, ty + side], axis=1).astype(np.int64)
    return DigitSplit(images=pixels, labels=labels[order], sources=order, boxes=boxes)


def make_digits_clutter(
    *, image_size: int, train_images: int, val_images: int, seed: int, clutter: Clutter = CLUTTER[DIGITS]
) -> dict[str, DigitSplit]:
    """Train, val and test splits (val and test both `val_images` large) from disjoint source digits.

    Each split draws from its own child of `seed`, so changing one split's size leaves the others
    unchanged.
    """
    images, labels = source_digits()
    split_rng, *split_rngs = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    pools = split_sources(labels, split_rng)
    glyphs = upscale(images, max(4, round(image_size * clutter.digit_scale)))
    counts = (train_images, val_images, val_images)
    return {
        name: compose(glyphs, labels, pool, count, image_size, rng, clutter)
        for name, pool, count, rng in zip(SPLITS, pools, counts, split_rngs)
    }
