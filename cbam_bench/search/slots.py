"""Exactly N finished trials, however many workers share a study.

A worker first creates its trial (study.ask, which also hands out queued trials, oldest first),
then checks that the trial holds one of the N slots: fewer than N live trials (complete, pruned,
running or queued) have a smaller number. Trial numbers are handed out under a lock on the
study's row, so every trial with a smaller number is visible by then, and a live trial only ever
leaves the live set by failing; so at most N trials ever pass the check and finish, and a trial
that does not pass goes back to the queue (WAITING) for a later, larger run. Failed trials free
their slot, which the next worker to look takes.

Heartbeats: storage.record_heartbeat while a trial runs; fail_stale() fails trials whose worker
went silent, with their fail_reason, and queues their retry (retries.py).
"""

from __future__ import annotations

import threading
import warnings
from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from cbam_bench.search.dedup import is_duplicate
from cbam_bench.search.finished import stored_attrs
from cbam_bench.search.retries import stale_reason

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


@dataclass(frozen=True)
class Counts:
    """Trials of a study by outcome. `complete` is every COMPLETE trial; `infeasible` (over a budget,
    not trained) and `reused` (a network met again, measures copied) are the parts of it that are
    not on any front. `duplicates` are FAIL trials that stepped aside for another trial of their
    network (dedup.py); `failed` does not count them."""

    complete: int
    infeasible: int
    reused: int
    pruned: int
    failed: int
    running: int
    waiting: int
    duplicates: int = 0

    @property
    def finished(self) -> int:
        """What --trials counts: complete (feasible or not) and pruned."""
        return self.complete + self.pruned

    def to_dict(self) -> dict[str, int]:
        return {
            "finished": self.finished,
            "complete": self.complete,
            "infeasible": self.infeasible,
            "reused": self.reused,
            "pruned": self.pruned,
            "failed": self.failed,
            "running": self.running,
            "waiting": self.waiting,
            "duplicates": self.duplicates,
        }


def count_trials(study: optuna.Study) -> Counts:
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state for t in trials)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    stored = [stored_attrs(t) for t in done]
    infeasible = sum(1 for a in stored if a.feasible is False)
    reused = sum(1 for a in stored if a.reused_from is not None and a.feasible is not False)
    duplicates = sum(1 for t in trials if is_duplicate(t))
    return Counts(
        complete=states[TrialState.COMPLETE],
        infeasible=infeasible,
        reused=reused,
        pruned=states[TrialState.PRUNED],
        failed=states[TrialState.FAIL] - duplicates,
        running=states[TrialState.RUNNING],
        waiting=states[TrialState.WAITING],
        duplicates=duplicates,
    )


def holds_slot(study: optuna.Study, number: int, target: int) -> bool:
    """Whether trial `number` (just asked for) is among the first `target` live trials."""
    ahead = sum(1 for t in study.get_trials(deepcopy=False, states=LIVE) if t.number < number)
    return ahead < target


def trial_id(storage: RDBStorage, study: optuna.Study, number: int) -> int:
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)


def release(storage: RDBStorage, trial: int) -> None:
    """Put a trial that holds no slot back in the queue, where a later run picks it up first."""
    storage.set_trial_state_values(trial, TrialState.WAITING)


def fail_stale(study: optuna.Study, storage: RDBStorage) -> None:
    """Fail the running trials of workers that stopped sending heartbeats, each with its fail_reason,
    and queue their retry through the storage's heartbeat-stale callback.

    optuna.storages.fail_stale_trials does the same but fails a trial before anything can be written
    on it, so it would carry no reason; this asks the storage for the same stale trials and writes
    the reason while the trial still runs. (A worker that comes back to life in that instant and
    completes its trial keeps the reason on a complete trial, where report shows it as a note.)
    """
    silent_s = storage.grace_period or 2 * (storage.get_heartbeat_interval() or 0)
    callback = storage.get_heartbeat_stale_trial_callback()
    study_id = storage.get_study_id_from_name(study.study_name)
    for tid in storage._get_stale_trial_ids(study_id):  # BaseHeartbeat's query, as fail_stale_trials uses it
        try:
            storage.set_trial_user_attr(tid, "fail_reason", stale_reason(storage.get_trial(tid), silent_s))
            failed = storage.set_trial_state_values(tid, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker failed it first
        if failed and callback is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                callback(study, storage.get_trial(tid))


def ask(study: optuna.Study) -> optuna.Trial:
    """study.ask() without its warning that heartbeats are meant for study.optimize (we send them)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        return study.ask()


class Heartbeat:
    """Records a trial's heartbeat now and then every `interval_s` seconds until the block ends."""

    def __init__(self, storage: RDBStorage, trial: int, interval_s: float) -> None:
        self._storage = storage
        self._trial = trial
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{trial}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._storage.record_heartbeat(self._trial)

    def __enter__(self) -> Heartbeat:
        self._storage.record_heartbeat(self._trial)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
