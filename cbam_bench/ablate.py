"""The paper's ablations (Tables 1-3) re-run as grid studies, and read back the way the paper prints them.

Each table is a shipped grid space (paper-channel, paper-spatial, paper-arrangement) whose
candidates are the rows of cbam_bench.paper.ABLATIONS, so a run is an ordinary study: run_search
trains every row `seeds` times, resumes when run again, and `report` / `compare` read it like any
other. What this module adds is the paper's view of a finished study: each row beside the paper's
numbers, and whether our ordering of the rows agrees with the paper's, with a 95% Welch interval
for every pair of rows saying whether our difference is resolved or could be seed noise.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cbam_bench.ablation_order import Ordering, Row, order_rows, verdict_lines
from cbam_bench.errors import SpecError, allowed, check_int, did_you_mean
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.paper import ABLATION_SETUP, ABLATION_TITLES, ABLATIONS, DETECTION_TITLE
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.report.summary import trial_item
from cbam_bench.space.task import detection_backbone_problem
from cbam_bench.spec import MAX_EPOCHS, ArchSpec, AttentionSpec
from cbam_bench.storage import DEFAULT_STORAGE
from cbam_bench.trial_attrs import TrialAttrs

if TYPE_CHECKING:
    from cbam_bench.search.observer import SearchObserver
    from cbam_bench.search.trainer import Trainer
    from cbam_bench.space import LatencySetup, Space

TABLES = tuple(ABLATIONS)  # in the paper's order; "all" runs them in this order
ALL = "all"
# Table 6's question on a detector (cbam_bench.ablate_detection reads it); not part of "all".
DETECTION_TABLE = "detection"
PLANNABLE = (*TABLES, DETECTION_TABLE)  # what one plan may run
# The parts of a trial's JSON item (report.summary.trial_item) that a row of the table shows.
ABLATED = (
    "trial",
    "accuracy",
    "accuracy_std",
    "seed_accuracies",
    "seeds",
    "params",
    "macs",
    "latency_ms",
    "latency_setup",
)


def tables_named(text: str) -> tuple[str, ...]:
    """'all' -> every table, a table name -> that table; anything else is bad input naming TABLE."""
    if text == ALL:
        return TABLES
    if text in PLANNABLE:
        return (text,)
    choices = [*PLANNABLE, ALL]
    raise SpecError("TABLE", f"{text!r} is not allowed{did_you_mean(text, choices)}; allowed: {allowed(choices)}")


def space_of(table: str) -> str:
    """The shipped grid space holding a table's rows."""
    return f"paper-{table}"


@dataclass(frozen=True)
class AblationPlan:
    """One table to run: its space (backbone and dataset as asked) and the study that holds it."""

    table: str
    space: Space
    study: str
    epochs: int
    seeds: int

    @property
    def title(self) -> str:
        return DETECTION_TITLE if self.table == DETECTION_TABLE else ABLATION_TITLES[self.table]


def _study_name(shipped: Space, space: Space, epochs: int, seeds: int) -> str:
    """The shipped space's name, plus whatever differs from it: one study per setting, so running
    the same command again resumes it and another setting never collides with it."""
    parts = [shipped.name]
    if space.backbone != shipped.backbone:
        parts.append(space.backbone)
    if space.dataset != shipped.dataset:
        parts.append(re.sub(r"[^A-Za-z0-9._]+", "_", space.dataset).strip("_"))
    if epochs != shipped.train.epochs:
        parts.append(f"{epochs}ep")
    if seeds != shipped.seeds:
        parts.append(f"{seeds}seeds")
    return "-".join(parts)


def plan_ablation(
    table: str,
    *,
    backbone: str | None = None,
    dataset: str | None = None,
    epochs: int | None = None,
    seeds: int | None = None,
) -> AblationPlan:
    """The table's shipped space with another backbone or dataset when asked; errors name the option.

    Unset options keep the space's values (cifar_resnet20 on digits-clutter, 6 epochs, 3 seeds for
    the shipped files). Nothing is written here.
    """
    from cbam_bench.space import MAX_SEEDS, find_space, load_space

    if table not in PLANNABLE:
        tables_named(table)  # names what is allowed
        raise SpecError("TABLE", f"plan one table at a time; allowed: {allowed(PLANNABLE)}")
    if backbone is not None and backbone not in BACKBONES:
        raise SpecError(
            "--backbone",
            f"{backbone!r} is not allowed{did_you_mean(backbone, BACKBONES)}; allowed: {allowed(BACKBONES)}",
        )
    for flag, value, high in (("--epochs", epochs, MAX_EPOCHS), ("--seeds", seeds, MAX_SEEDS)):
        if value is not None:
            check_int(flag, value, 1, high)
    shipped = load_space(find_space(space_of(table)))
    changes: dict[str, Any] = {}
    if backbone is not None:
        problem = (
            detection_backbone_problem(backbone, "for the detection table") if shipped.task == "detection" else None
        )
        if problem:
            raise SpecError("--backbone", problem)
        changes["backbone"] = backbone
    if dataset is not None:
        changes["dataset"] = dataset
        try:
            changes["train"] = dataclasses.replace(shipped.train, dataset=dataset)
        except SpecError as exc:  # the spec that checks dataset names says train.dataset or detect.dataset
            raise exc.rekeyed("--dataset") from None
    # The stored copy of the file says what the study really holds.
    source = {**shipped.source, **{k: v for k, v in changes.items() if k != "train"}}
    space = dataclasses.replace(shipped, **changes, source=source)
    epochs = epochs or shipped.train.epochs
    seeds = seeds or shipped.seeds
    return AblationPlan(table, space, _study_name(shipped, space, epochs, seeds), epochs, seeds)


