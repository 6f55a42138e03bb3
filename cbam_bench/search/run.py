"""run_search: one worker's loop over a study. Any number of workers may run it on one study.

Each pass: fail the trials of dead workers, stop when the study has its N finished trials, wait
while the trials still running elsewhere would complete it, otherwise take a trial, check that it
holds one of the N slots (slots.py), claim its network (a network another trial holds is stepped
aside and the sampler asked again, dedup.py), evaluate it (trial.py) and record the outcome. A
failing candidate is recorded FAIL with its reason and the study goes on; bad input stops the run.
N is at most the number of candidates the space holds.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial, TrialState

from cbam_bench.errors import CbamBenchError
from cbam_bench.interrupt import Interrupted, signal_of, sigterm_interrupts
from cbam_bench.search.dedup import MAX_REASKS, Candidates, duplicate_reason
from cbam_bench.search.observer import SearchObserver
from cbam_bench.search.preflight import check_latency_device, check_train_device, within_space
from cbam_bench.search.reasons import failure_reason, interrupted_reason
from cbam_bench.search.slots import Counts, Heartbeat, ask, count_trials, fail_stale, holds_slot, release, trial_id
from cbam_bench.search.storage import DEFAULT_STORAGE, HEARTBEAT_S, open_storage, parse_url, redact
from cbam_bench.search.study import make_plan, make_sampler, missing_baseline, open_study
from cbam_bench.search.trainer import Trainer, default_trainer
from cbam_bench.search.trial import TrialContext, claim, evaluate, store
from cbam_bench.space import LatencySetup, Space
from cbam_bench.trial_attrs import TrialAttrs
from cbam_bench.trial_weights import artifacts_folder, check_keep

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

MAX_FAILURES_IN_A_ROW = 10
Outcome = tuple[TrialState, list[float] | None, str | None]  # state, objective values, reason


def _free_accelerator_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _tell(study: optuna.Study, storage: RDBStorage, tid: int, trial: optuna.Trial, outcome: Outcome) -> bool:
    """Record the outcome; False when another worker already failed the trial (it missed heartbeats)."""
    state, values, reason = outcome
    try:
        if state == TrialState.FAIL:
            store(trial, TrialAttrs.measured(fail_reason=reason))
        study.tell(trial, values if state == TrialState.COMPLETE else None, state=state)
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
        if storage.get_trial(tid).state == TrialState.RUNNING:
            raise
        return False
    return True


def _attempt(trial: optuna.Trial, ctx: TrialContext, frozen: FrozenTrial) -> Outcome | FrozenTrial:
    """The trial's outcome, or the other trial that holds its network (then nothing was measured)."""
    try:
        arch, prior = claim(trial, ctx, frozen)
        if prior is not None:
            return prior
        return TrialState.COMPLETE, evaluate(trial, ctx, arch), None
    except optuna.TrialPruned as exc:
        return TrialState.PRUNED, None, str(exc)
    except (KeyboardInterrupt, CbamBenchError):
        raise
    except Exception as exc:  # the candidate's model, measures or training failed: record and go on
        _free_accelerator_memory()
        return TrialState.FAIL, None, failure_reason(exc)


def _interrupted(ctx: TrialContext, storage: RDBStorage, tid: int, trial: optuna.Trial, signum: int) -> Interrupted:
    """Record the running trial as interrupted and queue it again; the Interrupted to raise says so."""
    if _tell(ctx.study, storage, tid, trial, (TrialState.FAIL, None, interrupted_reason(signum))):
        ctx.study.enqueue_trial(trial.params)
        return Interrupted(signum, f"trial {trial.number} recorded as FAIL (interrupted) and queued again")
    return Interrupted(
        signum, f"trial {trial.number} had already been failed by another worker, which queues its retry"
    )


def _interrupt_line(exc: Interrupted) -> str:
    how = "" if exc.signum == signal.SIGINT else f" by {signal.Signals(exc.signum).name}"
    what = exc.recorded or "no trial was running, so nothing was recorded"
    return f"interrupted{how}: {what}; run the same command to resume"


def _stop_or_wait(ctx: TrialContext, counts: Counts, waited_on: Counts | None) -> tuple[bool, Counts | None]:
    """(stop, counts waited on): stop at the target; wait while running trials would reach it."""
    target = ctx.plan.trials
    if counts.finished >= target:
        missing = missing_baseline(ctx.study, ctx.plan.space)
        if missing:
            ctx.observer.note(f"warning: {missing}")
        return True, None
    if counts.finished + counts.running >= target:
        if counts != waited_on:
            ctx.observer.waiting(counts, target)
        return False, counts
    return False, None


def _queue_untried(ctx: TrialContext, candidates: Candidates, counts: Counts) -> bool:
    """Queue a candidate no trial has taken up; False when none is left (then say so if nothing runs)."""
    params = next(candidates.untried(ctx.study), None)
    if params is not None:
        ctx.study.enqueue_trial(params)
        return True
    if not counts.running and not counts.finished:
        raise RuntimeError(
            f"every candidate of the space failed ({counts.failed} trials); the study stops here "
            "(each failed trial has its fail_reason)"
        )
    if not counts.running:
        ctx.observer.note(
            f"every candidate of the space has been tried: {counts.finished} finished of the "
            f"{ctx.plan.trials} asked for, {counts.failed} failed"
        )
    return False


