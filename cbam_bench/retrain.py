"""A stored trial's candidate, to be trained again: for longer, or on another dataset.

A search trains each candidate briefly, so its ranking is a short-run estimate; confirming a front
member means training the same network under a full recipe and seeing whether the accuracy holds.
The network (the trial's `arch`), the recipe it was trained with (the study's `train`) and what it
scored come from storage through cbam_bench.records, read-only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cbam_bench.compare import parse_target
from cbam_bench.errors import SpecError, StudyError
from cbam_bench.records import StudyRecords, TrialRecord, load_records
from cbam_bench.spec import ArchSpec
from cbam_bench.storage import redact
from cbam_bench.train_spec import TrainSpec
from cbam_bench.trial_attrs import COST_METRICS

OPTION = "--from-trial"
# TrainSpec fields that mean something only for one dataset (its image size and split sizes): a
# recipe moved to another dataset takes that dataset's own values unless they are given again.
DATASET_FIELDS = ("image_size", "train_images", "val_images")


@dataclass(frozen=True)
class StoredTrial:
    """The trial to retrain and what the study knows of it.

    `trial` is the trial whose network and scores these are; `requested` the number the user
    named, which differs when that trial reused an earlier one's measures (the same network).
    `accuracy` is the stored validation top-1: the mean over `seeds` for a trained trial, the last
    epoch's for an early-stopped one, None for one never trained.
    """

    study: str
    trial: int
    requested: int
    storage: str
    status: str
    record: TrialRecord
    arch: ArchSpec
    recipe: TrainSpec
    dataset: str
    accuracy: float | None
    epochs: int | None
    seeds: int | None
    notes: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.study}:{self.trial}"

    @property
    def archid(self) -> str:
        return self.record.attrs.archid or self.arch.archid

    def measure(self, name: str) -> float | None:
        """A measure stored on the trial. Cost (params, MACs, ...) is measured before training;
        the rest only counts for a trained trial (an over-budget one stores 0 placeholders)."""
        if name not in COST_METRICS and self.status not in ("complete", "reused"):
            return None
        return self.record.measure(name)

    def recipe_on(self, dataset: str | None) -> TrainSpec:
        """The study's recipe, moved to `dataset` when one is given: another dataset drops the
        old one's image size and split sizes (they would mean something else there)."""
        if dataset is None or dataset == self.recipe.dataset:
            return self.recipe
        return dataclasses.replace(self.recipe, dataset=dataset, **dict.fromkeys(DATASET_FIELDS))

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "trial": self.trial,
            "requested": self.requested,
            "storage": self.storage,
            "status": self.status,
            "stored_accuracy": self.accuracy,
            "stored_epochs": self.epochs,
            "stored_seeds": self.seeds,
            "stored_archid": self.archid,
            "stored_dataset": self.dataset,
            "notes": list(self.notes),
        }


def parse_ref(text: str) -> tuple[str, int]:
    """'STUDY:N' -> (STUDY, N), or a StudyError saying what is allowed."""
    study, number = parse_target(text)
    if number is None:
        raise StudyError(f"{OPTION}: {text!r} is not allowed; allowed: STUDY:N, a stored trial such as default:12")
    return study, number


def _recipe(study: StudyRecords) -> tuple[TrainSpec, str | None]:
    """The study's stored recipe; the defaults on its dataset (with a note) when it stores none."""
    if study.task != "classification":
        raise StudyError(
            f"{OPTION}: study {study.name!r} is a {study.task} study; train retrains classifiers, "
            "so retrain its trial with `cbam-bench detect` and the trial's attention options"
        )
    try:
        if study.train is not None:
            return TrainSpec.from_dict(study.train), None
        spec = TrainSpec() if study.dataset is None else TrainSpec(dataset=study.dataset)
    except SpecError as exc:
        raise StudyError(
            f"{OPTION}: study {study.name!r} stores a training recipe this version cannot read ({exc})"
        ) from None
    return spec, f"study {study.name!r} stores no training recipe; using the defaults on {spec.dataset}"


