"""Pareto fronts, dominance ranks, hypervolume, the knee, and the best trial under a budget.

The point functions work on plain tuples in which every coordinate is to be minimised; the record
functions translate a study's objectives (accuracy:max becomes -accuracy) and keep only trials
that may take part: COMPLETE, within the study's budgets, with finite values, and measured in
their own right. A trial that reused an earlier trial's measures (the search met the same network
again) is a duplicate of that original: it is left out of fronts, ranks, the knee, picks and the
hypervolume, and the original stands for both (records.TrialRecord.usable).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cbam_bench.dominance import dominance_ranks, nondominated, rank_of
from cbam_bench.errors import StudyError, allowed
from cbam_bench.metrics import METRICS, Objective
from cbam_bench.records import StudyRecords, TrialRecord

Point = Sequence[float]

# Slack added to the worst observed cost when a study sets no budget for it, so that the trials
# at the extremes of the front still add volume.
REFERENCE_MARGIN = 0.1


def dominates(a: Point, b: Point) -> bool:
    """a is no worse than b everywhere and better somewhere (minimisation): the definition that
    dominance.nondominated and dominance.dominance_ranks compute for many points at once."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def _hv2(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    """Exact 2-D volume: sweep by the first coordinate, each point adds a strip below the last."""
    area, floor = 0.0, ref[1]
    for x, y in sorted(points):
        if y < floor:
            area += (ref[0] - x) * (floor - y)
            floor = y
    return area


def _hv(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    if len(ref) == 2:
        return _hv2(points, ref)
    # Slice along the last coordinate: between consecutive levels, the dominated region is the
    # (d-1)-dimensional one of the points at or below that level.
    points = sorted(points, key=lambda p: p[-1])
    volume = 0.0
    for i, p in enumerate(points):
        upper = points[i + 1][-1] if i + 1 < len(points) else ref[-1]
        if upper > p[-1]:
            volume += (upper - p[-1]) * _hv([q[:-1] for q in points[: i + 1]], ref[:-1])
    return volume


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Exact volume dominated by points and bounded by reference (minimisation), in any dimension.

    Points not strictly better than the reference in every coordinate add nothing. The slicing
    recursion costs O(n^(d-1) log n): instant for the tens of points a front holds.
    """
    ref = tuple(float(r) for r in reference)
    inside = [tuple(float(x) for x in p) for p in points if all(x < r for x, r in zip(p, ref))]
    if not inside:
        return 0.0
    kept = nondominated(inside)
    return _hv([inside[i] for i in kept], ref)


def knee(points: Sequence[Point]) -> int:
    """Index of the knee: the point farthest beyond the hyperplane through the front's extremes.

    Each coordinate is scaled to [0, 1] over the points (0 = best); the extremes are the points best
    in one coordinate (ties: the better sum of the rest); the knee is the point with the largest
    signed distance from their hyperplane towards the ideal corner (0, ..., 0). When the extremes
    span no such plane (one point is best in two objectives, or the plane does not face the ideal
    corner), the knee is the point nearest the ideal corner instead. Ties go to the point nearest
    the ideal corner, then to the lower index.
    """
    import numpy as np

    if not points:
        raise ValueError("knee of an empty front")
    f = np.asarray(points, dtype=float)
    lo, span = f.min(axis=0), np.ptp(f, axis=0)
    norm = np.divide(f - lo, span, out=np.zeros_like(f), where=span > 0)
    m = norm.shape[1]
    to_ideal = np.linalg.norm(norm, axis=1)
    extremes = [min(range(len(norm)), key=lambda i, j=j: (norm[i, j], norm[i].sum() - norm[i, j])) for j in range(m)]
    beyond = -to_ideal  # fallback score: nearer the ideal corner is better
    if len(set(extremes)) == m:
        try:
            normal = np.linalg.solve(norm[extremes], np.ones(m))
        except np.linalg.LinAlgError:
            normal = None
        if normal is not None and np.all(np.isfinite(normal)) and np.all(normal > 0):
            beyond = (1.0 - norm @ normal) / np.linalg.norm(normal)
    return min(range(len(norm)), key=lambda i: (-round(float(beyond[i]), 12), round(float(to_ideal[i]), 12), i))


# --- on study records -------------------------------------------------------------------------


def as_minimised(trial: TrialRecord, objectives: Sequence[Objective]) -> tuple[float, ...]:
    """The trial's values with every objective turned into one to minimise."""
    assert trial.values is not None
    return tuple(o.sign * v for o, v in zip(objectives, trial.values))


