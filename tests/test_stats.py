"""The distribution-free interval of a median: which order statistics bound it."""

from __future__ import annotations

import pytest

from cbam_bench.stats import median_interval


@pytest.mark.parametrize(
    ("n", "low_rank"),
    # The 95 % interval for a median runs from the k-th to the (n + 1 - k)-th smallest value, k the
    # largest with P(Binomial(n, 1/2) <= k - 1) <= 0.025. By hand: n = 8, P(X <= 1) = 9/256 = 0.035,
    # so k = 1; n = 12, P(X <= 2) = 79/4096 = 0.019 and P(X <= 3) = 299/4096 = 0.073, so k = 3.
    [(6, 1), (7, 1), (8, 1), (9, 2), (10, 2), (11, 2), (12, 3), (20, 6), (30, 10), (50, 18), (100, 40)],
)
def test_the_interval_is_the_tabulated_pair_of_order_statistics(n: int, low_rank: int) -> None:
    values = [float(v) for v in range(n, 0, -1)]  # n, ..., 1: sorted, the k-th smallest is k
    iv = median_interval(values)
    assert iv is not None and (iv.low, iv.high) == (low_rank, n + 1 - low_rank)
    assert iv.median == pytest.approx((n + 1) / 2) and iv.n == n and iv.level == 0.95


def test_too_few_values_have_no_interval_and_a_lower_level_needs_fewer() -> None:
    assert median_interval([]) is None and median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None
    # At 80 % five values suffice: P(X = 0) + P(X = 5) = 2/32 <= 0.2, and P(X <= 1) = 6/32 > 0.1.
    iv = median_interval([5.0, 1.0, 4.0, 2.0, 3.0], level=0.8)
    assert iv is not None and (iv.low, iv.median, iv.high) == (1.0, 3.0, 5.0)
