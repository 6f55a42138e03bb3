"""Rich tables for people: the front, every trial with its rank, and comparisons against a baseline.

Numbers are right-aligned and never wrapped; long labels (attention, notes) wrap instead, so a
120-column terminal shows every number in full.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table

from cbam_bench.compare import Comparison
from cbam_bench.metrics import METRICS, TASK_SCORES
from cbam_bench.records import TrialRecord
from cbam_bench.report import plain
from cbam_bench.report.format import DASH, caption, cells, column, columns, conventions, placement_label
from cbam_bench.report.summary import StudySummary
from cbam_bench.uncertainty import UNRESOLVED_MEANING

# The terminal shows these, the study task's scores (detection: both mAPs) and any other objective
# of the study; exports show every measure.
TABLE_METRICS = ("params", "macs", "latency_ms")
TABLE_SCORES = {"classification": ("accuracy",), "detection": ("map", "map50")}
# The unnamed last column of a front: knee, budget pick, "not resolved (#N)".
MARKS = ""
# Text columns that wrap at spaces when the terminal is narrow (cli.output.print_table). A placement
# label has no space, so it is kept whole rather than cut as "all/all/resid" over "ual".
WRAPPING = ("attention", "note", "paper's row", MARKS)


def rich_table(
    title: str, headers: Sequence[str], text_columns: int, caption_lines: Sequence[str], wrap: Sequence[str] = WRAPPING
) -> Table:
    """A table in the tool's style: the first `text_columns` and those in `wrap` left, numbers right,
    the caption below."""
    table = Table(
        title=title,
        caption="\n".join(["", *caption_lines]) if caption_lines else None,
        caption_justify="left",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,  # its blank edges cost two of 80 columns; a blank line opens the caption instead
        pad_edge=False,
        collapse_padding=True,
    )
    for i, header in enumerate(headers):
        wraps = header in wrap
        table.add_column(
            header,
            justify="left" if i < text_columns or wraps else "right",
            no_wrap=not wraps,
            overflow="fold",
            max_width=40 if header == "note" else None,
        )
    return table


def _metrics(summary: StudySummary) -> list[str]:
    objectives = [o.metric for o in summary.study.objectives if o.metric in METRICS]
    scores = TABLE_SCORES.get(summary.study.task, ())
    shown = [m for m in METRICS if m in TABLE_METRICS or m in scores or m in objectives]
    if "latency_ratio" in objectives and "latency_ms" not in objectives:
        shown.remove("latency_ms")  # the ratio stands in for it, so the table still fits 80 columns; exports keep both
    return shown


def _marks(summary: StudySummary, trial: TrialRecord) -> str:
    marks = []
    if summary.knee is not None and trial.number == summary.knee.number:
        marks.append("knee")
    if summary.pick is not None and trial.number == summary.pick.number:
        marks.append("pick")
    if trial.number in summary.unresolved:
        marks.append(f"not resolved (#{summary.unresolved[trial.number]})")
    return ", ".join(marks)


LISTED = 5  # trials named in a caption; --json lists them all


def _listed(summary: StudySummary) -> str:
    numbers = summary.possibly_on_front
    trials = [t for n in numbers[:LISTED] if (t := summary.study.trial(n)) is not None]
    more = f" and {len(numbers) - LISTED} more (--json lists them)" if len(numbers) > LISTED else ""
    return ", ".join(f"#{t.number} ({t.summary})" for t in trials) + more


def front_table(summary: StudySummary) -> Table:
    """The Pareto front, best first, knee and budget pick marked, units and conventions in the caption."""
    study = summary.study
    cols = columns(summary.front, _metrics(summary))
    objectives = ", ".join(str(o) for o in study.objectives)
    title = f"Pareto front of {study.name} ({objectives}): {len(summary.front)} of {len(study.usable)} complete trials"
    seeded = any(t.number in summary.intervals for t in summary.front)
    notes = caption(summary.front, cols, study.objectives)
    if seeded:
        notes.append("CI95: t interval of the mean accuracy over the seeds.")
    if seeded or summary.unresolved:  # the latency ratio's interval stays in --json and exports: 80 columns
        notes.append(f"not resolved: {UNRESOLVED_MEANING}, so its place on the front may be luck.")
    if summary.possibly_on_front:
        notes.append(f"Possibly on the front too, as no trial dominates it for sure: {_listed(summary)}.")
    table = rich_table(
        title,
        ["#", "attention", "placement", *(c.header for c in cols), *(["CI95 (%)"] if seeded else []), MARKS],
        3,
        notes,
    )
    for t in summary.front:
        iv = summary.intervals.get(t.number)
        ci = [DASH if iv is None else f"{100 * iv.low:.1f}-{100 * iv.high:.1f}"] if seeded else []
        table.add_row(str(t.number), t.summary, placement_label(t.arch), *cells(t, cols), *ci, _marks(summary, t))
    return table


def trials_table(summary: StudySummary, width: int = 120) -> str:
    """Every trial with its status and dominance rank (1 = on the front), as plain text (report.plain:
    a study may hold tens of thousands of trials, too many for Rich to draw in seconds)."""
    study = summary.study
    trials = sorted(study.trials, key=lambda t: (summary.ranks.get(t.number, 10**9), t.number))
    cols = columns(trials, _metrics(summary))
    headers = ["#", "status", "rank", "attention", "placement", *(c.header for c in cols), "note"]
    rows = []
    for t in trials:
        rank = summary.ranks.get(t.number)
        note = t.attrs.fail_reason or (f"reused trial {t.reused_from}" if t.reused_from is not None else "")
        rows.append(
            [
                str(t.number),
                t.status,
                DASH if rank is None else str(rank),
                t.summary,
                placement_label(t.arch),
                *cells(t, cols),
                str(note),
            ]
        )
    return plain.render(
        f"All trials of {study.name}, by dominance rank",
        headers,
        rows,
        right=set(range(5, 5 + len(cols))),
        wrapping={i for i, h in enumerate(headers) if h in WRAPPING},
        caption=caption(trials, cols, study.objectives),
        width=width,
    )


def _signed(value: float | None, scale: float, digits: int, unit: str) -> str:
    return DASH if value is None else f"{value * scale:+.{digits}f}{unit}"


# How a comparison names the score it compares: short name, what it is, its per-seed values.
_COMPARED_SCORE = {
    "accuracy": ("acc", "validation top-1", "accuracies"),
    "map": ("mAP", "COCO mAP@[.5:.95] on the validation split", "mAPs"),
}


def _compared_latency(comparisons: Sequence[Comparison]) -> str:
    """The latency column: the ratio where every row's change comes from it (so the column and the
    changes agree), else the median in ms."""
    rows = [c for c in comparisons if not c.is_baseline and c.delta.get("latency_pct") is not None]
    ratios = all(c.entry.trial.measure("latency_ratio") is not None for c in comparisons)
    return "latency_ratio" if rows and ratios and all(c.latency_from == "latency_ratio" for c in rows) else "latency_ms"


def _compare_caption(comparisons: Sequence[Comparison], score: str, latency: str, seeded: bool) -> list[str]:
    """What compare_table's columns mean: the score, the changes, the latency's source and the intervals."""
    short, what, runs = _COMPARED_SCORE[score]
    trials = [c.entry.trial for c in comparisons]
    sources = sorted({c.interval_source for c in comparisons if c.interval_source})
    return [
        f"{METRICS[score].label}: {what}, mean over seeds. Δ {short}: its change in percentage points. (+x%): "
        "change of MACs, params and latency relative to the baseline.",
        f"MACs: {METRICS['macs'].convention}. {METRICS[latency].label}: {conventions(trials, [latency])[latency]}.",
        *(
            []
            if latency == "latency_ratio" or not any(c.latency_from == "latency_ratio" for c in comparisons)
            else ["(+x%) of latency: from the latency ratios where a row and its baseline have one (drift cancels)."]
        ),
        f"CI95: 95% Welch t interval of Δ {short} from per-seed {runs}"
        + (f" ({', '.join(sources)})" if sources else "")
        + ", shown when both sides have two or more seeds; "
        "excl. 0: the interval excludes 0, so the difference is resolved."
        if seeded
        else f"One seed per trial: no confidence interval of Δ {short} (search with --seeds 2 or more).",
    ]


def compare_table(comparisons: Sequence[Comparison]) -> Table:
    """Each entry with its measures and, in brackets, their change against its baseline."""
    trials = [c.entry.trial for c in comparisons]
    score = comparisons[0].score if comparisons else "accuracy"
    short = _COMPARED_SCORE[score][0]
    latency = _compared_latency(comparisons)
    cols = {m: column(m, [t.measure(m) for t in trials]) for m in (score, "macs", "params", latency)}
    baselines = {c.baseline.ref for c in comparisons if c.baseline} | {
        c.entry.ref for c in comparisons if c.is_baseline
    }
    shared = len(baselines) == 1
    # Interval columns only when some row has one (two or more seeds), so narrow terminals fit.
    seeded = any(c.interval is not None for c in comparisons)
    headers = [
        "trial",
        "attention",
        *([] if shared else ["vs"]),
        cols[score].header,
        f"Δ {short} (pp)",
        *(["CI95 (pp)", "excl. 0"] if seeded else []),
        *(cols[m].header for m in ("macs", "params", latency)),
    ]
    lines = _compare_caption(comparisons, score, latency, seeded)
    title = "Comparison against " + (f"baseline {next(iter(baselines))}" if shared else "each row's baseline (vs)")
    table = rich_table(title, headers, 3 if shared else 4, lines)

    def with_delta(metric: str, trial: TrialRecord, delta: float | None) -> str:
        text = cols[metric].cell(trial.measure(metric))
        return text if delta is None else f"{text}\n({delta:+.1f}%)"  # two lines keep 80 columns

    for c in comparisons:
        t, d, i = c.entry.trial, c.delta, c.interval
        vs = "baseline" if c.is_baseline else c.baseline.ref if c.baseline else DASH
        table.add_row(
            c.entry.ref,
            t.summary,
            *([] if shared else [vs]),
            cols[score].cell(t.measure(score)),
            "baseline" if c.is_baseline else _signed(d.get(score), 100, 2, ""),
            *(
                [
                    DASH if i is None else f"[{100 * i.low:+.2f}, {100 * i.high:+.2f}]",
                    DASH if i is None else "yes" if i.excludes_zero else "no",
                ]
                if seeded
                else []
            ),
            with_delta("macs", t, d.get("macs_pct")),
            with_delta("params", t, d.get("params_pct")),
            with_delta(latency, t, d.get("latency_pct")),
        )
    return table


def _value(metric: str, value: float) -> str:
    unit = METRICS[metric].unit if metric in METRICS else ""
    if unit == "%":
        return f"{100 * value:.2f}%"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:g} {unit}".rstrip()


def summary_lines(summary: StudySummary) -> list[str]:
    """Counts, hypervolume with its reference point, the knee, and the pick under the user's budgets."""
    study, counts = summary.study, summary.study.counts()
    lines = [
        f"Trials: {counts['complete']} complete, {counts['reused']} reused (same network as an earlier trial), "
        f"{counts['infeasible']} over budget (never trained), "
        f"{counts['pruned']} pruned, {counts['failed']} failed, {counts['duplicate']} duplicates (not trained: "
        f"another trial had the network), {counts['running']} running; {counts['total']} in all."
    ]
    ref = ", ".join(f"{m} {_value(m, v)}" for m, v in summary.reference.items())
    norm = summary.normalized_hypervolume
    lines.append(
        f"Hypervolume: {summary.hypervolume:.6g} in the objectives' stored units (reference point: {ref or 'none'})"
        + (
            f"; {norm:.4f} of the box from the ideal point (accuracy 100%, cost 0) to the reference."
            if norm is not None
            else "."
        )
    )
    if summary.knee is not None:
        lines.append(
            f"Knee: trial {summary.knee.number} ({summary.knee.summary}), the front member farthest beyond "
            "the plane through the front's extremes, each objective scaled to [0, 1] over the front."
        )
    if summary.budgets:
        caps = ", ".join(f"{m} <= {_value(m, v)}" for m, v in summary.budgets.items())
        if summary.pick is None:
            lines.append(f"Within {caps}: no complete trial.")
        else:
            p, score = summary.pick, TASK_SCORES[study.task][0]
            lines.append(
                f"Within {caps}: trial {p.number} ({p.summary}) is the most accurate, {score} "
                f"{_value(score, p.measure(score) or 0.0)}."
            )
    if not study.usable:
        lines.append("No complete trial within budget yet: the front is empty.")
    return lines
