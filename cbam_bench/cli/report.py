"""`cbam-bench report STUDY`: the Pareto front of a stored study, its hypervolume, knee and budget pick."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.study_options import (
    ForceOpt,
    JsonOpt,
    StorageOpt,
    StudyArg,
)
from cbam_bench.metrics import METRICS, parse_limits
from cbam_bench.outputs import check_png
from cbam_bench.records import StudyRecords
from cbam_bench.storage import DEFAULT_STORAGE
from cbam_bench.trial_attrs import BUDGET_METRICS

EXAMPLES = """
Examples:

  cbam-bench report default

  cbam-bench report default --budget latency_ms=5 --budget params=3e6 --plot results/front.png

  cbam-bench report default --all --json --storage postgresql://user@db-host/cbam
"""


@reports_errors
def report(
    study: StudyArg,
    storage: StorageOpt = DEFAULT_STORAGE,
    all_trials: Annotated[
        bool, typer.Option("--all", help="Also list every trial with its status and dominance rank.")
    ] = False,
    budget: Annotated[
        list[str] | None,
        typer.Option(
            "--budget",
            help=f"Cap for the pick, METRIC=NUMBER (K/M/G allowed); repeat for several. METRIC: {', '.join(BUDGET_METRICS)}.",
            show_default=False,
        ),
    ] = None,
    ref: Annotated[
        list[str] | None,
        typer.Option(
            "--ref",
            help="Hypervolume reference point for one objective, METRIC=NUMBER; repeat for several (default: accuracy 0, costs at the study's budget or 10% beyond the worst trial).",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write accuracy against MACs and latency to this PNG.", show_default=False),
    ] = None,
    json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Show a study's Pareto front, hypervolume, knee and the best trial under a budget, from storage only."""
    budgets = parse_limits(budget, "--budget", BUDGET_METRICS)
    reference = parse_limits(ref, "--ref", tuple(METRICS))
    check_png(plot, "--plot", storage=storage, force=force)

    from cbam_bench import collector
    from cbam_bench.records import load_records

    records = load_records(storage, study)
    with collector.frozen():
        _show(records, storage, budgets, reference, all_trials=all_trials, plot=plot, json=json)


def _show(
    records: StudyRecords,
    storage: str,
    budgets: dict[str, float],
    reference: dict[str, float],
    *,
    all_trials: bool,
    plot: Path | None,
    json: bool,
) -> None:
    """The report of a study already read: tables or JSON, the confirmation and the plot."""
    from cbam_bench import confirmation
    from cbam_bench.report.summary import summarize, to_json
    from cbam_bench.report.tables import front_table, summary_lines, trials_table

    summary = summarize(records, budgets=budgets, reference=reference)
    confirmed = confirmation.load(storage, summary.study)
    if plot is not None:
        from cbam_bench.report.plots import plot_study

        plot_study(summary, plot)
    if json:
        doc = to_json(summary, include_all=all_trials)
        doc["confirmation"] = None if confirmed is None else confirmed.to_dict()
        if plot is not None:
            doc["plot"] = str(plot)
        output.print_json(doc)
        return
    console = output.stdout()
    if summary.front:
        output.print_table(console, front_table(summary))
    if all_trials:
        console.file.write(trials_table(summary, console.width))
    for line in summary_lines(summary):
        console.print(line, markup=False)
    if confirmed is not None:
        from cbam_bench.cli.confirm import show

        show(confirmed)
    if plot is not None:
        console.print(f"Plot: {plot}", markup=False)


output.add_examples(report, EXAMPLES)
