"""Trials whose worker died: the reason they are failed with, and whether they are queued again.

A running trial silent for longer than the storage's grace period is failed by whichever worker
looks next (slots.fail_stale), with a `fail_reason` like every other failed trial, and a copy of it
is queued (WAITING, same parameters) with Optuna's retry bookkeeping: the system attrs
`failed_trial` (the first trial of the series) and `retry_history` (every earlier trial of it), as
optuna.storages.RetryHeartbeatStaleTrialCallback writes them. A trial is queued again at most
MAX_RETRIES times, so one that kills its worker every time cannot hold a study up for ever; the
no-attention baseline is the exception, queued again until it finishes, because every comparison a
study makes is read against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cbam_bench.search.study import is_baseline

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

MAX_RETRIES = 2


def retry_history(trial: FrozenTrial) -> list[int]:
    """The numbers of the earlier trials of this trial's retry series, oldest first ([] for an original)."""
    return list(trial.system_attrs.get("retry_history", []))


def queued_again(trial: FrozenTrial) -> bool:
    """Whether a trial that lost its worker gets another run: the baseline always, others MAX_RETRIES times."""
    return is_baseline(trial) or len(retry_history(trial)) < MAX_RETRIES


def stale_reason(trial: FrozenTrial, silent_s: float) -> str:
    """The fail_reason of a trial whose heartbeat went stale, saying whether it runs again."""
    head = f"heartbeat stale: no heartbeat for over {silent_s:g} s (its worker was killed or lost)"
    if not queued_again(trial):
        return f"{head}; not queued again: it already ran {MAX_RETRIES + 1} times"
    if is_baseline(trial) and len(retry_history(trial)) >= MAX_RETRIES:
        return f"{head}; queued again (the no-attention baseline is retried until it finishes)"
    return f"{head}; queued again"


class RetryStaleTrial:
    """The storage's heartbeat-stale callback: queue a copy of the failed trial when queued_again says so.

    The copy keeps the trial's parameters and user_attrs, except its fail_reason, which belongs to the
    failed run only.
    """

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        import optuna
        from optuna.trial import TrialState

        if not queued_again(trial):
            return
        history = [*retry_history(trial), trial.number]
        system_attrs: dict[str, Any] = {**trial.system_attrs, "failed_trial": history[0], "retry_history": history}
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING,
                params=trial.params,
                distributions=trial.distributions,
                user_attrs={k: v for k, v in trial.user_attrs.items() if k != "fail_reason"},
                system_attrs=system_attrs,
            )
        )