# --- reading a study as the paper's table ------------------------------------------------------


def _attention_of(trial: TrialRecord) -> AttentionSpec | None:
    try:
        return ArchSpec.from_dict(trial.arch).attention if trial.arch else None
    except (ValueError, TypeError):  # SpecError is a ValueError; a malformed record stands for nothing
        return None


def standing_trials(study: StudyRecords, modules: Sequence[dict[str, Any]]) -> list[TrialRecord | None]:
    """For each attention module (AttentionSpec's fields), the study's trial that stands for it.

    Only usable trials count (complete and measured in their own right, not a reused copy); if
    several trained the same module, the one with the most seeds, then the earliest, stands.
    """
    usable = [(t, _attention_of(t)) for t in study.usable]
    out = []
    for fields in modules:
        wanted = AttentionSpec(**fields).canonical()
        same = [t for t, a in usable if a is not None and a.canonical() == wanted]
        out.append(min(same, key=lambda t: (-(t.measure("seeds") or 1), t.number), default=None))
    return out


def match_rows(table: str, study: StudyRecords) -> list[Row]:
    """The paper's rows of `table`, each with the study's trial of the same attention module."""
    rows = ABLATIONS[table]
    trials = standing_trials(study, [fields for fields, _ in rows])
    return [
        Row(index, AttentionSpec(**fields), paper_row, trial)
        for index, ((fields, paper_row), trial) in enumerate(zip(rows, trials), start=1)
    ]


@dataclass(frozen=True)
class Ablation:
    """A table as we ran it: the plan, the study read back, its rows and the ordering verdict."""

    plan: AblationPlan
    study: StudyRecords
    rows: tuple[Row, ...]
    ordering: Ordering

    def to_dict(self) -> dict[str, Any]:
        """The table as JSON: rows in the paper's order with both sides' numbers, then the verdict."""
        space, ordering = self.plan.space, self.ordering
        return {
            "table": self.plan.table,
            "title": self.plan.title,
            "study": self.study.name,
            "space": space_of(self.plan.table),
            "backbone": space.backbone,
            "dataset": space.dataset,
            "epochs": self.plan.epochs,
            "seeds": self.plan.seeds,
            "paper_setup": ABLATION_SETUP,
            "counts": self.study.counts(),
            "rows": [_row_dict(r) for r in self.rows],
            "ordering": {
                "agrees": ordering.agrees,
                "ours": [r.index for r in ordering.ours],
                "paper": [r.index for r in ordering.paper],
                "pairs_agreeing": sum(1 for p in ordering.pairs if p.agrees),
                "pairs": [p.to_dict() for p in ordering.pairs],
                "unresolved": [[p.better.index, p.worse.index] for p in ordering.unresolved],
                "contradicted": [[p.better.index, p.worse.index] for p in ordering.contradicted],
                "untrained": [r.index for r in ordering.untrained],
                "text": verdict_lines(ordering),
            },
        }


def _row_dict(row: Row) -> dict[str, Any]:
    t = row.trial
    return {
        "row": row.index,
        "label": row.paper.label,
        "attention": row.attention.summary(),
        **(trial_item(t, keys=ABLATED) if t is not None else dict.fromkeys(ABLATED)),
        "paper_top1_err": row.paper.top1_err,
        "paper_top5_err": row.paper.top5_err,
    }


def read_ablation(plan: AblationPlan, study: StudyRecords) -> Ablation:
    """A stored study of the plan's table, as the paper's table with the ordering verdict."""
    rows = match_rows(plan.table, study)
    return Ablation(plan, study, tuple(rows), order_rows(rows))


def run_ablation(
    plan: AblationPlan,
    *,
    storage: str = DEFAULT_STORAGE,
    device: str | None = None,
    data_dir: str | None = None,
    trainer: Trainer | None = None,
    observer: SearchObserver | None = None,
    cheap_cache: dict[tuple[str, LatencySetup], TrialAttrs] | None = None,
    read: Callable[[AblationPlan, StudyRecords], Any] | None = None,
) -> Any:
    """Run (or resume) the table's grid study: every row once, `plan.seeds` times; then read it
    (read_ablation, unless `read` says otherwise: the detection table's reading).

    A study that already has every row only prints. `cheap_cache` may be shared by the tables of
    one process (Table 3 repeats networks of Tables 1 and 2).
    """
    from cbam_bench.records import records_from_study
    from cbam_bench.search.run import run_search
    from cbam_bench.search.storage import redact

    study = run_search(
        plan.space,
        storage=storage,
        study_name=plan.study,
        epochs=plan.epochs,
        seeds=plan.seeds,
        early_stop=False,
        device=device,
        data_dir=data_dir,
        trainer=trainer,
        observer=observer,
        cheap_cache=cheap_cache,
    )
    return (read or read_ablation)(plan, records_from_study(study, redact(storage)))
