"""How well a map points at a known object: the pointing game and the energy inside the box.

Pointing game (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016): a hit
when the map's maximum lies inside the target box. Energy in box (as in Score-CAM, Wang et al.,
CVPR 2020): the share of the map's total mass that falls inside the box. For a map that knows
nothing, both equal the box's share of the image (a uniformly random point lands in the box that
often, and a flat map puts that share of its energy there): that share is the chance level.

A map with no positive value (Grad-CAM's ReLU removed everything) points nowhere: it is a miss and
has no energy in the box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

LEVEL = 0.95


def box_masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, 4) boxes as x0, y0, x1, y1 (ends exclusive) -> bool masks (N, height, width)."""
    ys = torch.arange(height).view(1, height, 1)
    xs = torch.arange(width).view(1, 1, width)
    x0, y0, x1, y1 = (boxes[:, i].view(-1, 1, 1) for i in range(4))
    return (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)


def pointing_hits(maps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Per image, whether the map's maximum lies inside the box; (N,) in [0, 1].

    Where several positions share the maximum, the hit is the share of them inside the box (the
    chance that a random pick among them lands there), so a flat map scores exactly chance. A map
    whose maximum is not positive scores 0.
    """
    masks = box_masks(boxes, *maps.shape[-2:]).flatten(1)
    flat = maps.flatten(1)
    peak = flat.max(dim=1, keepdim=True).values
    at_peak = flat == peak
    share = (at_peak & masks).sum(dim=1).double() / at_peak.sum(dim=1).double()
    return torch.where(peak[:, 0] > 0, share, torch.zeros_like(share))


def energy_shares(maps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """sum(map inside box) / sum(map) per image, 0 for an empty map; (N,)."""
    masks = box_masks(boxes, *maps.shape[-2:])
    flat = maps.flatten(1).double()
    total = flat.sum(dim=1)
    inside = (flat * masks.flatten(1)).sum(dim=1)
    return torch.where(total > 0, inside / total.clamp_min(1e-300), torch.zeros_like(total))


def box_shares(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Each box's area over the image's: the chance level of both scores; (N,)."""
    return box_masks(boxes, height, width).flatten(1).double().mean(dim=1)


@dataclass(frozen=True)
class Estimate:
    """A value with its two-sided interval and the method that gave it."""

    value: float
    low: float
    high: float
    method: str
    level: float = LEVEL

    def to_dict(self) -> dict[str, float | str]:
        return {"value": self.value, "low": self.low, "high": self.high, "level": self.level, "method": self.method}


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - level) / 2))


def wilson(hits: float, n: int, level: float = LEVEL) -> Estimate:
    """The proportion hits / n with Wilson's score interval: it stays inside [0, 1] and keeps its
    coverage near 0 and 1, where the normal (Wald) interval collapses to a point. `hits` may be
    fractional (tied maxima in the pointing game)."""
    if n <= 0:
        raise ValueError("a proportion needs at least one trial")
    z = _z(level)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), "wilson")


def t_mean(values: torch.Tensor, level: float = LEVEL, method: str = "t") -> Estimate:
    """The mean of `values` with Student's t interval, mean ± t(n-1) * sd / sqrt(n).

    Used for the mean energy share (bounded in [0, 1], so over hundreds of images its mean is close
    to normal) and for paired per-image differences; exact to compute and reproducible, where a
    bootstrap would add its own resampling noise for no gain at these sample sizes.
    """
    from scipy.stats import t as student_t

    v = values.double()
    n = v.numel()
    mean = float(v.mean())
    if n < 2:
        return Estimate(mean, mean, mean, method, level)
    half = float(student_t.ppf(1 - (1 - level) / 2, n - 1)) * float(v.std(unbiased=True)) / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, method, level)
