"""`cbam-bench export STUDY`: every trial of a stored study as CSV, JSON, Markdown or LaTeX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.study_options import (
    ForceOpt,
    StorageOpt,
    StudyArg,
)
from cbam_bench.errors import SpecError, allowed, check_choice
from cbam_bench.outputs import FileKind, check_output
from cbam_bench.report.export import FORMATS, SUFFIXES
from cbam_bench.storage import DEFAULT_STORAGE

EXAMPLES = """
Examples:

  cbam-bench export default --format csv --out results/default.csv

  cbam-bench export default --format latex --front --out paper/front.tex

  cbam-bench export placement --format md --out results/placement.md --storage sqlite:///runs.db
"""


@reports_errors
def export(
    study: StudyArg,
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"File format: {allowed(FORMATS)}.")] = "csv",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (replaced atomically).", show_default=False)
    ] = None,
    front: Annotated[bool, typer.Option("--front", help="Only the trials on the Pareto front.")] = False,
    storage: StorageOpt = DEFAULT_STORAGE,
    force: ForceOpt = False,
) -> None:
    """Write one row per trial, with every sampled parameter and stored measure, to a file."""
    check_choice("--format", fmt, FORMATS)
    if out is None:
        raise SpecError("--out", "missing; allowed: a file path, e.g. --out results/study.csv")
    check_output(out, "--out", FileKind(fmt, suffixes=SUFFIXES[fmt]), storage=storage, force=force)

    from cbam_bench import collector
    from cbam_bench.records import load_records
    from cbam_bench.report.export import export as write_export
    from cbam_bench.report.export import exported
    from cbam_bench.report.summary import summarize

    records = load_records(storage, study)
    with collector.frozen():
        summary = summarize(records)
        path = write_export(summary, fmt, out, front_only=front)
    rows = len(exported(summary, fmt, front))
    output.stderr().print(f"wrote {path}: {fmt}, {rows} trials{' (the front)' if front else ''}", markup=False)


output.add_examples(export, EXAMPLES)