def _sort_key(trial: TrialRecord, objectives: Sequence[Objective]) -> tuple[float, ...]:
    return (*as_minimised(trial, objectives), trial.number)


def pareto_front(study: StudyRecords) -> list[TrialRecord]:
    """The non-dominated usable trials, best first in the first objective, then the next."""
    trials = study.usable
    points = [as_minimised(t, study.objectives) for t in trials]
    front = [trials[i] for i in nondominated(points)]
    return sorted(front, key=lambda t: _sort_key(t, study.objectives))


def ranks(study: StudyRecords) -> dict[int, int]:
    """Trial number -> dominance rank (1 = on the front), for usable trials only."""
    trials = study.usable
    points = [as_minimised(t, study.objectives) for t in trials]
    return {t.number: r for t, r in zip(trials, dominance_ranks(points))}


def rank(study: StudyRecords, trial: TrialRecord) -> int | None:
    """One usable trial's dominance rank without ranking the whole study; None for any other trial."""
    trials = study.usable
    index = next((i for i, t in enumerate(trials) if t.number == trial.number), None)
    if index is None:
        return None
    return rank_of([as_minimised(t, study.objectives) for t in trials], index)


def default_reference(study: StudyRecords) -> dict[str, float]:
    """The reference point used unless the user names one, per objective metric.

    Fractions to maximise (accuracy, top-5) use 0, their worst possible value. Costs use the
    study's own budget for that metric when it has one (every feasible trial is within it), else
    the worst value among usable trials plus REFERENCE_MARGIN of it. Other maximised metrics use
    the worst usable value.
    """
    out: dict[str, float] = {}
    trials = study.usable
    for i, o in enumerate(study.objectives):
        values = [t.values[i] for t in trials if t.values is not None]
        metric = METRICS.get(o.metric)
        if o.direction == "max" and metric is not None and metric.unit == "%":
            out[o.metric] = 0.0
        elif o.direction == "min" and o.metric in study.budgets:
            out[o.metric] = study.budgets[o.metric]
        elif values:
            worst = max(values) if o.direction == "min" else min(values)
            out[o.metric] = worst + o.sign * REFERENCE_MARGIN * abs(worst)
    return out


def reference_point(study: StudyRecords, override: dict[str, float] | None = None) -> dict[str, float]:
    """default_reference with the user's values on top; every override must name an objective."""
    names = [o.metric for o in study.objectives]
    for metric in override or {}:
        if metric not in names:
            raise StudyError(f"--ref {metric}: not an objective of study {study.name!r}; allowed: {allowed(names)}")
    return {**default_reference(study), **(override or {})}


def study_hypervolume(study: StudyRecords, reference: dict[str, float]) -> float:
    """Hypervolume of the study's usable trials in its objectives' own units."""
    if len(reference) < len(study.objectives):
        return 0.0
    ref = [o.sign * reference[o.metric] for o in study.objectives]
    return hypervolume([as_minimised(t, study.objectives) for t in study.usable], ref)


def normalized_hypervolume(study: StudyRecords, reference: dict[str, float], volume: float) -> float | None:
    """volume as a fraction of the box between the ideal point (accuracy 1, cost 0) and the reference."""
    box = 1.0
    for o in study.objectives:
        metric = METRICS.get(o.metric)
        if metric is None or metric.ideal is None or o.metric not in reference:
            return None
        box *= abs(metric.ideal - reference[o.metric])
    return volume / box if box > 0 else None


def knee_trial(study: StudyRecords, front: list[TrialRecord] | None = None) -> TrialRecord | None:
    front = pareto_front(study) if front is None else front
    if not front:
        return None
    return front[knee([as_minimised(t, study.objectives) for t in front])]


def pick_under_budget(
    trials: Sequence[TrialRecord], budgets: dict[str, float], score: str = "accuracy"
) -> TrialRecord | None:
    """The usable trial with the highest `score` (the study task's primary score: accuracy, or
    detection's map) whose every budgeted measure is stored and within its cap.

    Ties go to fewer MACs, then lower latency, then fewer parameters, then the earlier trial.
    """

    def within(t: TrialRecord) -> bool:
        return all((v := t.measure(m)) is not None and v <= cap for m, cap in budgets.items())

    candidates = [t for t in trials if t.usable and t.measure(score) is not None and within(t)]
    if not candidates:
        return None

    def cost(t: TrialRecord, name: str) -> float:
        v = t.measure(name)
        return math.inf if v is None else v

    return min(
        candidates,
        key=lambda t: (-(t.measure(score) or 0.0), cost(t, "macs"), cost(t, "latency_ms"), cost(t, "params"), t.number),
    )
