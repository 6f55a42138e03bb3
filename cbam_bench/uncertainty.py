"""Uncertainty on a front: the seeds' 95 % interval of each trial's accuracy, the timing's interval
of its latency ratio, and which front members the intervals do not resolve.

A trial trained with two or more seeds has a t interval for its mean accuracy (stats.mean_interval
over `seed_accuracies`). A trial timed against the plain network stores a 95 % interval for the
median of the rounds' ratios (`latency_ratio_interval`; exact, [1, 1], for the plain network). A
front member is "not resolved" when another usable trial dominates it within the intervals: the
other at its best is no worse in any objective than the member at its worst (for a maximised
objective: the other's upper end reaches the member's lower end), each trial at its own point in
an objective where it has no interval. The member may then be on the front only by the luck of
its seeds or of its timing, or of the other's.

The other way round, a trial off the front is "possibly on the front" when no trial dominates it
for sure: the dominator at its worst, the trial at its best. Both marks read each trial's best
and worst ends the same way, computed once for both (`trial_ends`). Where neither trial of a pair
has an interval the marks say nothing: the front itself compares their points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from cbam_bench.dominance import dominated_by
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.stats import MeanInterval, mean_interval
from cbam_bench.trial_attrs import TrialAttrs

INTERVAL_METRIC = "accuracy"  # the objective whose spread the seeds measure
RATIO_METRIC = "latency_ratio"  # the objective whose spread the timing's rounds measure
# What the "not resolved" mark means, as the tables' captions say it.
UNRESOLVED_MEANING = (
    "another trial dominates it within the intervals (the accuracy's over the seeds, the latency ratio's "
    "over the timed rounds)"
)


def trial_interval(trial: TrialRecord) -> MeanInterval | None:
    """The 95 % t interval of the trial's mean accuracy; None for fewer than two seeds."""
    runs = trial.attrs.seed_accuracies
    return mean_interval([float(a) for a in runs]) if runs and len(runs) >= 2 else None


def ratio_bounds(attrs: TrialAttrs) -> tuple[float, float] | None:
    """The stored 95 % interval of a trial's latency ratio, if it has a well-formed one."""
    bounds = attrs.latency_ratio_interval
    if bounds is None or len(bounds) != 2 or not all(isinstance(b, (int, float)) for b in bounds):
        return None
    low, high = float(bounds[0]), float(bounds[1])
    return (low, high) if low <= high else None


def _bounds(trial: TrialRecord, metric: str, intervals: dict[int, MeanInterval]) -> tuple[float, float] | None:
    if metric == INTERVAL_METRIC:
        iv = intervals.get(trial.number)
        return None if iv is None else (iv.low, iv.high)
    return ratio_bounds(trial.attrs) if metric == RATIO_METRIC else None


def intervals_of(trials: Sequence[TrialRecord]) -> dict[int, MeanInterval]:
    return {t.number: iv for t in trials if (iv := trial_interval(t)) is not None}


def _ends(trial: TrialRecord, study: StudyRecords, intervals: dict[int, MeanInterval]) -> tuple[list, list, bool]:
    """The trial's best and worst case in every objective, minimised (its point where it has no
    interval), and whether it has an interval in any (an exact one, [1, 1], counts)."""
    best, worst, spread = [], [], False
    assert trial.values is not None
    for o, value in zip(study.objectives, trial.values):
        bounds = _bounds(trial, o.metric, intervals)
        spread = spread or bounds is not None
        low, high = bounds or (value, value)
        ends = sorted((o.sign * low, o.sign * high))
        best.append(ends[0])
        worst.append(ends[1])
    return best, worst, spread


class Ends(NamedTuple):
    """Every usable trial's best and worst case, minimised, in study order: what both marks compare."""

    numbers: list[int]
    best: np.ndarray  # trials x objectives
    worst: np.ndarray
    spread: np.ndarray  # whether the trial has an interval in some objective


def trial_ends(study: StudyRecords, intervals: dict[int, MeanInterval] | None = None) -> Ends:
    """The ends of every usable trial; `intervals`: the accuracy intervals if already computed."""
    trials = [t for t in study.usable if t.values is not None]
    intervals = intervals_of(trials) if intervals is None else intervals
    each = [_ends(t, study, intervals) for t in trials]
    shape = (len(trials), len(study.objectives))
    return Ends(
        numbers=[t.number for t in trials],
        best=np.array([b for b, _, _ in each], dtype=float).reshape(shape),
        worst=np.array([w for _, w, _ in each], dtype=float).reshape(shape),
        spread=np.array([s for _, _, s in each], dtype=bool),
    )


def unresolved(study: StudyRecords, front: Sequence[TrialRecord], ends: Ends | None = None) -> dict[int, int]:
    """Front member number -> the first other usable trial that dominates it within the intervals.

    A pair where neither trial has an interval is left to the front (one seed, one timing say
    nothing about spread). `ends`: trial_ends(study), if already computed."""
    ends = trial_ends(study) if ends is None else ends
    index = {number: i for i, number in enumerate(ends.numbers)}
    out: dict[int, int] = {}
    for member in front:
        i = index.get(member.number)
        if i is None:
            continue
        beats = (ends.best <= ends.worst[i]).all(axis=1)
        beats[i] = False
        if not ends.spread[i]:
            beats &= ends.spread
        hits = np.flatnonzero(beats)
        if hits.size:
            out[member.number] = ends.numbers[hits[0]]
    return out


def possibly_on_front(study: StudyRecords, front: Sequence[TrialRecord], ends: Ends | None = None) -> list[int]:
    """Numbers of the usable trials off the front that no trial dominates for sure: each at its best,
    every other at its worst. Without intervals anywhere this is empty (the front is then exact).
    `ends`: trial_ends(study), if already computed."""
    ends = trial_ends(study) if ends is None else ends
    on_front = {t.number for t in front}
    off = [i for i, number in enumerate(ends.numbers) if number not in on_front]
    surely = dominated_by(ends.worst, ends.best[off])
    return [ends.numbers[i] for i, dominated in zip(off, surely) if not dominated]
