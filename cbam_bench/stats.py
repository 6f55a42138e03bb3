"""Is a difference in accuracy real or noise: Welch's t interval for a difference of two means.

Welch's interval does not assume equal variances, which matters here: one design can be far
less stable across seeds than another. Seeds are treated as independent draws; the same seed
number on two architectures does not make a pair, since it initialises different weights.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

LEVEL = 0.95


@dataclass(frozen=True)
class Sample:
    """Summary of repeated runs: mean, sample standard deviation (ddof=1), and their number."""

    mean: float
    sd: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Sample:
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values))


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval for mean(a) - mean(b)."""

    estimate: float
    low: float
    high: float
    df: float | None  # Welch-Satterthwaite degrees of freedom; None when both samples have no spread
    level: float = LEVEL
    method: str = "welch-t"

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, object]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "method": self.method,
            "df": self.df,
            "excludes_zero": self.excludes_zero,
        }


def welch_interval(a: Sample, b: Sample, level: float = LEVEL) -> Interval:
    """Interval for a.mean - b.mean: estimate ± t(1 - (1 - level) / 2, df) * sqrt(sa²/na + sb²/nb)."""
    from scipy.stats import t as student_t

    if a.n < 2 or b.n < 2:
        raise ValueError("a confidence interval needs at least two runs on each side")
    estimate = a.mean - b.mean
    va, vb = a.sd**2 / a.n, b.sd**2 / b.n
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(estimate, estimate, estimate, None, level)
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    half = float(student_t.ppf(1 - (1 - level) / 2, df)) * se
    return Interval(estimate, estimate - half, estimate + half, df, level)


@dataclass(frozen=True)
class MeanInterval:
    """Repeated runs of one network: mean, sample std, count and a two-sided t interval for the mean
    (low == high == mean for a single run, which says nothing about spread)."""

    mean: float
    sd: float
    n: int
    low: float
    high: float
    level: float = LEVEL

    def to_dict(self) -> dict[str, object]:
        return {"mean": self.mean, "std": self.sd, "n": self.n, "low": self.low, "high": self.high, "level": self.level}


def mean_interval(values: Sequence[float], level: float = LEVEL) -> MeanInterval:
    """mean ± t(1 - (1 - level) / 2, n - 1) * sd / sqrt(n)."""
    from scipy.stats import t as student_t

    sample = Sample.of(values)
    if sample.n < 2:
        return MeanInterval(sample.mean, 0.0, sample.n, sample.mean, sample.mean, level)
    half = float(student_t.ppf(1 - (1 - level) / 2, sample.n - 1)) * sample.sd / math.sqrt(sample.n)
    return MeanInterval(sample.mean, sample.sd, sample.n, sample.mean - half, sample.mean + half, level)


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Kendall's tau-b between two rankings of the same items (scipy's, which handles ties); None for
    fewer than two items or when either side is constant."""
    from scipy.stats import kendalltau

    if len(a) != len(b):
        raise ValueError("kendall_tau: both sides need one value per item")
    if len(a) < 2:
        return None
    tau = float(kendalltau(a, b).statistic)
    return None if math.isnan(tau) else tau


def spearman_rho(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation between two scores of the same items (scipy's, average ranks for
    ties); None for fewer than three items or when either side is constant."""
    from scipy.stats import spearmanr

    if len(a) != len(b):
        raise ValueError("spearman_rho: both sides need one value per item")
    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(spearmanr(a, b).statistic)


@dataclass(frozen=True)
class MedianInterval:
    """The median of repeated measurements and a distribution-free interval for it: two order
    statistics chosen so the interval covers the true median with at least `level` probability,
    whatever the distribution (a timing's tail is long and lopsided, so a t interval would not hold)."""

    median: float
    low: float
    high: float
    n: int
    level: float = LEVEL


def _order_rank(n: int, level: float) -> int | None:
    """The largest k with P(Binomial(n, 1/2) < k) <= (1 - level) / 2: [x_(k), x_(n+1-k)] then covers the
    median with at least `level` probability. None when n is too small for any such k."""
    tail, below = (1 - level) / 2, 0.0
    for k in range(1, n // 2 + 1):
        below += math.comb(n, k - 1) / 2**n  # P(X <= k - 1)
        if below > tail:
            return k - 1 if k > 1 else None
    return n // 2 or None


def median_interval(values: Sequence[float], level: float = LEVEL) -> MedianInterval | None:
    """The median with its order-statistic interval; None for fewer values than the level needs (six at 95 %)."""
    ordered = sorted(values)
    k = _order_rank(len(ordered), level)
    if k is None:
        return None
    return MedianInterval(statistics.median(ordered), ordered[k - 1], ordered[len(ordered) - k], len(ordered), level)
