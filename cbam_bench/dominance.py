"""Non-dominated sets and dominance ranks of many points at once (every coordinate minimised).

A study of 10,000 trials has 10^8 pairs, too many to test one by one in Python. Both functions
first sort the points lexicographically: a point can only be dominated by points before it in that
order (a dominator is no greater in every coordinate), and equal points share every answer, so
they are merged first. Two objectives then need one pass over the sorted points, O(n log n);
more objectives compare blocks of points against the front found so far with numpy.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

# Points compared against the front at once: the block's comparisons take block x front x d booleans.
BLOCK = 256


def _unique(points: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct points in lexicographic order, and for each input point the index of its own."""
    array = np.asarray(points, dtype=float)
    if array.ndim != 2:
        array = array.reshape(len(points), -1)
    unique, inverse = np.unique(array, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1)


def _dominated_by_any(candidates: np.ndarray, points: np.ndarray) -> np.ndarray:
    """For each of `points`, whether some candidate is no worse everywhere and better somewhere."""
    if len(candidates) == 0:
        return np.zeros(len(points), dtype=bool)
    no_worse = (candidates[:, None, :] <= points[None, :, :]).all(axis=2)
    better = (candidates[:, None, :] < points[None, :, :]).any(axis=2)
    return (no_worse & better).any(axis=0)


def _front_2d(unique: np.ndarray) -> np.ndarray:
    """In lexicographic order of distinct points, p is beaten exactly by an earlier point with y <= p's y."""
    y = unique[:, 1]
    best_before = np.minimum.accumulate(np.concatenate(([np.inf], y[:-1])))
    return y < best_before


def _front_blocks(unique: np.ndarray) -> np.ndarray:
    """Block by block in lexicographic order: a point is on the front unless the front so far or its
    own block beats it (a beaten earlier point's own dominator is on the front, and beats it too)."""
    keep = np.zeros(len(unique), dtype=bool)
    front = unique[:0]
    for start in range(0, len(unique), BLOCK):
        block = unique[start : start + BLOCK]
        survivors = ~_dominated_by_any(front, block)
        survivors[survivors] = ~_dominated_by_any(block, block[survivors])
        keep[start : start + BLOCK] = survivors
        front = np.concatenate([front, block[survivors]])
    return keep


def nondominated(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices, ascending, of the points no other point dominates; equal points are all kept."""
    if len(points) == 0:
        return []
    unique, inverse = _unique(points)
    if unique.shape[1] == 1:
        keep = np.arange(len(unique)) == 0
    elif unique.shape[1] == 2:
        keep = _front_2d(unique)
    else:
        keep = _front_blocks(unique)
    return np.flatnonzero(keep[inverse]).tolist()


def _ranks_2d(unique: np.ndarray) -> np.ndarray:
    """Sweep in lexicographic order; lowest[k] is the smallest y on front k + 1 so far, which grows
    with k, so a point joins the first front whose lowest y is above its own."""
    lowest: list[float] = []
    ranks = np.empty(len(unique), dtype=np.int64)
    for i, y in enumerate(unique[:, 1].tolist()):
        k = bisect.bisect_right(lowest, y)
        if k == len(lowest):
            lowest.append(y)
        else:
            lowest[k] = y
        ranks[i] = k + 1
    return ranks


class _Fronts:
    """The fronts found so far, each a growing array, for ranks in three or more dimensions."""

    def __init__(self, dims: int) -> None:
        self.rows: list[np.ndarray] = []
        self.sizes: list[int] = []
        self.dims = dims

    def beats(self, k: int, point: np.ndarray) -> bool:
        """Whether front k holds a dominator of `point`. Every point on a front is distinct from and
        lexicographically before `point`, so one that is no greater everywhere is less somewhere."""
        return bool((self.rows[k][: self.sizes[k]] <= point).all(axis=1).any())

    def add(self, k: int, point: np.ndarray) -> None:
        if k == len(self.rows):
            self.rows.append(np.empty((16, self.dims)))
            self.sizes.append(0)
        if self.sizes[k] == len(self.rows[k]):
            self.rows[k] = np.concatenate([self.rows[k], np.empty_like(self.rows[k])])
        self.rows[k][self.sizes[k]] = point
        self.sizes[k] += 1


def _ranks_fronts(unique: np.ndarray) -> np.ndarray:
    """In lexicographic order, a point's rank is one more than the last front holding a dominator of
    it. If front k holds one, so does every front before k (it holds a dominator of that
    dominator), so the fronts are searched by bisection."""
    fronts = _Fronts(unique.shape[1])
    ranks = np.empty(len(unique), dtype=np.int64)
    for i, point in enumerate(unique):
        lo, hi = 0, len(fronts.rows)
        while lo < hi:
            mid = (lo + hi) // 2
            if fronts.beats(mid, point):
                lo = mid + 1
            else:
                hi = mid
        fronts.add(lo, point)
        ranks[i] = lo + 1
    return ranks


def dominance_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Non-dominated sorting: rank 1 is the front, rank k the front once ranks < k are removed."""
    if len(points) == 0:
        return []
    unique, inverse = _unique(points)
    if unique.shape[1] == 1:
        ranks = np.arange(1, len(unique) + 1)
    elif unique.shape[1] == 2:
        ranks = _ranks_2d(unique)
    else:
        ranks = _ranks_fronts(unique)
    return ranks[inverse].tolist()


def rank_of(points: Sequence[Sequence[float]], index: int) -> int:
    """The dominance rank of one point, from the points that dominate it alone: ranks only ever
    depend on dominators, and a dominator's dominators dominate the point too."""
    array = np.asarray(points, dtype=float).reshape(len(points), -1)
    point = array[index]
    above = array[(array <= point).all(axis=1) & (array < point).any(axis=1)]
    return 1 if len(above) == 0 else max(dominance_ranks(above)) + 1


def dominated_by(candidates: Sequence[Sequence[float]], points: Sequence[Sequence[float]]) -> list[bool]:
    """For each of `points`, whether some candidate dominates it. Only the candidates' own front is
    compared: whatever a candidate dominates, a front member dominating that candidate does too."""
    if len(points) == 0:
        return []
    array = np.asarray(points, dtype=float).reshape(len(points), -1)
    if len(candidates) == 0:
        return [False] * len(array)
    pool = np.asarray(candidates, dtype=float).reshape(len(candidates), -1)
    front = pool[nondominated(pool)]
    out = np.zeros(len(array), dtype=bool)
    for start in range(0, len(array), BLOCK):
        out[start : start + BLOCK] = _dominated_by_any(front, array[start : start + BLOCK])
    return out.tolist()
