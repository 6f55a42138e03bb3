"""Stopping hopeless trials early when there are several objectives.

Optuna refuses trial.report() in multi-objective studies, so its pruners cannot be used there. Our
rule is the median rule made aware of cost: after the warm-up, a trial whose validation accuracy
at epoch e is below the median of earlier trials' accuracy at epoch e is stopped (or, with
`signal: loss`, whose mean training loss of epoch e is above theirs), where "earlier trials" are
only those at least as cheap in every cost objective (measured before training). A plain median
would stop the cheap designs a front needs — the no-attention baseline is less accurate than
most attention variants early on, yet it anchors the front at the low-cost end; it is only
stopped when cheaper-or-equal designs learn faster. The no-attention network itself is never
stopped: it is the baseline every answer is read against (and the `latency_ratio` of 1 that
noisy timings of attention variants can undercut). A trial is stopped only when it is past the
median by more than the rule's `margin`: measured on the default space (README, the early-stop
audit), the accuracy after one or two epochs says little about the final one, and trials just
below the median went on to the front. Each trained trial stores its first seed's curves
(`curve`: validation accuracy per epoch; `loss_curve`: mean training loss per epoch), which are
what later trials are compared with; only the first seed is checked, so a trial that passed it
trains its other seeds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from cbam_bench.search.finished import stored_attrs
from cbam_bench.space import EarlyStop
from cbam_bench.trial_attrs import TrialAttrs


def _no_costlier(attrs: TrialAttrs, costs: Mapping[str, float]) -> bool:
    return all((value := getattr(attrs, m)) is not None and value <= v for m, v in costs.items())


def signal_curve(attrs: TrialAttrs, signal: str) -> list[float] | None:
    """The stored per-epoch series the rule reads for `signal` (EarlyStop.signal)."""
    return attrs.loss_curve if signal == "loss" else attrs.curve


def median_rule(
    earlier: Iterable[Any],
    epoch: int,
    value: float,
    rule: EarlyStop,
    costs: Mapping[str, float] | None = None,
    *,
    baseline: bool = False,
) -> str | None:
    """Why the trial should stop at this 1-based epoch, or None to go on.

    `value` is the trial's own `rule.signal` at the epoch: its validation score, or its mean
    training loss (lower is better, so the rule stops a loss above the median). `earlier` are
    finished trials (FrozenTrial-like: user_attrs with curves and measures); those without a value
    at this epoch, or costlier than this trial in any of `costs` (metric -> this trial's value, for
    the study's cost objectives), are ignored. `baseline`: the trial is of the no-attention
    network, which is never stopped.
    """
    if baseline or epoch <= rule.warmup_epochs:
        return None
    costs = costs or {}
    stored = [stored_attrs(t) for t in earlier]
    curves = [(signal_curve(a, rule.signal), a) for a in stored]
    values = [c[epoch - 1] for c, a in curves if c and len(c) >= epoch and _no_costlier(a, costs)]
    if len(values) < rule.min_trials:
        return None
    median = statistics.median(values)
    loss = rule.signal == "loss"
    if (value <= median + rule.margin) if loss else (value >= median - rule.margin):
        return None
    side = "above" if loss else "below"
    past = f"more than {rule.margin:.2f} {side}" if rule.margin else side
    what = "training loss" if loss else "validation accuracy"
    return f"{what} {value:.4f} at epoch {epoch} is {past} the median {median:.4f} of {len(values)} earlier trials" + (
        " no costlier than it" if costs else ""
    )