def _step_aside(ctx: TrialContext, storage: RDBStorage, tid: int, trial: optuna.Trial, prior: FrozenTrial) -> None:
    """Record a trial whose network another trial holds as a duplicate: FAIL, with reused_from."""
    store(trial, TrialAttrs(reused_from=prior.number))
    _tell(ctx.study, storage, tid, trial, (TrialState.FAIL, None, duplicate_reason(prior)))


def _work(ctx: TrialContext, storage: RDBStorage, heartbeat_s: int, candidates: Candidates) -> None:
    plan, study, observer = ctx.plan, ctx.study, ctx.observer
    target = plan.trials
    poll_s = min(5.0, float(heartbeat_s))
    failures_in_a_row = duplicates_in_a_row = 0
    waited_on: Counts | None = None
    while True:
        fail_stale(study, storage)
        counts = count_trials(study)
        stop, waited_on = _stop_or_wait(ctx, counts, waited_on)
        if stop:
            return
        if waited_on is not None or (duplicates_in_a_row >= MAX_REASKS and not _queue_untried(ctx, candidates, counts)):
            if waited_on is None and not counts.running:
                return
            time.sleep(poll_s)
            continue
        study.sampler = make_sampler(plan.sampler, plan.space.seed + len(study.get_trials(deepcopy=False)))
        trial = ask(study)
        tid = trial_id(storage, study, trial.number)
        try:
            with Heartbeat(storage, tid, heartbeat_s):
                if not holds_slot(study, trial.number, target):
                    outcome = None
                else:
                    observer.trial_started(trial.number, counts, target)
                    outcome = _attempt(trial, ctx, storage.get_trial(tid))
        except KeyboardInterrupt as exc:
            raise _interrupted(ctx, storage, tid, trial, signal_of(exc)) from None
        except CbamBenchError as exc:
            _tell(study, storage, tid, trial, (TrialState.FAIL, None, failure_reason(exc)))
            raise
        if outcome is None:  # another worker took the last slot first
            release(storage, tid)
            continue
        if isinstance(outcome, FrozenTrial):
            _step_aside(ctx, storage, tid, trial, outcome)
            duplicates_in_a_row += 1
            continue
        duplicates_in_a_row = 0
        state, _, reason = outcome
        if not _tell(study, storage, tid, trial, outcome):
            observer.note(
                f"trial {trial.number} was failed by another worker (no heartbeat for {2 * heartbeat_s} s); "
                "its result is discarded and its retry runs it again"
            )
            continue
        observer.trial_finished(storage.get_trial(tid), count_trials(study), target)
        failures_in_a_row = failures_in_a_row + 1 if state == TrialState.FAIL else 0
        if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
            raise RuntimeError(
                f"{failures_in_a_row} trials in a row failed, the last with {reason!r}; "
                "the study stops here (each failed trial has its fail_reason)"
            )


def run_search(
    space: Space,
    *,
    trials: int | None = None,
    storage: str = DEFAULT_STORAGE,
    study_name: str | None = None,
    epochs: int | None = None,
    seeds: int | None = None,
    sampler: str | None = None,
    early_stop: bool = True,
    device: str | None = None,
    data_dir: str | None = None,
    fused: str | None = None,
    heartbeat_s: int = HEARTBEAT_S,
    trainer: Trainer | None = None,
    observer: SearchObserver | None = None,
    cheap_cache: dict[tuple[str, LatencySetup, str], TrialAttrs] | None = None,
    keep_weights: str = "all",
    artifacts: str | Path | None = None,
) -> optuna.Study:
    """Run or resume the study of `space` until it has `trials` finished trials; returns the study.

    Everything that can be wrong with the input (space, options, dataset, storage URL, a stored
    study with other settings) is checked before anything is written. Ctrl-C or SIGTERM records
    the running trial as FAIL (interrupted), queues it again and raises Interrupted, a
    KeyboardInterrupt; the SIGTERM handler is in place only while the study runs. `cheap_cache`
    ((archid, latency set-up, fused mode) -> cheap measures) may be shared by several runs in one process.
    `keep_weights` 'all' stores each trained trial's weights as an Optuna artifact in `artifacts`
    (default: beside a SQLite database, cbam_bench.trial_weights); 'none' stores none.
    """
    plan = make_plan(
        space,
        study_name=study_name,
        trials=trials,
        epochs=epochs,
        seeds=seeds,
        sampler=sampler,
        early_stop=early_stop,
        device=device,
        data_dir=data_dir,
        fused=fused,
    )
    parse_url(storage)
    check_train_device(plan, device is not None)
    check_latency_device(space)
    weights = artifacts_folder(storage, artifacts) if check_keep(keep_weights) == "all" else None
    trainer = trainer or default_trainer(space.task)
    trainer.dataset_info(plan.train)
    store = open_storage(storage, heartbeat_s)
    study = open_study(store, plan, redact(storage))
    observer = observer or SearchObserver()
    plan = within_space(plan, observer)
    ctx = TrialContext(
        plan=plan,
        trainer=trainer,
        study=study,
        observer=observer,
        cheap={} if cheap_cache is None else cheap_cache,
        weights=weights,
    )
    observer.opened(study, plan, count_trials(study))
    with sigterm_interrupts():
        try:
            _work(ctx, store, heartbeat_s, Candidates(space, trainer, plan.train))
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Interrupted)
            stopped = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
            observer.note(_interrupt_line(stopped))
            raise stopped from None
    return study
