"""run_confirm: retrain a study's best front members and its baseline longer, with seeds.

The work is one trial per (member, seed) in the study NAME-confirm (why a second study:
cbam_bench/confirmation.py). A worker takes a queued retry first, else the first (member, seed)
no trial holds, stores it as the trial's parameters, then steps aside if another running or
complete trial holds the same pair (as dedup.py does for networks). So a rerun after a kill
trains only what is missing, and several workers split the pairs.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from cbam_bench.confirmation import Confirmation, confirm_name, members, read
from cbam_bench.errors import SpecError, StudyError, check_int
from cbam_bench.interrupt import Interrupted, signal_of
from cbam_bench.records import records_from_study
from cbam_bench.search.observer import SearchObserver
from cbam_bench.search.reasons import failure_reason
from cbam_bench.search.slots import Heartbeat, ask, fail_stale, trial_id
from cbam_bench.search.storage import HEARTBEAT_S, open_storage
from cbam_bench.search.tasks import STEPS
from cbam_bench.search.trainer import Trainer, default_trainer
from cbam_bench.search.trial import store
from cbam_bench.space.model import CONFIRM_EPOCH_FACTOR, MAX_SEEDS, MAX_TOP, ConfirmSetup
from cbam_bench.space.task import TRAIN_SPECS
from cbam_bench.spec import MAX_EPOCHS, ArchSpec
from cbam_bench.train_spec import TrainSpec
from cbam_bench.trial_attrs import TrialAttrs

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

    from cbam_bench.detection.recipe import DetectSpec

Job = tuple[int, int]  # (member's trial number, seed index)


def plan_fidelity(study: optuna.Study, epochs: int | None, seeds: int | None) -> tuple[int, int]:
    """Epochs and seeds: the options, else the space file's `confirm:`, else 4x the search's epochs and 3 seeds."""
    source = study.user_attrs.get("space")
    given = source.get("confirm") if isinstance(source, dict) else None
    given = given if isinstance(given, dict) else {}
    searched = int((study.user_attrs.get("train") or {}).get("epochs", 1))
    return (
        epochs or given.get("epochs") or CONFIRM_EPOCH_FACTOR * searched,
        seeds or given.get("seeds") or ConfirmSetup.seeds,
    )


def _open(rdb: RDBStorage, name: str, train: TrainSpec | DetectSpec, seeds: int) -> optuna.Study:
    """Create or resume NAME-confirm; a stored one with another recipe or seed count is refused."""
    study = optuna.create_study(
        storage=rdb,
        study_name=confirm_name(name),
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(),
        load_if_exists=True,
    )
    wanted = {
        "confirms": name,
        "train": {k: v for k, v in train.to_dict().items() if k not in ("device", "data_dir")},
        "seeds": seeds,
    }
    if "confirms" not in study.user_attrs:
        for key, value in wanted.items():
            study.set_user_attr(key, value)
    for key, value in wanted.items():
        if study.user_attrs.get(key) != value:
            raise StudyError(
                f"study {study.study_name!r} was confirmed with other settings ({key}: stored "
                f"{study.user_attrs.get(key)!r}); use the same --epochs and --seeds, or delete that study"
            )
    return study


def _job_of(trial: optuna.trial.FrozenTrial) -> Job | None:
    p = trial.params
    return (p["confirms"], p["seed"]) if "confirms" in p and "seed" in p else None


def _holders(study: optuna.Study, but: int = -1) -> set[Job]:
    held = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
    return {j for t in held if t.number != but and (j := _job_of(t)) is not None}


def _run_one(ctx: dict[str, Any], trial: optuna.Trial, job: Job) -> None:
    """Train one member with one seed and tell the trial (stepping aside when another holds the job)."""
    study, member = ctx["study"], ctx["members"][job[0]]
    number, seed = (trial.suggest_int(k, v, v) for k, v in (("confirms", job[0]), ("seed", job[1])))
    if (number, seed) in _holders(study, but=trial.number):
        store(trial, TrialAttrs(fail_reason=f"duplicate: another trial confirms trial {number} with seed {seed}"))
        study.tell(trial, state=TrialState.FAIL)
        return
    arch = ArchSpec.from_dict(member.arch)
    store(trial, TrialAttrs(archid=arch.archid, arch=arch.to_dict(), summary=member.summary, seeds=1))
    spec = dataclasses.replace(ctx["train"], seed=ctx["train"].seed + seed)
    trained = STEPS[ctx["task"]].fold([ctx["trainer"].train(arch, spec)])
    store(trial, trained)
    value = getattr(trained, ctx["metric"])
    study.tell(trial, value)
    ctx["observer"].note(f"confirm trial {number} ({member.summary}) seed {seed}: {ctx['metric']} {100 * value:.2f} %")


def _work(ctx: dict[str, Any], rdb: RDBStorage, heartbeat_s: int) -> None:
    study: optuna.Study = ctx["study"]
    jobs = [(n, s) for n in ctx["members"] for s in range(ctx["seeds"])]
    while True:
        fail_stale(study, rdb)
        done = {_job_of(t) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
        held = _holders(study)
        free = [j for j in jobs if j not in held]
        queued = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if all(j in done for j in jobs):
            return
        if not free and not queued:
            time.sleep(min(5.0, float(heartbeat_s)))  # the rest is running in other workers
            continue
        trial = ask(study)
        tid = trial_id(rdb, study, trial.number)
        job = _job_of(rdb.get_trial(tid)) or (free[0] if free else None)
        if job is None or job[0] not in ctx["members"]:
            study.tell(trial, state=TrialState.FAIL)  # a retry of a pair this run no longer plans
            continue
        try:
            with Heartbeat(rdb, tid, heartbeat_s):
                _run_one(ctx, trial, job)
        except KeyboardInterrupt as exc:
            store(trial, TrialAttrs(fail_reason="interrupted; a rerun trains it again"))
            study.tell(trial, state=TrialState.FAIL)
            stopped = Interrupted(signal_of(exc), f"confirmation of trial {job[0]} seed {job[1]} recorded as FAIL")
            ctx["observer"].note(f"interrupted: {stopped.recorded}; run the same command to resume")
            raise stopped from None
        except Exception as exc:  # recorded, so the pair is free for a rerun, then reported
            store(trial, TrialAttrs(fail_reason=failure_reason(exc)))
            study.tell(trial, state=TrialState.FAIL)
            raise


def run_confirm(
    storage: str,
    name: str,
    *,
    top: int = 3,
    epochs: int | None = None,
    seeds: int | None = None,
    device: str | None = None,
    data_dir: str | None = None,
    heartbeat_s: int = HEARTBEAT_S,
    trainer: Trainer | None = None,
    observer: SearchObserver | None = None,
) -> Confirmation:
    """Confirm study `name`: its `top` best front members by the first objective and the baseline,
    each trained `seeds` times for `epochs` epochs; resumes what a killed run left."""
    from cbam_bench.storage import load_study

    check_int("--top", top, 1, MAX_TOP)
    for flag, value, high in (("--epochs", epochs, MAX_EPOCHS), ("--seeds", seeds, MAX_SEEDS)):
        if value is not None:
            check_int(flag, value, 1, high)
    load_study(storage, name)  # a StudyError naming the studies there when it is missing
    rdb = open_storage(storage, heartbeat_s)
    original = optuna.load_study(study_name=name, storage=rdb)
    records = records_from_study(original)
    chosen = members(records, top)
    epochs, seeds = plan_fidelity(original, epochs, seeds)
    changes = {k: v for k, v in (("epochs", epochs), ("device", device), ("data_dir", data_dir)) if v is not None}
    if records.task == "detection" and data_dir is not None:
        raise SpecError("--data-dir", f"does not apply to study {name!r}, a detection study")
    recipe = {**(original.user_attrs.get("train") or {}), **changes}
    train = TrainSpec.from_dict(recipe) if records.task != "detection" else TRAIN_SPECS[records.task](**recipe)
    study = _open(rdb, name, train, seeds)
    study.set_user_attr("members", [t.number for t in chosen])  # the order report shows them in
    ctx = {
        "study": study,
        "members": {t.number: t for t in chosen},
        "seeds": seeds,
        "train": train,
        "trainer": trainer or default_trainer(records.task),
        "task": records.task,
        "metric": records.objectives[0].metric,
        "observer": observer or SearchObserver(),
    }
    ctx["observer"].note(
        f"confirming {len(chosen)} trial(s) of {name!r}: {epochs} epochs x {seeds} seed(s), into {study.study_name!r}"
    )
    _work(ctx, rdb, heartbeat_s)
    return read(records, records_from_study(study), seeds=seeds, chosen=chosen)
