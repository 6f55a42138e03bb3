"""A paper's classification table re-run, as a Rich table: each row with our measures and the
paper's errors beside them; the first columns every paper table shares (detection's too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from cbam_bench.report.format import DASH, cells, columns, conventions
from cbam_bench.report.tables import TABLE_METRICS, TABLE_SCORES, rich_table

if TYPE_CHECKING:
    from cbam_bench.ablate import Ablation
    from cbam_bench.ablate_detection import DetectionRowResult
    from cbam_bench.ablation_order import Row

# The first columns of every paper table (classification ablations, detection): the row as the paper
# numbers and names it, our attention module for it, and the trial that trained it here.
PAPER_ROW_COLUMNS = ("#", "paper's row", "attention", "trial")


def paper_row_cells(row: Row | DetectionRowResult) -> list[str]:
    """PAPER_ROW_COLUMNS' cells of one paper-table row (index, paper, attention, trial)."""
    return [
        str(row.index),
        row.paper.label,
        row.attention.summary(),
        DASH if row.trial is None else str(row.trial.number),
    ]


def ablation_table(ablation: Ablation) -> Table:
    """A paper table re-run: each row with our measures and, beside them, the paper's errors."""
    from cbam_bench.paper import ABLATION_SETUP

    plan, study = ablation.plan, ablation.study
    trials = [r.trial for r in ablation.rows if r.trial is not None]
    cols = columns(trials, (*TABLE_SCORES["classification"], *TABLE_METRICS))
    space = plan.space
    epochs = f"{plan.epochs} epoch{'' if plan.epochs == 1 else 's'}"
    seeds = f"{plan.seeds} seed{'' if plan.seeds == 1 else 's'}"
    lines = [f"Ours: {space.backbone} on {space.dataset}, {epochs}, {seeds} per row, study {study.name}."]
    for c, text in conventions(trials, [c.metric for c in cols]).items():
        spread = ", ± the standard deviation over seeds" if c == "accuracy" and plan.seeds > 1 else ""
        lines.append(f"{next(col.header for col in cols if col.metric == c)}: {text}{spread}.")
    lines.append(
        f"Paper: top-1 / top-5 error of {ABLATION_SETUP}, as printed (Woo et al., ECCV 2018); "
        "lower is better, while our Acc. is an accuracy: higher is better."
    )
    table = rich_table(
        f"{plan.title}: ours against the paper's",
        [
            *PAPER_ROW_COLUMNS,
            *(c.header for c in cols),
            "paper\ntop-1 err (%)",
            "paper\ntop-5 err (%)",
        ],
        4,
        lines,
    )
    for row in ablation.rows:
        t = row.trial
        table.add_row(
            *paper_row_cells(row),
            *(cells(t, cols) if t is not None else [DASH] * len(cols)),
            f"{row.paper.top1_err:.2f}",
            f"{row.paper.top5_err:.2f}",
        )
    return table
