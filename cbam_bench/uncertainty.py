"""Uncertainty on a front: the seeds' 95 % interval of each trial's accuracy, and which front members
the intervals do not resolve.

A trial trained with two or more seeds has a t interval for its mean accuracy (stats.mean_interval
over `seed_accuracies`). A front member is "not resolved" when another usable trial dominates it
within the intervals: that trial is no worse in every objective without an interval (costs are
measured, not sampled) and, in each objective with one, its interval reaches the member's (for a
maximised objective: its upper end is at least the member's lower end). The member may then be on
the front only by the luck of its seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.stats import MeanInterval, mean_interval

INTERVAL_METRIC = "accuracy"  # the objective whose spread the seeds measure


def trial_interval(trial: TrialRecord) -> MeanInterval | None:
    """The 95 % t interval of the trial's mean accuracy; None for fewer than two seeds."""
    runs = trial.attrs.seed_accuracies
    return mean_interval([float(a) for a in runs]) if runs and len(runs) >= 2 else None


def _could_dominate(
    other: TrialRecord, member: TrialRecord, study: StudyRecords, intervals: dict[int, MeanInterval]
) -> bool:
    """Whether `other` dominates `member` once the accuracy intervals are allowed for."""
    if other.values is None or member.values is None:
        return False
    for i, o in enumerate(study.objectives):
        a, b = intervals.get(other.number), intervals.get(member.number)
        if o.metric == INTERVAL_METRIC and a is not None and b is not None:
            reaches = a.high >= b.low if o.direction == "max" else a.low <= b.high
            if not reaches:
                return False
        elif o.sign * other.values[i] > o.sign * member.values[i]:
            return False
    return True


def intervals_of(trials: Sequence[TrialRecord]) -> dict[int, MeanInterval]:
    return {t.number: iv for t in trials if (iv := trial_interval(t)) is not None}


def unresolved(study: StudyRecords, front: Sequence[TrialRecord]) -> dict[int, int]:
    """Front member number -> the first other usable trial that dominates it within the intervals.

    Only members with an interval can be unresolved (one seed says nothing about spread)."""
    intervals = intervals_of(study.usable)
    out: dict[int, int] = {}
    for member in front:
        if member.number not in intervals:
            continue
        rival = next(
            (t for t in study.usable if t.number != member.number and _could_dominate(t, member, study, intervals)),
            None,
        )
        if rival is not None:
            out[member.number] = rival.number
    return out
