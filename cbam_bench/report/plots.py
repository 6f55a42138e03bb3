"""Accuracy against MACs and against latency (or the latency ratio the study optimises), as a PNG:
the front labelled with its 95 % intervals as error bars (the seeds' on accuracy, the timed rounds'
on the ratio; red: not resolved), the baseline marked.

Drawn on a bare Figure with the Agg canvas, so no pyplot state, display or backend setting is
involved, and written atomically like every other file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cbam_bench.files import write_png
from cbam_bench.records import TrialRecord
from cbam_bench.report.format import column, latency_setups
from cbam_bench.report.summary import StudySummary
from cbam_bench.uncertainty import RATIO_METRIC, ratio_bounds

X_METRICS = {
    "macs": "MACs ({unit}): multiply-adds of conv and linear layers",
    "latency_ms": "latency (ms): median on {setup}",
    "latency_ratio": "latency ratio to no attention, on {setup}",
}


def _points(trials: Sequence[TrialRecord], metric: str, divisor: float) -> tuple[list[float], list[float]]:
    pairs = [
        (x / divisor, 100 * y)
        for t in trials
        if (x := t.measure(metric)) is not None and (y := t.attrs.accuracy) is not None
    ]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _error_bars(ax: Any, summary: StudySummary, shown: Sequence[TrialRecord], metric: str, divisor: float) -> None:
    """95 % intervals of the front's mean accuracy (two or more seeds) and, on the latency-ratio panel,
    of each member's ratio (its timed rounds); unresolved members in red."""
    for t in shown:
        iv = summary.intervals.get(t.number)
        bounds = ratio_bounds(t.attrs) if metric == RATIO_METRIC else None
        x, y = t.measure(metric), t.attrs.accuracy
        if (iv is None and bounds is None) or x is None or y is None:
            continue
        x, y = x / divisor, 100 * y
        color = "tab:red" if t.number in summary.unresolved else "black"
        ax.errorbar(
            [x],
            [y],
            yerr=None if iv is None else [[y - 100 * iv.low], [100 * iv.high - y]],
            xerr=None if bounds is None else [[x - bounds[0] / divisor], [bounds[1] / divisor - x]],
            fmt="none",
            ecolor=color,
            elinewidth=1,
            capsize=3,
            zorder=2,
        )


def plot_metrics(summary: StudySummary) -> list[str]:
    """The costs that get a panel: those the trials store, the latency ratio only where the study
    optimises it, and then instead of the latency in ms unless that is an objective too (as the
    front table does); MACs when nothing is stored yet."""
    objectives = {o.metric for o in summary.study.objectives}
    stored = [m for m in X_METRICS if any(t.measure(m) is not None for t in summary.study.usable)]
    if RATIO_METRIC not in objectives:
        stored = [m for m in stored if m != RATIO_METRIC]
    elif "latency_ms" not in objectives and RATIO_METRIC in stored:
        stored = [m for m in stored if m != "latency_ms"]
    return stored or ["macs"]


def plot_study(summary: StudySummary, path: str | Path) -> Path:
    """Write the PNG and return its path; one panel per cost of plot_metrics."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    study, front = summary.study, summary.front
    trials = study.usable
    numbers = {t.number for t in front}
    metrics = plot_metrics(summary)
    fig = Figure(figsize=(5.5 * len(metrics), 4.6), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        col = column(metric, [t.measure(metric) for t in trials])
        ax.scatter(
            *_points([t for t in trials if t.number not in numbers], metric, col.divisor),
            s=18,
            color="0.65",
            label="other complete trials",
        )
        shown = [t for t in front if t.measure(metric) is not None and t.attrs.accuracy is not None]
        fx, fy = _points(shown, metric, col.divisor)
        ax.scatter(fx, fy, s=46, color="tab:orange", edgecolors="black", linewidths=0.6, zorder=3, label="Pareto front")
        _error_bars(ax, summary, shown, metric, col.divisor)
        for t, x, y in zip(shown, fx, fy):
            ax.annotate(f"#{t.number} {t.summary}", (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7)
        if summary.knee is not None:
            kx, ky = _points([summary.knee], metric, col.divisor)
            ax.scatter(
                kx,
                ky,
                marker="*",
                s=240,
                color="tab:red",
                edgecolors="black",
                linewidths=0.6,
                zorder=4,
                label=f"knee (#{summary.knee.number})",
            )
        baseline = [t for t in trials if t.attention_kind == "none"]
        bx, by = _points(baseline, metric, col.divisor)
        ax.scatter(bx, by, marker="X", s=90, color="black", zorder=5, label="no attention (baseline)")
        ax.set_xlabel(
            X_METRICS[metric].format(unit=col.unit or "count", setup="; ".join(latency_setups(trials)) or "?")
        )
        ax.set_ylabel("accuracy (%): validation top-1")
        ax.grid(alpha=0.3)
        ax.margins(x=0.12, y=0.08)
        if not trials:
            ax.text(0.5, 0.5, "no complete trials yet", transform=ax.transAxes, ha="center", va="center")
    # Below the panels, not inside one, where it hid the points in its corner (constrained layout
    # makes room for an "outside" legend, matplotlib >= 3.7).
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize=7, frameon=False)
    objectives = ", ".join(str(o) for o in study.objectives)
    fig.suptitle(
        f"{study.name}: {len(front)} on the front ({objectives}) of {len(trials)} complete trials", fontsize=10
    )
    return write_png(fig, path)
