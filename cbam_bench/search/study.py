"""Creating or resuming the Optuna study of a space, and the samplers it may use.

A study remembers what defines its measures (objectives, budgets, backbone, dataset, the searched
parameters, the training recipe, seeds, latency set-up) as study user_attrs; resuming it with
different ones is refused, since its trials would no longer be comparable.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cbam_bench.errors import SpecError, StudyError, allowed, check_int
from cbam_bench.space import MAX_SEEDS, MAX_TRIALS, SAMPLERS, EarlyStop, Space, default_trials
from cbam_bench.storage import check_study_name
from cbam_bench.train_spec import TrainSpec
from cbam_bench.trial_attrs import COST_METRICS

if TYPE_CHECKING:
    import optuna
    from optuna.samplers import BaseSampler
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial

    from cbam_bench.detection.recipe import DetectSpec

NSGA2_POPULATION = 16
# The no-attention network's parameters: the study's baseline, queued as its first trial.
BASELINE = {"attention.kind": "none"}
# TrainSpec fields that say where and how fast a worker trains, not what it learns: workers on
# different machines may differ in them.
_MACHINE_FIELDS = ("data_dir", "device", "precision", "fused")
# Study user_attrs that must match when a study is resumed.
_SETTLED = ("objectives", "budgets", "backbone", "dataset", "params", "train", "seeds", "latency")


@dataclass(frozen=True)
class Plan:
    """What a run does: the space with the command line's overrides applied."""

    space: Space
    study_name: str
    trials: int
    train: TrainSpec | DetectSpec  # the one the space's task takes
    seeds: int
    sampler: str
    early_stop: EarlyStop | None

    @property
    def needs_training(self) -> bool:
        """False when every objective is known before training (e.g. only MACs and latency)."""
        return any(o.metric not in COST_METRICS for o in self.space.objectives)

    @property
    def multi_objective(self) -> bool:
        return len(self.space.objectives) > 1


def make_plan(
    space: Space,
    *,
    study_name: str | None = None,
    trials: int | None = None,
    epochs: int | None = None,
    seeds: int | None = None,
    sampler: str | None = None,
    early_stop: bool = True,
    device: str | None = None,
    data_dir: str | None = None,
    fused: str | None = None,
) -> Plan:
    """Apply overrides; errors name the option."""
    for flag, value, high in (("--trials", trials, MAX_TRIALS), ("--seeds", seeds, MAX_SEEDS)):
        if value is not None:
            check_int(flag, value, 1, high)
    if sampler is not None and sampler not in SAMPLERS:
        raise SpecError("--sampler", f"{sampler!r} is not allowed; allowed: {allowed(SAMPLERS)}")
    changes: dict[str, Any] = {}
    if epochs is not None:
        changes["epochs"] = epochs
    if device is not None:
        changes["device"] = device
    if data_dir is not None:
        changes["data_dir"] = data_dir
    if fused is not None:
        changes["fused"] = fused
    takes = {f.name for f in dataclasses.fields(space.train)}
    for name in changes:
        if name not in takes:
            raise SpecError(
                "--" + name.replace("_", "-"), f"does not apply to a {space.task} space ({space.path}: task)"
            )
    try:
        train = dataclasses.replace(space.train, **changes)
    except SpecError as exc:
        raise exc.rekeyed("--" + exc.key.removeprefix("train.")) from None
    return Plan(
        space=space,
        study_name=space.name if study_name is None else check_study_name(study_name),
        trials=trials or default_trials(space),
        train=train,
        seeds=seeds or space.seeds,
        sampler=sampler or space.sampler,
        early_stop=space.early_stop if early_stop else None,
    )


def settled_attrs(plan: Plan) -> dict[str, Any]:
    """The study user_attrs: the contract's names plus what a resumed run must agree with."""
    space = plan.space
    recipe = {k: v for k, v in plan.train.to_dict().items() if k not in _MACHINE_FIELDS}
    return {
        "objectives": [str(o) for o in space.objectives],
        "budgets": dict(space.budgets),
        "space": space.source,
        "dataset": plan.train.dataset,
        "backbone": space.backbone,
        "params": {k: list(v) for k, v in space.params.items()},
        "train": recipe,
        "seeds": plan.seeds,
        "latency": dataclasses.asdict(space.latency),
        "task": space.task,
    }


