"""The answer a study gives, as plain data: front, hypervolume, knee, pick under budget, counts.

`cbam-bench report --json` prints this document; the Rich tables are drawn from it too, so the
two views cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cbam_bench import pareto
from cbam_bench.metrics import METRICS, TASK_SCORES
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.report.format import conventions, placement_label
from cbam_bench.stats import MeanInterval
from cbam_bench.trial_attrs import TRIAL_MEASURES
from cbam_bench.uncertainty import intervals_of, possibly_on_front, trial_ends, unresolved


@dataclass(frozen=True)
class StudySummary:
    """Everything `report` shows, computed once; the ranks of every trial only when asked for."""

    study: StudyRecords
    front: list[TrialRecord]
    reference: dict[str, float]
    hypervolume: float
    normalized_hypervolume: float | None
    knee: TrialRecord | None
    budgets: dict[str, float]
    pick: TrialRecord | None
    intervals: dict[int, MeanInterval] = field(default_factory=dict)  # trial -> accuracy's 95 % interval (2+ seeds)
    unresolved: dict[int, int] = field(default_factory=dict)  # front member -> a trial dominating it within intervals
    possibly_on_front: list[int] = field(default_factory=list)  # trials off the front no trial dominates for sure

    def interval_item(self, trial: TrialRecord) -> dict[str, Any]:
        """The JSON keys every front item and export row adds: the interval and the "not resolved" mark."""
        iv = self.intervals.get(trial.number)
        return {"accuracy_interval": iv.to_dict() if iv else None, "not_resolved_by": self.unresolved.get(trial.number)}

    @cached_property
    def ranks(self) -> dict[int, int]:
        """Trial number -> dominance rank of every usable trial (report --all, exports)."""
        return pareto.ranks(self.study)

    def rank(self, trial: TrialRecord) -> int | None:
        """One trial's rank, without ranking the study unless that was done already."""
        if "ranks" in self.__dict__:
            return self.ranks.get(trial.number)
        if any(t.number == trial.number for t in self.front):
            return 1
        return pareto.rank(self.study, trial)


def summarize(
    study: StudyRecords, budgets: dict[str, float] | None = None, reference: dict[str, float] | None = None
) -> StudySummary:
    """Compute the front and its scores; reference overrides the default per objective metric."""
    front = pareto.pareto_front(study)
    ref = pareto.reference_point(study, reference)
    volume = pareto.study_hypervolume(study, ref)
    intervals = intervals_of(study.trials)
    ends = trial_ends(study, intervals)
    return StudySummary(
        study=study,
        front=front,
        reference=ref,
        hypervolume=volume,
        normalized_hypervolume=pareto.normalized_hypervolume(study, ref, volume),
        knee=pareto.knee_trial(study, front),
        budgets=dict(budgets or {}),
        pick=pareto.pick_under_budget(study.trials, budgets, TASK_SCORES[study.task][0]) if budgets else None,
        intervals=intervals,
        unresolved=unresolved(study, front, ends=ends),
        possibly_on_front=possibly_on_front(study, front, ends=ends),
    )


def trial_item(trial: TrialRecord, rank: int | None = None, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """One trial as JSON: its number, what it is, and every stored measure (missing ones are null).

    Every command that prints or exports trials (report, export, compare, ablate, search) makes
    its items here, so a trial reads the same everywhere; `keys` keeps only those, in that order.
    """
    stored = trial.attrs
    item: dict[str, Any] = {
        "trial": trial.number,
        "status": trial.status,
        "rank": rank,
        "archid": stored.archid,
        "summary": trial.summary,
        "placement": placement_label(trial.arch),
        **{name: getattr(stored, name) for name in TRIAL_MEASURES},
        "seed_accuracies": stored.seed_accuracies,
        "latency_ratio_interval": stored.latency_ratio_interval,
        "device": trial.device,
        "latency_setup": trial.latency_setup,
        "params_sampled": trial.params,
        "arch": trial.arch or None,
        "reused_from": trial.reused_from,
        "fail_reason": stored.fail_reason,
    }
    if keys is None:
        return item
    unknown = [k for k in keys if k not in item]
    if unknown:
        raise ValueError(f"trial_item: no key {unknown[0]!r}; allowed: {', '.join(item)}")
    return {k: item[k] for k in keys}


def to_json(summary: StudySummary, include_all: bool = False) -> dict[str, Any]:
    """The `report --json` document; `trials` (every trial with its rank) only when include_all."""
    study = summary.study
    shown = summary.front if not include_all else list(study.trials)
    metrics = [m for m in METRICS if any(t.measure(m) is not None for t in shown)]
    doc: dict[str, Any] = {
        "study": study.name,
        "storage": study.storage,
        "dataset": study.dataset,
        "backbone": study.backbone,
        "objectives": [str(o) for o in study.objectives],
        "counts": study.counts(),
        "front": [trial_item(t, 1) | summary.interval_item(t) for t in summary.front],
        "hypervolume": {
            "value": summary.hypervolume,
            "reference_point": summary.reference,
            "normalized": summary.normalized_hypervolume,
        },
        "possibly_on_front": summary.possibly_on_front,
        "knee": summary.knee.number if summary.knee else None,
        "budgets": summary.budgets,
        "pick": trial_item(summary.pick, summary.rank(summary.pick)) if summary.pick else None,
        "conventions": conventions(shown, metrics),
    }
    if include_all:
        doc["trials"] = [trial_item(t, summary.ranks.get(t.number)) for t in study.trials]
    return doc
