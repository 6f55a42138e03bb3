"""digits-detect: canvases holding 1-4 real handwritten digits among clutter, each digit a box with its class.

The detection sibling of digits-clutter (cbam_bench/data/digits.py), from the same source digits
split into the same disjoint train / val / test pools, built in memory from a seed. Recipe for a
canvas of side S:
1. Each canvas holds 1 to MAX_DIGITS digits (uniformly many). Each digit is upscaled (bilinear) to
   a side drawn from DIGIT_SIDES (fractions of S) and placed at a random position where its square
   overlaps no other digit's square (a digit that finds no such place in PLACEMENT_TRIES is left out).
2. FRAGMENTS crops of other digits of the pool (FRAGMENT_SIDE of S, from glyphs at the middle digit
   scale) go where they overlap no digit, as in digits-clutter; layers combine by maximum, each
   with a random contrast in [MIN_CONTRAST, 1].
3. A digit's box is the tight box of its ink (every pixel it leaves non-zero in uint8), in pixels, as
   (x0, y0, x1, y1) with x1, y1 exclusive, so the box's area is the ink's bounding area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cbam_bench.data.digits import MIN_CONTRAST, SPLITS, source_digits, split_sources, upscale

MAX_DIGITS = 4
DIGIT_SIDES = (1 / 6, 1 / 4, 1 / 3)  # digit square side / canvas side
FRAGMENT_SIDE = 1 / 8  # fragment side / canvas side
FRAGMENTS = 6
PLACEMENT_TRIES = 20
INK = 0.5 / 255  # a pixel this bright is still ink once the canvas is rounded to uint8


@dataclass(frozen=True)
class DetectSplit:
    """One generated split. Rows of `boxes`, `labels` and `sources` past an image's `counts` are padding.

    images: uint8 (N, 1, S, S); boxes: float32 (N, MAX_DIGITS, 4) as x0, y0, x1, y1 in pixels;
    labels: int64 (N, MAX_DIGITS), the digit 0-9 (-1 for padding); sources / fragment_sources: indices
    into scikit-learn's digits of every digit and fragment drawn (-1 where none), for the leakage check.
    """

    images: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    counts: np.ndarray
    sources: np.ndarray
    fragment_sources: np.ndarray


def _overlaps(y: int, x: int, side: int, squares: list[tuple[int, int, int]]) -> bool:
    return any(y < sy + s and sy < y + side and x < sx + s and sx < x + side for sy, sx, s in squares)


def _place(
    canvas: int, side: int, squares: list[tuple[int, int, int]], rng: np.random.Generator
) -> tuple[int, int] | None:
    """A random top-left corner for a `side` square that overlaps none of `squares`, or None."""
    for _ in range(PLACEMENT_TRIES):
        y, x = (int(v) for v in rng.integers(0, canvas - side + 1, 2))
        if not _overlaps(y, x, side, squares):
            return y, x
    return None


def _ink_box(glyph: np.ndarray, y: int, x: int) -> tuple[float, float, float, float]:
    ink = glyph >= INK
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return float(x + cols[0]), float(y + rows[0]), float(x + cols[-1] + 1), float(y + rows[-1] + 1)


def _canvas(glyphs: list[np.ndarray], pool: np.ndarray, canvas: int, rng: np.random.Generator) -> tuple:
    """One canvas: (image float32 (S, S), boxes, digit labels' source indices, fragment source indices)."""
    image = np.zeros((canvas, canvas), dtype=np.float32)
    squares: list[tuple[int, int, int]] = []
    boxes, sources = [], []
    for source in rng.choice(pool, size=int(rng.integers(1, MAX_DIGITS + 1)), replace=False):
        scale = int(rng.integers(len(glyphs)))
        glyph = glyphs[scale][source] * rng.uniform(MIN_CONTRAST, 1.0)
        side = glyph.shape[0]
        spot = _place(canvas, side, squares, rng)
        if spot is None:
            continue
        y, x = spot
        squares.append((y, x, side))
        image[y : y + side, x : x + side] = np.maximum(image[y : y + side, x : x + side], glyph)
        boxes.append(_ink_box(glyph, y, x))
        sources.append(int(source))
    middle = glyphs[len(glyphs) // 2]
    frag = max(2, round(canvas * FRAGMENT_SIDE))
    fragments = []
    for other in rng.choice(pool, size=FRAGMENTS):
        oy, ox = (int(v) for v in rng.integers(0, middle.shape[1] - frag + 1, 2))
        spot = _place(canvas, frag, squares, rng)
        if spot is None or int(other) in sources:  # a digit's own strokes are no clutter for it
            continue
        piece = middle[other, oy : oy + frag, ox : ox + frag] * rng.uniform(MIN_CONTRAST, 1.0)
        y, x = spot
        image[y : y + frag, x : x + frag] = np.maximum(image[y : y + frag, x : x + frag], piece)
        fragments.append(int(other))
    return image, boxes, sources, fragments


def compose_detect(
    glyphs: list[np.ndarray], labels: np.ndarray, pool: np.ndarray, count: int, canvas: int, rng: np.random.Generator
) -> DetectSplit:
    """`count` canvases whose digits and fragments all come from `pool`."""
    images = np.zeros((count, 1, canvas, canvas), dtype=np.uint8)
    boxes = np.zeros((count, MAX_DIGITS, 4), dtype=np.float32)
    sources = np.full((count, MAX_DIGITS), -1, dtype=np.int64)
    fragment_sources = np.full((count, FRAGMENTS), -1, dtype=np.int64)
    counts = np.zeros(count, dtype=np.int64)
    for i in range(count):
        image, found, used, fragments = _canvas(glyphs, pool, canvas, rng)
        images[i, 0] = np.round(image * 255).astype(np.uint8)
        counts[i] = len(found)
        boxes[i, : len(found)] = found
        sources[i, : len(used)] = used
        fragment_sources[i, : len(fragments)] = fragments
    digit_labels = np.where(sources >= 0, labels[np.maximum(sources, 0)], -1)
    return DetectSplit(images, boxes, digit_labels, counts, sources, fragment_sources)


def make_digits_detect(*, image_size: int, train_images: int, val_images: int, seed: int) -> dict[str, DetectSplit]:
    """Train, val and test splits (val and test both `val_images` large) from disjoint source digits.

    The pools are digits-clutter's for the same seed; each split draws from its own child of `seed`.
    """
    images, labels = source_digits()
    split_rng, *split_rngs = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    pools = split_sources(labels, split_rng)
    glyphs = [upscale(images, max(4, round(image_size * f))) for f in DIGIT_SIDES]
    counts = (train_images, val_images, val_images)
    return {
        name: compose_detect(glyphs, labels, pool, count, image_size, rng)
        for name, pool, count, rng in zip(SPLITS, pools, counts, split_rngs)
    }
