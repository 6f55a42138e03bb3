"""Is early stopping right? Replay the study's stopping rule on curves of trials trained to the end.

Given a study whose trials all trained every epoch (`search --no-early-stop`), each trial's
stored curves (`curve`, `loss_curve`) are what the rule would have seen. The replay visits the
trials in an order, asks median_rule at every epoch before the last exactly as a search does
(against the trials already visited, a stopped one with its curves cut at the epoch it stopped,
and only those no costlier), and records where each would have stopped. Two figures per order:
the share of training time the rule saves, and its false stops: stopped trials that the full
training puts on the front or in its top 3 by accuracy. Orders matter, since the rule compares
with earlier trials only.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace

from cbam_bench import pareto
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.search.early_stop import median_rule, signal_curve
from cbam_bench.space import EarlyStop
from cbam_bench.stats import spearman_rho
from cbam_bench.trial_attrs import COST_METRICS, TrialAttrs

TOP = 3  # the full training's most accurate trials that must never be stopped


@dataclass(frozen=True)
class Replay:
    """One order's outcome: trial -> epoch it stops at, the share of training time saved, the false stops."""

    order: tuple[int, ...]
    stopped: dict[int, int]
    saved: float
    false_stops: tuple[int, ...]


def protected(study: StudyRecords) -> set[int]:
    """Trials a correct rule never stops: the full training's front and its TOP most accurate."""
    ranked = sorted(study.usable, key=lambda t: (-(t.attrs.accuracy or 0.0), t.number))
    return {t.number for t in pareto.pareto_front(study)} | {t.number for t in ranked[:TOP]}


def replayable(study: StudyRecords, rule: EarlyStop) -> list[TrialRecord]:
    """The study's trials that stored the curve the rule reads (a study trained before training
    losses were kept has none for `signal: loss`)."""
    return [t for t in study.usable if signal_curve(t.attrs, rule.signal)]


def _cut(attrs: TrialAttrs, epoch: int) -> TrialAttrs:
    """The trial as a later one meets it when it stopped after `epoch`: its curves end there."""
    cut = {k: v[:epoch] for k in ("curve", "loss_curve") if (v := getattr(attrs, k)) is not None}
    return dataclasses.replace(attrs, **cut)


def _costs(study: StudyRecords, trial: TrialRecord) -> dict[str, float]:
    return {
        o.metric: v
        for o in study.objectives
        if o.direction == "min" and o.metric in COST_METRICS and (v := trial.measure(o.metric)) is not None
    }


def _cost(t: TrialRecord, epochs: int, seeds: int | None, stop: int | None) -> tuple[float, float]:
    """The training time a search spends on the trial when it stops after epoch `stop` (None: not
    stopped), and when it trains it to the end; `seeds` as in replay. Only the first seed is
    checked, so a stopped trial trains its epochs up to the stop, one seed. An epoch costs the
    trial's own stored training time per epoch (1 when none is stored)."""
    stored = max(1, t.attrs.seeds or 1)
    searched = seeds or stored
    epoch_s = (t.attrs.train_s or stored * epochs) / (stored * epochs)
    return epoch_s * (searched * epochs if stop is None else stop), epoch_s * searched * epochs


def ceiling(study: StudyRecords, signal: str, seeds: int | None = None) -> list[float]:
    """Per epoch e before the last, the share of training time saved by an oracle that stops, after
    epoch e, every trial that is neither protected nor the no-attention baseline, and no other: the
    most that any rule stopping there can save without a false stop, whatever it reads."""
    keep = protected(study)
    trials = [(t, len(c)) for t in study.usable if (c := signal_curve(t.attrs, signal))]
    out = []
    for e in range(1, min((n for _, n in trials), default=0)):
        costs = [_cost(t, n, seeds, None if t.number in keep or t.attention_kind == "none" else e) for t, n in trials]
        total = sum(whole for _, whole in costs)
        out.append(1 - sum(spent for spent, _ in costs) / total if total else 0.0)
    return out


def replay(study: StudyRecords, rule: EarlyStop, order: Sequence[int], seeds: int | None = None) -> Replay:
    """The rule replayed on the study's trained curves, visiting trials in `order` (trial numbers).

    `seeds`: how many seeds the search the rule serves trains per trial (None: each trial's own, as
    stored). The audit's study trains more seeds than a search may, to judge false stops on a mean;
    the time saved is the search's, and a stopped trial skips all but its first seed's later epochs.
    """
    trials = {t.number: t for t in replayable(study, rule)}
    seen: list[SimpleNamespace] = []
    stopped: dict[int, int] = {}
    used = total = 0.0
    for number in order:
        t = trials[number]
        curve, costs = list(signal_curve(t.attrs, rule.signal) or []), _costs(study, t)
        kept = t.attrs
        for epoch in range(1, len(curve)):  # a search never stops a trial at its last epoch
            if median_rule(seen, epoch, curve[epoch - 1], rule, costs, baseline=t.attention_kind == "none"):
                stopped[number] = epoch
                kept = _cut(t.attrs, epoch)
                break
        spent, whole = _cost(t, len(curve), seeds, stopped.get(number))
        used, total = used + spent, total + whole
        seen.append(SimpleNamespace(user_attrs=kept.to_user_attrs()))
    keep = protected(study)
    return Replay(
        tuple(order), stopped, 1 - used / total if total else 0.0, tuple(n for n in order if n in stopped and n in keep)
    )


def early_ranking(study: StudyRecords, signal: str) -> list[float | None]:
    """Per epoch, Spearman's rho between the trials' `signal` then (a loss counted as its negative,
    so 1 is a perfect ranking either way) and their final accuracy, the mean over seeds: how much
    a rule reading that epoch can know. None where it is undefined (a constant column)."""
    rows = [
        (c, t.attrs.accuracy)
        for t in study.usable
        if (c := signal_curve(t.attrs, signal)) and t.attrs.accuracy is not None
    ]
    epochs = min((len(c) for c, _ in rows), default=0)
    sign = -1.0 if signal == "loss" else 1.0
    final = [accuracy for _, accuracy in rows]
    return [spearman_rho([sign * c[e] for c, _ in rows], final) for e in range(epochs)]


def audit(
    study: StudyRecords, rule: EarlyStop, orders: int = 5, seed: int = 0, seeds: int | None = None
) -> list[Replay]:
    """The replay in trial-number order, then in `orders - 1` shuffled orders (seeded); `seeds` as in replay."""
    numbers = sorted(t.number for t in replayable(study, rule))
    shuffle = random.Random(seed)
    out = [replay(study, rule, numbers, seeds)]
    for _ in range(orders - 1):
        order = numbers[:]
        shuffle.shuffle(order)
        out.append(replay(study, rule, order, seeds))
    return out
