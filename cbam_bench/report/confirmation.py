"""A confirmation as people read it: search and confirmed accuracy side by side, then the agreement."""

from __future__ import annotations

from rich.table import Table

from cbam_bench.confirmation import Confirmation
from cbam_bench.metrics import METRICS
from cbam_bench.report.format import DASH, placement_label
from cbam_bench.report.tables import WRAPPING, rich_table


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def score_word(c: Confirmation) -> str:
    """What the confirmation retrains for: accuracy, or a detection study's first objective (mAP, mAP@.5)."""
    if c.study.task == "classification" or not c.study.objectives:
        return "accuracy"
    return METRICS[c.study.objectives[0].metric].label


def confirmation_table(c: Confirmation) -> Table:
    """One row per member: its search accuracy, each confirmed run, mean ± std and the 95 % interval."""
    title = f"Confirmation of {c.study.name}: {c.epochs} epochs x {c.seeds} seed(s) ({score_word(c)}, %)"
    headers = ("#", "attention", "placement", "search", "runs", "confirmed", "CI95")
    caption = ["CI95: t interval for the mean over the confirmation's seeds."]
    table = rich_table(title, headers, 3, caption, wrap=(*WRAPPING, "runs"))  # one seed's run to a line, if need be
    for m in c.confirmed:
        iv = m.interval
        runs = " ".join(_pct(m.runs[s]) for s in sorted(m.runs)) or DASH
        mean = DASH if iv is None else _pct(iv.mean) + (f" ± {_pct(iv.sd)}" if iv.n > 1 else "")
        ci = DASH if iv is None or iv.n < 2 else f"{_pct(iv.low)}-{_pct(iv.high)}"
        table.add_row(
            str(m.trial.number), m.trial.summary, placement_label(m.trial.arch), _pct(m.searched), runs, mean, ci
        )
    return table


def _pick_line(what: str, pair: tuple[int | None, int | None]) -> str:
    search, confirmed = pair
    if search == confirmed:
        return f"{what}: the same (trial {search})"
    return f"{what}: changed (trial {search} by search, trial {confirmed} confirmed)"


def confirmation_lines(c: Confirmation) -> list[str]:
    """Rank agreement (Kendall's tau and its n), whether the knee and budget pick stay, and the verdict."""
    ranked, tau = c.ranked, c.tau
    if len(ranked) < 2:
        return [f"Rank agreement: needs two confirmed members; {len(ranked)} confirmed so far."]
    shown = "undefined (a constant ranking)" if tau is None else f"{tau:+.2f}"
    picks = c.picks()
    names = {"knee": "knee", "pick": "budget pick"}
    parts = [_pick_line(names[k], pair) for k, pair in picks.items()]
    lines = [
        f"Rank agreement, search against confirmed {score_word(c)}: Kendall's tau {shown} over n = {len(ranked)} "
        f"members; among them, {'; '.join(parts)}."
    ]
    if c.held is False:
        lines.append(
            "The short-run ranking did not hold: the confirmation orders these networks differently "
            f"from the search, so act on the confirmed {score_word(c)}."
        )
    return lines
