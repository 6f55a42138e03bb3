"""The answer a study gives, as plain data: front, hypervolume, knee, pick under budget, counts.

`cbam-bench report --json` prints this document; the Rich tables are drawn from it too, so the
two views cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cbam_bench import pareto
from cbam_bench.metrics import METRICS, TRIAL_MEASURES
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.report.format import conventions, placement_label


@dataclass(frozen=True)
class StudySummary:
    """Everything `report` shows, computed once."""

    study: StudyRecords
    front: list[TrialRecord]
    ranks: dict[int, int]
    reference: dict[str, float]
    hypervolume: float
    normalized_hypervolume: float | None
    knee: TrialRecord | None
    budgets: dict[str, float]
    pick: TrialRecord | None


def summarize(study: StudyRecords, budgets: dict[str, float] | None = None,
              reference: dict[str, float] | None = None) -> StudySummary:
    """Compute the front and its scores; reference overrides the default per objective metric."""
    front = pareto.pareto_front(study)
    ref = pareto.reference_point(study, reference)
    volume = pareto.study_hypervolume(study, ref)
    return StudySummary(
        study=study,
        front=front,
        ranks=pareto.ranks(study),
        reference=ref,
        hypervolume=volume,
        normalized_hypervolume=pareto.normalized_hypervolume(study, ref, volume),
        knee=pareto.knee_trial(study, front),
        budgets=dict(budgets or {}),
        pick=pareto.pick_under_budget(study.trials, budgets) if budgets else None,
    )


def trial_item(trial: TrialRecord, rank: int | None = None) -> dict[str, Any]:
    """One trial as JSON: its number, what it is, and every stored measure (missing ones are null)."""
    item: dict[str, Any] = {
        "trial": trial.number,
        "status": trial.status,
        "rank": rank,
        "archid": trial.attrs.get("archid"),
        "summary": trial.summary,
        "placement": placement_label(trial.arch),
    }
    item.update({name: trial.attrs.get(name) for name in TRIAL_MEASURES})
    item["seed_accuracies"] = trial.attrs.get("seed_accuracies")
    item["device"] = trial.device
    item["latency_setup"] = trial.latency_setup
    item["params_sampled"] = trial.params
    item["arch"] = trial.arch or None
    item["reused_from"] = trial.attrs.get("reused_from")
    item["fail_reason"] = trial.attrs.get("fail_reason")
    return item


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
        "front": [trial_item(t, summary.ranks.get(t.number)) for t in summary.front],
        "hypervolume": {
            "value": summary.hypervolume,
            "reference_point": summary.reference,
            "normalized": summary.normalized_hypervolume,
        },
        "knee": summary.knee.number if summary.knee else None,
        "budgets": summary.budgets,
        "pick": trial_item(summary.pick, summary.ranks.get(summary.pick.number)) if summary.pick else None,
        "conventions": conventions(shown, metrics),
    }
    if include_all:
        doc["trials"] = [trial_item(t, summary.ranks.get(t.number)) for t in study.trials]
    return doc