def _over_budget(study: StudyRecords, trial: TrialRecord) -> str:
    constraints = trial.attrs.constraints or []
    over = [metric for metric, c in zip(study.budgets, constraints) if isinstance(c, (int, float)) and c > 0]
    return ", ".join(over) if over else "its budgets"


def _status_note(study: StudyRecords, trial: TrialRecord) -> str | None:
    """Why retraining this trial is unusual (it is still allowed), or None for a complete one."""
    ref = f"{study.name}:{trial.number}"
    if trial.status == "pruned":
        when = trial.attrs.stopped_at_epoch
        why = trial.attrs.stopped_reason
        return (
            f"{ref} was pruned"
            + (f" at epoch {when}" if when else "")
            + (f" ({why})" if why else "")
            + "; retraining it anyway"
        )
    if trial.status == "infeasible":
        return f"{ref} is over the study's budget on {_over_budget(study, trial)} and was never trained; retraining it anyway"
    if trial.status == "failed":
        reason = " ".join((trial.attrs.fail_reason or "no reason stored").split())
        return f"{ref} failed ({reason}); retraining it anyway"
    if trial.status == "running":
        return f"{ref} has not finished (state {trial.state}); retraining it anyway"
    return None


def _stored_score(
    trial: TrialRecord, recipe: TrainSpec, recipe_stored: bool
) -> tuple[float | None, int | None, int | None]:
    """(validation top-1, epochs, seeds) the study recorded for the trial; None where it has none."""
    if trial.status in ("complete", "reused"):
        epochs = trial.attrs.epochs
        if epochs is None and recipe_stored:
            epochs = recipe.epochs
        return trial.measure("accuracy"), epochs, trial.attrs.seeds
    curve = trial.attrs.curve
    if trial.status == "pruned" and curve and isinstance(curve[-1], (int, float)):
        return float(curve[-1]), len(curve), 1  # early stopping watches the first seed only
    return None, None, None


def _resolve(study: StudyRecords, named: TrialRecord) -> tuple[TrialRecord, str | None]:
    """A reused trial stands for its original (the same network, measured there)."""
    source = named.reused_from
    if source is None:
        return named, None
    original = study.trial(source)
    if original is None:
        return (
            named,
            f"{study.name}:{named.number} reused the measures of trial {source}, which is no longer stored; using its own copy",
        )
    return original, (
        f"{study.name}:{named.number} reused the measures of trial {source} (the same network); "
        f"retraining {study.name}:{source}"
    )


def stored_trial(storage: str, text: str) -> StoredTrial:
    """The trial `text` (STUDY:N) names in `storage`, resolved and checked; StudyError for bad input."""
    name, number = parse_ref(text)
    study = load_records(storage, name)  # an unknown study: StudyError listing those there
    named = study.trial(number)
    if named is None:
        numbers = [t.number for t in study.trials]
        there = f"trials there: {min(numbers)}-{max(numbers)}" if numbers else "it has no trials"
        raise StudyError(f"{OPTION}: study {name!r} has no trial {number}; {there}")
    trial, reuse_note = _resolve(study, named)
    if not trial.arch:
        raise StudyError(
            f"{OPTION}: {name}:{trial.number} is {trial.status} and stores no architecture "
            "(no candidate was sampled); allowed: a trial with a stored arch"
        )
    try:
        arch = ArchSpec.from_dict(trial.arch)
    except SpecError as exc:
        raise StudyError(
            f"{OPTION}: {name}:{trial.number} stores an architecture this version cannot read ({exc})"
        ) from None
    recipe, recipe_note = _recipe(study)
    accuracy, epochs, seeds = _stored_score(trial, recipe, recipe_stored=recipe_note is None)
    notes = tuple(n for n in (reuse_note, _status_note(study, trial), recipe_note) if n)
    return StoredTrial(
        study=name,
        trial=trial.number,
        requested=number,
        storage=redact(storage),
        status=trial.status,
        record=trial,
        arch=arch,
        recipe=recipe,
        dataset=study.dataset or recipe.dataset,
        accuracy=accuracy,
        epochs=epochs,
        seeds=seeds,
        notes=notes,
    )
