"""Pointing game, energy in box, chance and the intervals, on maps and boxes made by hand."""

from __future__ import annotations

import pytest
import torch

from cbam_bench.inspect.scores import box_masks, box_shares, energy_shares, pointing_hits, t_mean, wilson

BOX = torch.tensor([[1, 1, 3, 3]])  # x0, y0, x1, y1: the central 2x2 of a 4x4 map


def one_map(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor([rows], dtype=torch.float32)


def test_box_mask_covers_x0_to_x1_exclusive() -> None:
    mask = box_masks(torch.tensor([[1, 0, 3, 2]]), 3, 4)[0]
    assert mask.tolist() == [[False, True, True, False], [False, True, True, False], [False, False, False, False]]


def test_pointing_game_hit_miss_and_empty_map() -> None:
    inside = one_map([[0, 0, 0, 0], [0, 0, 5, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
    outside = one_map([[9, 0, 0, 0], [0, 0, 5, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    empty = torch.zeros(1, 4, 4)
    maps = torch.cat([inside, outside, empty])
    assert pointing_hits(maps, BOX.repeat(3, 1)).tolist() == [1.0, 0.0, 0.0]


def test_tied_maxima_count_the_share_inside_so_a_flat_map_scores_chance() -> None:
    flat = torch.ones(1, 4, 4)
    two_peaks = one_map([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])  # one of two inside
    hits = pointing_hits(torch.cat([flat, two_peaks]), BOX.repeat(2, 1))
    assert hits.tolist() == [pytest.approx(4 / 16), pytest.approx(0.5)]
    assert box_shares(BOX, 4, 4).tolist() == [pytest.approx(0.25)]


def test_energy_share_by_hand() -> None:
    # Inside the box: 1 + 2 + 3 + 4 = 10; outside: 5 + 5 = 10; share 10 / 20.
    m = one_map([[5, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0], [0, 0, 0, 5]])
    flat = torch.ones(1, 4, 4)
    shares = energy_shares(torch.cat([m, flat, torch.zeros(1, 4, 4)]), BOX.repeat(3, 1))
    assert shares.tolist() == [pytest.approx(0.5), pytest.approx(0.25), 0.0]


def test_wilson_interval_matches_the_formula_by_hand() -> None:
    # 8 of 10, z = 1.95996: centre (0.8 + z²/20) / (1 + z²/10) = 0.71674, half-width 0.22658.
    e = wilson(8, 10)
    assert (e.value, e.low, e.high) == (
        pytest.approx(0.8),
        pytest.approx(0.49016, abs=1e-4),
        pytest.approx(0.94332, abs=1e-4),
    )
    assert wilson(0, 20).low == 0.0 and wilson(0, 20).high == pytest.approx(0.16113, abs=1e-4)
    assert e.method == "wilson" and e.level == 0.95


def test_t_interval_of_a_mean_by_hand() -> None:
    # mean 0.5, sd 0.57735 (ddof 1), t(0.975, 3) = 3.18245: half-width 0.91869.
    e = t_mean(torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert (e.value, e.low, e.high) == (
        pytest.approx(0.5),
        pytest.approx(-0.41869, abs=1e-4),
        pytest.approx(1.41869, abs=1e-4),
    )
    single = t_mean(torch.tensor([0.3]))
    assert single.low == single.high == pytest.approx(0.3)