def _exhaustive_sampler(seed: int) -> BaseSampler:
    from optuna.samplers import BruteForceSampler

    class Exhaustive(BruteForceSampler):
        """Every candidate of the conditional space once (GridSampler would also enumerate
        combinations of parameters that do not apply). It does not stop the study when done:
        the run counts trials itself, and a revisit is answered from the earlier trial."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return Exhaustive(seed=seed)


def make_sampler(name: str, seed: int) -> BaseSampler:
    """A seeded sampler. The run builds one per trial with seed + the number of trials so far, so a
    resumed study continues the sequence instead of replaying it, and workers seldom collide."""
    import optuna
    from optuna import samplers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            return samplers.TPESampler(seed=seed)
        if name == "nsga2":
            return samplers.NSGAIISampler(seed=seed, population_size=NSGA2_POPULATION)
        if name == "random":
            return samplers.RandomSampler(seed=seed)
        if name == "grid":
            return _exhaustive_sampler(seed)
        if name == "gp":
            return samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    raise SpecError("sampler", f"{name!r} is not allowed; allowed: {allowed(SAMPLERS)}")


def _pruner(plan: Plan) -> optuna.pruners.BasePruner:
    """Optuna's median pruner for one objective; several objectives use our rule (early_stop.py)."""
    from optuna.pruners import MedianPruner, NopPruner

    rule = plan.early_stop
    if rule is None or plan.multi_objective or not plan.needs_training:
        return NopPruner()
    # MedianPruner never prunes before step n_warmup_steps; our rule never stops at or before
    # warmup_epochs (epochs are 1-based steps).
    return MedianPruner(
        n_startup_trials=rule.min_trials, n_warmup_steps=rule.warmup_epochs + 1, n_min_trials=rule.min_trials
    )


def offers_baseline(space: Space) -> bool:
    """Whether the space searches the attention kind and the no-attention network is among its values."""
    kinds = space.params.get("attention.kind", ())
    return len(kinds) > 1 and "none" in kinds


def _enqueue_baseline(study: optuna.Study, plan: Plan) -> None:
    """Make the no-attention network the first trial when the space offers it.

    Every answer a study gives is read against that baseline (compare's deltas, the cheap end of
    the front), so it should not be left to the sampler's luck. The grid sampler visits it anyway.
    """
    if plan.sampler != "grid" and offers_baseline(plan.space):
        study.enqueue_trial(BASELINE, skip_if_exists=True)


def is_baseline(trial: FrozenTrial) -> bool:
    """Whether a trial is of the no-attention network: sampled or run as it, or queued as it (a queued
    trial has its parameters in the `fixed_params` system attr until a worker takes it)."""
    return BASELINE in (trial.params, trial.system_attrs.get("fixed_params"))


def missing_baseline(study: optuna.Study, space: Space) -> str | None:
    """Why a study whose space offers the no-attention baseline has no complete trial of it; None if it has one."""
    from optuna.trial import TrialState

    if not offers_baseline(space):
        return None
    runs = [t for t in study.get_trials(deepcopy=False) if is_baseline(t)]
    if any(t.state == TrialState.COMPLETE for t in runs):
        return None
    last = runs[-1] if runs else None
    if last is None:
        why = "it was never sampled"
    elif last.state in (TrialState.RUNNING, TrialState.WAITING):
        why = f"trial {last.number} is still {last.state.name}"
    else:
        detail = last.user_attrs.get("fail_reason") or last.user_attrs.get("stopped_reason") or "no reason recorded"
        why = f"trial {last.number} ended {last.state.name}: {detail}"
    return f"study {study.study_name!r} has no no-attention baseline ({why}); compare has nothing to measure against"


def open_study(storage: RDBStorage, plan: Plan, storage_label: str) -> optuna.Study:
    """Resume the plan's study, or create it with its metric names and settled attributes."""
    import optuna

    directions = ["maximize" if o.direction == "max" else "minimize" for o in plan.space.objectives]
    sampler = make_sampler(plan.sampler, plan.space.seed)
    try:
        study = optuna.load_study(study_name=plan.study_name, storage=storage, sampler=sampler, pruner=_pruner(plan))
    except KeyError:
        study = optuna.create_study(
            storage=storage,
            study_name=plan.study_name,
            directions=directions,
            sampler=sampler,
            pruner=_pruner(plan),
            load_if_exists=True,
        )
    wanted = settled_attrs(plan)
    stored = study.user_attrs
    if "objectives" not in stored:
        # New, or being set up by another worker right now: write the same values. `objectives`
        # goes last, so a worker that sees it sees every other attribute too.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([o.metric for o in plan.space.objectives])
        _enqueue_baseline(study, plan)
        for key, value in sorted(wanted.items(), key=lambda item: item[0] == "objectives"):
            study.set_user_attr(key, value)
        return study
    for key in _SETTLED:
        if stored.get(key) != wanted[key]:
            shown = (
                "the searched parameters"
                if key == "params"
                else f"{key}: stored {stored.get(key)!r}, now {wanted[key]!r}"
            )
            raise StudyError(
                f"study {plan.study_name!r} in {storage_label} was created with different settings ({shown}); "
                "resume it with the same space and options, or start another with --study NEW_NAME"
            )
    if [d.name.lower() for d in study.directions] != directions:
        raise StudyError(
            f"study {plan.study_name!r} in {storage_label} has directions that do not match its objectives"
        )
    return study
