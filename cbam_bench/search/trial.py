"""One trial: sample a candidate, fit it to the data, claim its network, then rule it out or measure
and train it.

Every measure goes to the trial's user_attrs through the stored record (trial_attrs.TrialAttrs), so
reports never re-run anything. Cheap measures (params, MACs, element-wise ops, latency) come first and are
cached by archid in this process; a candidate over a budget is recorded as infeasible (constraints
> 0, accuracy 0) and never trained; a network that another trial holds is not measured at all
(dedup.py: the run steps the trial aside and asks again).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial

from cbam_bench.search.dedup import holder
from cbam_bench.search.early_stop import median_rule
from cbam_bench.search.measures import environment
from cbam_bench.search.slots import FINISHED
from cbam_bench.search.study import Plan
from cbam_bench.search.tasks import STEPS
from cbam_bench.search.trainer import Trainer
from cbam_bench.space import LatencySetup, suggest_arch
from cbam_bench.spec import ArchSpec
from cbam_bench.trial_attrs import COST_METRICS, TrialAttrs

if TYPE_CHECKING:
    from cbam_bench.search.observer import SearchObserver


@dataclass
class TrialContext:
    """What every trial of one run shares; `cheap` caches cheap measures by archid, latency set-up and
    fused mode; `weights` is the artifact folder trained weights go to (None: --keep-weights none)."""

    plan: Plan
    trainer: Trainer
    study: optuna.Study
    observer: SearchObserver
    cheap: dict[tuple[str, LatencySetup, str], TrialAttrs] = field(default_factory=dict)
    weights: Path | None = None
    weights_noted: bool = False


def store(trial: optuna.Trial, attrs: TrialAttrs) -> None:
    """Write every key the record stores to the running trial."""
    for key, value in attrs.to_user_attrs().items():
        trial.set_user_attr(key, value)


@dataclass
class Curves:
    """The first seed's per-epoch record: validation scores and mean training losses, the two
    signals early stopping can compare (EarlyStop.signal) and the audit replays."""

    scores: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def attrs(self) -> TrialAttrs:
        return TrialAttrs(curve=list(self.scores), loss_curve=list(self.losses))


def _values(ctx: TrialContext, measures: TrialAttrs) -> list[float]:
    return [float(getattr(measures, o.metric)) for o in ctx.plan.space.objectives]


def _epoch_callback(
    trial: optuna.Trial, ctx: TrialContext, seed_index: int, curves: Curves, costs: dict[str, float], arch: ArchSpec
) -> Callable[[Any], None]:
    """Progress for every epoch; early stopping on the first seed (Optuna's pruner for one
    objective, the median rule for several)."""
    plan = ctx.plan
    baseline = arch.attention.kind == "none"
    epochs = plan.train.epochs
    metric = plan.space.objectives[0].metric
    steps = STEPS[plan.space.task]
    score = steps.score

    def on_epoch(report: Any) -> None:
        primary = score(report, "")  # the task's primary score: top-1, or mAP@[.5:.95]
        ctx.observer.epoch(trial.number, seed_index, report.epoch, epochs, primary)
        if seed_index:
            return
        curves.scores.append(primary)
        curves.losses.append(steps.loss(report))
        if not plan.multi_objective:  # Optuna's pruner, and the dashboard, read reported values
            trial.report(score(report, metric), report.epoch)
        if plan.early_stop is None or report.epoch >= epochs:
            return
        if plan.multi_objective:
            earlier = ctx.study.get_trials(deepcopy=False, states=FINISHED)
            value = curves.losses[-1] if plan.early_stop.signal == "loss" else primary
            reason = median_rule(earlier, report.epoch, value, plan.early_stop, costs, baseline=baseline)
        else:
            reason = f"Optuna's median pruner stopped it at epoch {report.epoch}" if trial.should_prune() else None
        if reason:
            store(trial, curves.attrs() | TrialAttrs(stopped_at_epoch=report.epoch, stopped_reason=reason))
            raise optuna.TrialPruned(reason)

    return on_epoch


def _budget_check(trial: optuna.Trial, ctx: TrialContext, cheap: TrialAttrs) -> bool:
    """Record constraints (measure - budget; <= 0 within) on the trial; True when all are met."""
    constraints = []
    for metric, limit in ctx.plan.space.budgets.items():
        value = float(getattr(cheap, metric)) - limit
        constraints.append(value)
        if metric not in trial.constraints:  # a retried trial carries its constraints over
            trial.set_constraint(metric, value)
    feasible = all(c <= 0 for c in constraints)
    store(trial, TrialAttrs(constraints=constraints, feasible=feasible))
    return feasible


def _keep_weights(trial: optuna.Trial, ctx: TrialContext, arch: ArchSpec, first: Any) -> TrialAttrs:
    """Upload the first seed's weights as the trial's artifact; its size is told once per run."""
    state = getattr(first, "state", None)
    if ctx.weights is None or state is None:
        return TrialAttrs()
    from cbam_bench.trial_weights import open_store, upload_weights

    artifact, size = upload_weights(trial, open_store(ctx.weights, create=True), state, arch, ctx.plan.train)
    if not ctx.weights_noted:
        ctx.observer.note(f"weights: {size / 1e6:.2f} MB per trial ({arch.attention.summary()}), kept in {ctx.weights}")
        ctx.weights_noted = True
    return TrialAttrs(weights_artifact=artifact, weights_bytes=size)


def claim(trial: optuna.Trial, ctx: TrialContext, frozen: FrozenTrial) -> tuple[ArchSpec, FrozenTrial | None]:
    """Sample and store the trial's network, then look for another trial that holds it (stored
    first, looked for second, so two trials drawing one network at once cannot both miss each other).
    `frozen` is the trial as stored when taken (it says whether its parameters were queued)."""
    plan = ctx.plan
    arch: ArchSpec = ctx.trainer.fit_arch(suggest_arch(trial, plan.space), plan.train)
    store(
        trial, TrialAttrs(archid=arch.archid, arch=arch.to_dict(), summary=arch.attention.summary(), seeds=plan.seeds)
    )
    return arch, holder(ctx.study, frozen, arch.archid)


def evaluate(trial: optuna.Trial, ctx: TrialContext, arch: ArchSpec) -> list[float]:
    """The objective values of the trial's claimed network; raises optuna.TrialPruned when stopped
    early, and whatever the candidate's model or training raises when it fails (the run records
    that as FAIL)."""
    plan = ctx.plan
    steps = STEPS[plan.space.task]
    fused = getattr(plan.train, "fused", "auto")
    key = (arch.archid, plan.space.latency, fused)
    if key not in ctx.cheap:
        ctx.cheap[key] = steps.cheap(arch, plan.space.latency, fused)
    cheap = ctx.cheap[key]
    store(trial, cheap | TrialAttrs(env=environment(plan.train)))
    if not _budget_check(trial, ctx, cheap):
        untrained = steps.untrained
        store(trial, untrained)
        return _values(ctx, cheap | untrained)
    if not plan.needs_training:
        return _values(ctx, cheap)
    curves = Curves()
    costs = {
        o.metric: float(getattr(cheap, o.metric))
        for o in plan.space.objectives
        if o.direction == "min" and o.metric in COST_METRICS
    }
    results = []
    for k in range(plan.seeds):
        spec = dataclasses.replace(plan.train, seed=plan.train.seed + k)
        results.append(ctx.trainer.train(arch, spec, on_epoch=_epoch_callback(trial, ctx, k, curves, costs, arch)))
    trained = steps.fold(results) | _keep_weights(trial, ctx, arch, results[0])
    store(trial, trained | curves.attrs())
    return _values(ctx, cheap | trained)
