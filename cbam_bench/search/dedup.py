"""Every trial a new network: a proposal of a network that another trial holds is never trained.

A network is held by a trial of it that is finished (complete or pruned) or running, and, for a
fresh proposal of the sampler, also by one that failed (a candidate that failed is not trained
again on the sampler's word; a queued retry of it, after a lost worker or an interrupt, is). A trial
stores its archid first and then looks for another holder, so of two workers that draw the same
network at once at least one sees the other (both may step aside; neither trains it twice). A
trial that steps aside is recorded FAIL with `reused_from` (status "duplicate"): it frees its slot
and counts toward nothing. The run then asks the sampler again; after MAX_REASKS duplicates in a
row it queues an untried candidate of the space instead (spaces are enumerable), so `--trials N`
means N distinct networks, and a space with fewer candidates stops when all are done.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from optuna.trial import TrialState

from cbam_bench.search.finished import stored_attrs
from cbam_bench.space import Space, iter_candidates, suggest_arch

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from cbam_bench.search.trainer import Trainer
    from cbam_bench.train_spec import TrainSpec

MAX_REASKS = 3
HOLDERS = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
_PREFERENCE = {TrialState.COMPLETE: 0, TrialState.PRUNED: 0, TrialState.RUNNING: 1, TrialState.FAIL: 2}


def queued(trial: FrozenTrial) -> bool:
    """Whether a trial's parameters came from the queue (enqueued, or a retry copy), not the sampler."""
    return "fixed_params" in trial.system_attrs or "failed_trial" in trial.system_attrs


def holder(study: optuna.Study, trial: FrozenTrial, archid: str) -> FrozenTrial | None:
    """Another trial that holds this network, if any: finished ones first, then running, then failed."""
    states = HOLDERS if queued(trial) else (*HOLDERS, TrialState.FAIL)
    others = [
        t for t in study.get_trials(deepcopy=False, states=states) if t.number != trial.number and not is_duplicate(t)
    ]
    others.sort(key=lambda t: (_PREFERENCE[t.state], t.number))
    return next((t for t in others if stored_attrs(t).archid == archid), None)


def duplicate_reason(prior: FrozenTrial) -> str:
    """The fail_reason of a trial that stepped aside for `prior`."""
    how = {TrialState.RUNNING: "running", TrialState.FAIL: "failed"}.get(prior.state, "finished")
    return f"duplicate: the same network as trial {prior.number} ({how}); not trained, the sampler was asked again"


def is_duplicate(trial: FrozenTrial) -> bool:
    """Whether a trial stepped aside for another trial of its network (it never measured anything)."""
    return trial.state == TrialState.FAIL and stored_attrs(trial).reused_from is not None


class _Fixed:
    """A stand-in trial that answers with one candidate's parameters."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return self.params[name]


class Candidates:
    """The space's candidates with their archids, computed once per run, on first need."""

    def __init__(self, space: Space, trainer: Trainer, train: TrainSpec) -> None:
        self._space, self._trainer, self._train = space, trainer, train
        self._known: list[tuple[dict[str, Any], str]] | None = None

    def _all(self) -> list[tuple[dict[str, Any], str]]:
        if self._known is None:
            fit = self._trainer.fit_arch
            self._known = [
                (p, fit(suggest_arch(_Fixed(p), self._space), self._train).archid) for p in iter_candidates(self._space)
            ]
        return self._known

    def untried(self, study: optuna.Study) -> Iterator[dict[str, Any]]:
        """Candidates no trial has taken up: not measured, running, failed or queued (duplicates aside)."""
        seen: set[str] = set()
        queued: list[dict[str, Any]] = []
        for t in study.get_trials(deepcopy=False):
            if is_duplicate(t):
                continue
            archid = stored_attrs(t).archid
            if archid is not None:
                seen.add(archid)
            elif t.state == TrialState.WAITING:
                queued.append(t.system_attrs.get("fixed_params", t.params))
        for params, archid in self._all():
            if archid not in seen and params not in queued:
                yield params
