"""A study as a file: CSV and JSON with every parameter and measure, Markdown and LaTeX for papers.

Every format has one row per trial (or per front member with front_only). Renderers yield text
chunks that write_atomic streams into a temporary file, so a failure half-way through leaves
the previous export untouched.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cbam_bench.files import write_atomic
from cbam_bench.metrics import METRICS, TASK_SCORES
from cbam_bench.records import TrialRecord
from cbam_bench.report.format import DASH, caption, cells, columns, conventions, json_document, placement_label
from cbam_bench.report.summary import StudySummary, trial_item
from cbam_bench.uncertainty import UNRESOLVED_MEANING

FORMATS = ("csv", "json", "md", "latex")
# The file names each format is written under; an existing file is replaced only if it has one.
SUFFIXES = {"csv": (".csv", ".txt"), "json": (".json",), "md": (".md", ".markdown", ".txt"), "latex": (".tex",)}
PAPER_COSTS = ("params", "macs", "elementwise_ops", "latency_ms")  # after the study task's scores
_STATUS_WORD = {
    "reused": "reused",
    "infeasible": "over budget",
    "pruned": "pruned",
    "failed": "failed",
    "duplicate": "duplicate",
    "running": "running",
}


def ordered(summary: StudySummary, front_only: bool = False) -> list[TrialRecord]:
    """Front first, then by dominance rank; within a rank in objective order; unranked trials last."""
    from cbam_bench.pareto import as_minimised

    study = summary.study
    trials = summary.front if front_only else list(study.trials)

    def key(t: TrialRecord) -> tuple[Any, ...]:
        rank = summary.ranks.get(t.number)
        values = as_minimised(t, study.objectives) if rank is not None else ()
        return (rank is None, rank or 0, values, t.number)

    return sorted(trials, key=key)


def exported(summary: StudySummary, fmt: str, front_only: bool = False) -> list[TrialRecord]:
    """The trials a file of fmt holds, in order: every one in CSV and JSON, _in_paper_tables in md, latex."""
    trials = ordered(summary, front_only)
    return trials if fmt in ("csv", "json") else _in_paper_tables(trials)


def _in_paper_tables(trials: list[TrialRecord]) -> list[TrialRecord]:
    """A duplicate proposal is the sampler's bookkeeping, not a network with measures: a paper's
    table leaves it out."""
    return [t for t in trials if t.status != "duplicate"]


def _row(t: TrialRecord, rank: int | None, knee: int | None, summary: StudySummary | None = None) -> dict[str, Any]:
    item = trial_item(t, rank) | (
        summary.interval_item(t) if summary else {"accuracy_interval": None, "not_resolved_by": None}
    )
    item["on_front"] = rank == 1
    item["possibly_on_front"] = summary is not None and t.number in summary.possibly_on_front
    item["knee"] = t.number == knee
    item["feasible"] = t.feasible if t.state == "complete" else None
    item["constraints"] = t.attrs.constraints
    item["env"] = t.attrs.env
    return item


def export_rows(summary: StudySummary, front_only: bool = False) -> list[dict[str, Any]]:
    """One JSON-ready dict per trial: identity, rank, every sampled parameter and every stored measure."""
    knee = summary.knee.number if summary.knee else None
    return [_row(t, summary.ranks.get(t.number), knee, summary) for t in ordered(summary, front_only)]


def _flat(row: dict[str, Any], param_names: Sequence[str]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "params_sampled"}
    sampled = row.get("params_sampled") or {}
    out.update({f"param:{name}": sampled.get(name) for name in param_names})
    return out


def _csv_cell(value: Any) -> str:
    kind = type(value)
    if value is None or kind is str:
        return value or ""
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        return str(value) if math.isfinite(value) else ""  # str(float) is its shortest round-tripping repr
    if kind in (dict, list, tuple):
        return json.dumps(value, sort_keys=True)
    return _csv_cell(float(value)) if isinstance(value, float) else str(value)


# Text gathered before a chunk is handed on: one chunk per line would cost a write per trial.
CHUNK_CHARS = 1 << 20


def csv_chunks(summary: StudySummary, front_only: bool = False) -> Iterator[str]:
    """Header then one line per trial; nested values (arch, env, lists) as JSON text; missing = empty."""
    rows = export_rows(summary, front_only)
    param_names = sorted({name for t in summary.study.trials for name in t.params})
    header = list(_flat(rows[0] if rows else _row(TrialRecord(-1, "complete", None), None, None), param_names))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        flat = _flat(row, param_names)
        writer.writerow([_csv_cell(flat.get(k)) for k in header])
        if buffer.tell() > CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def json_chunks(summary: StudySummary, front_only: bool = False) -> Iterator[str]:
    """The study's fields, then `trials` one trial per line (report.format.json_document)."""
    study = summary.study
    front = {t.number for t in summary.front}
    trials = [t for t in study.trials if not front_only or t.number in front]
    doc = {
        "study": study.name,
        "storage": study.storage,
        "dataset": study.dataset,
        "backbone": study.backbone,
        "objectives": [str(o) for o in study.objectives],
        "budgets": study.budgets,
        "counts": study.counts(),
        "knee": summary.knee.number if summary.knee else None,
        "conventions": conventions(trials, [m for m in METRICS if any(t.measure(m) is not None for t in trials)]),
        "trials": export_rows(summary, front_only),
    }
    yield from json_document(doc)


