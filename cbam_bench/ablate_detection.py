"""`ablate detection`: the paper's Table 6 question (does attention in the backbone help a detector?)
as a grid study of the shipped paper-detection space, read back as rows none / SE / CBAM.

The study is planned and run as every ablation is (cbam_bench.ablate); what differs is the reading:
each row's mAP@[.5:.95] and mAP@.5 over its seeds, with a 95% t interval of the mean, and each
attention row's mAP difference from the no-attention row with a 95% Welch interval, beside the
paper's mAP where it printed one (it has no SE row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cbam_bench.ablate import ABLATED, DETECTION_TABLE, AblationPlan, space_of, standing_trials
from cbam_bench.ablation_order import points
from cbam_bench.paper import DETECTION_ROWS, DETECTION_SETUP, DetectionRow
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.report.summary import trial_item
from cbam_bench.spec import AttentionSpec
from cbam_bench.stats import Interval, MeanInterval, Sample, mean_interval, welch_interval

SCORES = ("map", "map50")
# The parts of a trial's JSON item a row shows: the ablation's, with the mAPs for its accuracy.
SHOWN = tuple(k for k in ABLATED if "accuracy" not in k) + ("map", "map50")


def _seed_values(trial: TrialRecord, score: str) -> list[float]:
    runs = (trial.attrs.seed_maps or {}).get(score)
    return [float(v) for v in runs] if isinstance(runs, list) else []


@dataclass(frozen=True)
class DetectionRowResult:
    """One row: the attention module, the paper's row and the trial that trained it here (if any)."""

    index: int
    attention: AttentionSpec
    paper: DetectionRow
    trial: TrialRecord | None

    def interval(self, score: str) -> MeanInterval | None:
        """Mean of `score` over the seeds with a 95% t interval; None without a trial."""
        values = _seed_values(self.trial, score) if self.trial is not None else []
        return mean_interval(values) if values else None

    def versus(self, baseline: DetectionRowResult, score: str = "map") -> Interval | None:
        """95% Welch interval of this row's mean `score` minus the baseline's; None under two seeds a side."""
        a, b = (_seed_values(r.trial, score) if r.trial else [] for r in (self, baseline))
        return welch_interval(Sample.of(a), Sample.of(b)) if len(a) >= 2 and len(b) >= 2 else None


def match_detection_rows(study: StudyRecords) -> list[DetectionRowResult]:
    """The table's rows, each with the study's trial of the same attention module (ablate.standing_trials)."""
    trials = standing_trials(study, [fields for fields, _ in DETECTION_ROWS])
    return [
        DetectionRowResult(index, AttentionSpec(**fields), paper, trial)
        for index, ((fields, paper), trial) in enumerate(zip(DETECTION_ROWS, trials), start=1)
    ]


def verdict_lines(rows: list[DetectionRowResult]) -> list[str]:
    """Each attention row against the no-attention one, in mAP@[.5:.95] points, and the paper's gap."""
    base = rows[0]
    if base.trial is None:
        return ["No complete trial of the no-attention row yet; nothing to compare against."]
    lines = []
    for row in rows[1:]:
        if row.trial is None:
            lines.append(f"Row {row.index} ({row.attention.kind}): no complete trial yet.")
            continue
        delta = (row.trial.measure("map") or 0.0) - (base.trial.measure("map") or 0.0)
        iv = row.versus(base)
        where = (
            f" [{points(iv.low)}, {points(iv.high)}], {'resolved' if iv.excludes_zero else 'not resolved (includes 0)'}"
            if iv
            else " (no interval: under two seeds)"
        )
        paper = (
            f"; the paper: {row.paper.map - base.paper.map:+.1f}"
            if row.paper.map is not None and base.paper.map is not None
            else "; the paper has no such row"
        )
        lines.append(f"{row.attention.kind} vs none: {points(delta)} mAP points{where}{paper}.")
    return lines


@dataclass(frozen=True)
class DetectionAblation:
    """The detection table as we ran it: the plan, the study read back and its rows."""

    plan: AblationPlan
    study: StudyRecords
    rows: tuple[DetectionRowResult, ...]

    def to_dict(self) -> dict[str, Any]:
        space = self.plan.space
        return {
            "table": DETECTION_TABLE,
            "title": self.plan.title,
            "study": self.study.name,
            "space": space_of(DETECTION_TABLE),
            "backbone": space.backbone,
            "dataset": space.dataset,
            "epochs": self.plan.epochs,
            "seeds": self.plan.seeds,
            "paper_setup": DETECTION_SETUP,
            "counts": self.study.counts(),
            "rows": [_row_dict(r, self.rows[0]) for r in self.rows],
            "text": verdict_lines(list(self.rows)),
        }


def _row_dict(row: DetectionRowResult, base: DetectionRowResult) -> dict[str, Any]:
    t = row.trial
    intervals = {f"{s}_ci95": (iv.to_dict() if (iv := row.interval(s)) else None) for s in SCORES}
    versus = row.versus(base) if row is not base else None
    return {
        "row": row.index,
        "label": row.paper.label,
        "attention": row.attention.summary(),
        **(trial_item(t, keys=SHOWN) if t is not None else dict.fromkeys(SHOWN)),
        "seed_maps": t.attrs.seed_maps if t is not None else None,
        **intervals,
        "map_vs_none_ci95": versus.to_dict() if versus else None,
        "paper_map": row.paper.map,
    }


def read_detection_ablation(plan: AblationPlan, study: StudyRecords) -> DetectionAblation:
    """A stored study of the detection table, as its rows."""
    return DetectionAblation(plan, study, tuple(match_detection_rows(study)))
