"""`cbam-bench compare A B ...`: stored fronts or trials side by side, with deltas against a baseline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.study_options import (
    JsonOpt,
    StorageOpt,
)
from cbam_bench.errors import SpecError
from cbam_bench.storage import DEFAULT_STORAGE

if TYPE_CHECKING:
    from cbam_bench.compare import Comparison
    from cbam_bench.records import StudyRecords

EXAMPLES = """
Examples:

  cbam-bench compare default

  cbam-bench compare default:12 default:7 placement

  cbam-bench compare paper-arrangement --baseline paper-channel:0 --json
"""


# The parts of a trial's JSON item (report.summary.trial_item) that a comparison row shows.
COMPARED = (
    "trial",
    "summary",
    "placement",
    "archid",
    "accuracy",
    "accuracy_std",
    "map",
    "map50",
    "seeds",
    "seed_accuracies",
    "macs",
    "params",
    "latency_ms",
    "latency_ratio",
    "device",
    "latency_setup",
)


def _row(c: Comparison) -> dict[str, Any]:
    from cbam_bench.report.summary import trial_item

    return {
        "study": c.entry.study.name,
        **trial_item(c.entry.trial, keys=COMPARED),
        "is_baseline": c.is_baseline,
        "baseline": c.baseline.ref if c.baseline else None,
        "delta": c.delta or None,
        "ci95": c.interval.to_dict() if c.interval else None,
        "ci_source": c.interval_source,
        "latency_from": c.latency_from,
        "notes": list(c.notes),
    }


@reports_errors
def compare(
    targets: Annotated[
        list[str], typer.Argument(help="Studies (their Pareto fronts) or single trials as STUDY:N.", show_default=False)
    ],
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Baseline trial STUDY:N (default: the no-attention trial of the same network and dataset).",
            show_default=False,
        ),
    ] = None,
    storage: StorageOpt = DEFAULT_STORAGE,
    json: JsonOpt = False,
) -> None:
    """Compare stored trials: Δ accuracy (with a 95% Welch t interval over seeds), Δ MACs, params and latency."""
    from cbam_bench import collector
    from cbam_bench.compare import parse_target
    from cbam_bench.records import load_records

    base_name, base_number = parse_target(baseline) if baseline is not None else (None, None)
    if baseline is not None and base_number is None:
        raise SpecError("--baseline", f"{baseline!r} is not allowed; allowed: a stored trial as STUDY:N")
    names = [parse_target(t)[0] for t in targets] + ([base_name] if base_name else [])
    studies = {name: load_records(storage, name) for name in dict.fromkeys(names)}
    with collector.frozen():
        _show(targets, studies, base_name, base_number, baseline, json=json)


def _show(
    targets: list[str],
    studies: dict[str, StudyRecords],
    base_name: str | None,
    base_number: int | None,
    baseline: str | None,
    *,
    json: bool,
) -> None:
    """The comparison of studies already read, as a table with notes or as JSON."""
    from cbam_bench.compare import compare_all, resolve, trial_entry

    chosen = None
    if base_name is not None and base_number is not None:
        chosen = trial_entry(studies[base_name], base_number, f"--baseline {baseline}")
    comparisons = compare_all(resolve(targets, studies), chosen)
    if json:
        output.print_json({"rows": [_row(c) for c in comparisons], "conventions": _conventions()})
        return
    from cbam_bench.report.tables import compare_table

    console = output.stdout()
    output.print_table(console, compare_table(comparisons))
    for c in comparisons:
        for note in c.notes:
            console.print(f"{c.entry.ref}: {note}", markup=False)


def _conventions() -> dict[str, str]:
    from cbam_bench.metrics import METRICS

    return {
        "delta.accuracy": "difference of validation top-1 accuracy, as a fraction (0.01 = 1 percentage point)",
        "delta.map": "detection studies: difference of validation COCO mAP@[.5:.95], as a fraction",
        "delta.macs_pct": "MACs relative to the baseline, in %; " + METRICS["macs"].convention,
        "delta.params_pct": "parameters relative to the baseline, in %",
        "delta.latency_pct": "latency relative to the baseline, in %, from latency_from: latency_ratio (each "
        "timed alternately with the network without attention) where both are the same network and have one, "
        "else latency_ms; null when the two were timed under different latency set-ups (device, threads, "
        "batch, dtype)",
        "ci95": "95% Welch t interval of delta.accuracy (delta.map) from per-seed accuracies (mAPs); "
        "null with fewer than two seeds a side",
    }


output.add_examples(compare, EXAMPLES)