def paper_table(summary: StudySummary, front_only: bool = False) -> tuple[list[str], list[list[str]], list[str]]:
    """Headers, cells and caption sentences shared by the Markdown and LaTeX tables."""
    study = summary.study
    everything = ordered(summary, front_only)
    trials = _in_paper_tables(everything)
    shown = (*TASK_SCORES[study.task], *PAPER_COSTS)
    # Any other objective of the study (latency_ratio in the default one) too: the front is over it.
    objectives = [o.metric for o in study.objectives if o.metric in METRICS and o.metric not in shown]
    cols = columns(trials, (*shown, *objectives))
    knee = summary.knee.number if summary.knee else None
    seeded = any(t.number in summary.intervals for t in trials)
    headers = [
        "Trial",
        "Attention",
        "Placement",
        *(c.header for c in cols),
        *(["Acc. CI95 (%)"] if seeded else []),
        "Rank",
    ]
    body = []
    for t in trials:
        rank = summary.ranks.get(t.number)
        rank_text = (
            _STATUS_WORD.get(t.status, DASH) if rank is None else str(rank) + (" (knee)" if t.number == knee else "")
        )
        if t.number in summary.unresolved:
            rank_text += f" (not resolved: #{summary.unresolved[t.number]})"
        if t.number in summary.possibly_on_front:
            rank_text += " (possibly on the front)"
        iv = summary.intervals.get(t.number)
        ci = [DASH if iv is None else f"{100 * iv.low:.2f}-{100 * iv.high:.2f}"] if seeded else []
        body.append([str(t.number), t.summary, placement_label(t.arch), *cells(t, cols), *ci, rank_text])
    where = ", ".join(x for x in (study.dataset, study.backbone) if x)
    left_out = len(everything) - len(trials)
    dropped = f" ({left_out} duplicate proposal{'s' if left_out > 1 else ''} left out)" if left_out else ""
    lines = [
        f"Study {study.name}" + (f" ({where})" if where else "") + f": {len(trials)} trials{dropped}.",
        *caption(trials, cols, study.objectives),
        "Rank: dominance rank among complete trials within budget (1 = Pareto front).",
    ]
    if seeded:
        lines.append("Acc. CI95: t interval of the mean over the trial's seeds.")
    if seeded or summary.unresolved:
        lines.append(f"Not resolved: {UNRESOLVED_MEANING}.")
    if summary.possibly_on_front:
        lines.append("Possibly on the front: off it, but no trial dominates it for sure within the intervals.")
    return headers, body, lines


def _md_cell(text: str) -> str:
    return text.replace("|", r"\|")


def markdown_chunks(summary: StudySummary, front_only: bool = False) -> Iterator[str]:
    """A pipe table, numbers right-aligned, with a pandoc-style 'Table:' caption below it."""
    headers, body, lines = paper_table(summary, front_only)
    align = [":--" if i < 3 else "--:" for i in range(len(headers))]
    for row in [headers, align, *body]:
        yield "| " + " | ".join(_md_cell(c) for c in row) + " |\n"
    yield "\nTable: " + " ".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    escaped = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    return escaped.replace("±", r"$\pm$").replace("≤", r"$\le$")


def latex_chunks(summary: StudySummary, front_only: bool = False) -> Iterator[str]:
    """A booktabs table environment; needs \\usepackage{booktabs}."""
    headers, body, lines = paper_table(summary, front_only)
    label = re.sub(r"[^A-Za-z0-9:-]+", "-", summary.study.name)
    yield f"% cbam-bench export of study {latex_escape(summary.study.name)}; needs \\usepackage{{booktabs}}\n"
    yield "\\begin{table}[t]\n\\centering\n\\small\n"
    yield "\\caption{" + latex_escape(" ".join(lines)) + "}\n"
    yield f"\\label{{tab:{label}}}\n"
    yield "\\begin{tabular}{" + "rll" + "r" * (len(headers) - 4) + "l}\n\\toprule\n"
    yield " & ".join(latex_escape(h) for h in headers) + " \\\\\n\\midrule\n"
    for row in body:
        yield " & ".join(latex_escape(c) for c in row) + " \\\\\n"
    yield "\\bottomrule\n\\end{tabular}\n\\end{table}\n"


_RENDERERS = {"csv": csv_chunks, "json": json_chunks, "md": markdown_chunks, "latex": latex_chunks}


def export(summary: StudySummary, fmt: str, out: str | Path, front_only: bool = False) -> Path:
    """Write the study in fmt to out atomically; returns the path written."""
    return write_atomic(out, _RENDERERS[fmt](summary, front_only))
