"""The detection table of `ablate detection` as a Rich table: each row's mAPs with their 95%
intervals over seeds, its costs, and the paper's mAP beside them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from cbam_bench.metrics import METRICS
from cbam_bench.report.ablation_table import PAPER_ROW_COLUMNS, paper_row_cells
from cbam_bench.report.format import DASH, cells, columns, conventions
from cbam_bench.report.tables import rich_table

if TYPE_CHECKING:
    from cbam_bench.ablate_detection import DetectionAblation, DetectionRowResult

COSTS = ("params", "macs", "latency_ms")


def interval_cell(row: DetectionRowResult, score: str) -> str:
    """'21.30 [19.02, 23.58]' in %: the mean over seeds and its 95% t interval ('-' untrained)."""
    iv = row.interval(score)
    if iv is None:
        return DASH
    if iv.n < 2:
        return f"{100 * iv.mean:.2f}"
    return f"{100 * iv.mean:.2f} [{100 * iv.low:.2f}, {100 * iv.high:.2f}]"


def detection_ablation_table(ablation: DetectionAblation) -> Table:
    """Rows none / SE / CBAM: our mAP@[.5:.95] and mAP@.5 with intervals, costs, the paper's mAP."""
    from cbam_bench.paper import DETECTION_SETUP

    plan, study = ablation.plan, ablation.study
    trials = [r.trial for r in ablation.rows if r.trial is not None]
    cols = columns(trials, COSTS)
    space = plan.space
    epochs = f"{plan.epochs} epoch{'' if plan.epochs == 1 else 's'}"
    lines = [
        f"Ours: Faster R-CNN over {space.backbone} on {space.dataset}, {epochs}, {plan.seeds} seed(s) per row, "
        f"study {study.name}.",
        f"mAP, mAP@.5: {METRICS['map'].convention}; in %, and in brackets the 95% t interval of that mean.",
    ]
    for c, text in conventions(trials, COSTS).items():
        lines.append(f"{next(col.header for col in cols if col.metric == c)}: {text} (the whole detector).")
    lines.append(f"Paper: mAP@[.5:.95] of {DETECTION_SETUP}, as printed (Woo et al., ECCV 2018, Table 6).")
    table = rich_table(
        f"{plan.title}: ours against the paper's",
        [
            *PAPER_ROW_COLUMNS,
            "mAP (%)",
            "mAP@.5 (%)",
            *(c.header for c in cols),
            "paper\nmAP (%)",
        ],
        4,
        lines,
    )
    for row in ablation.rows:
        t = row.trial
        table.add_row(
            *paper_row_cells(row),
            interval_cell(row, "map"),
            interval_cell(row, "map50"),
            *(cells(t, cols) if t is not None else [DASH] * len(cols)),
            DASH if row.paper.map is None else f"{row.paper.map:.1f}",
        )
    return table
