"""Our order of a paper table's trained rows against the paper's, pair by pair: for each pair our
accuracy difference with a 95% Welch interval, so that a disagreement is called resolved only when
seed noise cannot explain it, and the verdict in sentences."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from cbam_bench.compare import seed_sample
from cbam_bench.paper import AblationRow
from cbam_bench.records import TrialRecord
from cbam_bench.spec import AttentionSpec
from cbam_bench.stats import Interval, welch_interval


@dataclass(frozen=True)
class Row:
    """One row of a paper table: the paper's numbers and the trial that trained it here (if any)."""

    index: int  # 1-based, in the paper's printed order
    attention: AttentionSpec
    paper: AblationRow
    trial: TrialRecord | None

    @property
    def accuracy(self) -> float | None:
        return self.trial.attrs.accuracy if self.trial is not None else None


@dataclass(frozen=True)
class Pair:
    """Two rows in the paper's order (`better` has the lower top-1 error) and our difference.

    delta = our accuracy of `better` minus that of `worse`: positive when we agree with the paper.
    """

    better: Row
    worse: Row
    delta: float
    interval: Interval | None  # 95% Welch interval of delta; None without two seeds on each side

    @property
    def agrees(self) -> bool:
        return self.delta > 0

    @property
    def resolved(self) -> bool:
        """Whether the interval excludes 0, so that seed noise does not explain the difference."""
        return self.interval is not None and self.interval.excludes_zero

    def to_dict(self) -> dict[str, Any]:
        return {
            "better_row": self.better.index,
            "worse_row": self.worse.index,
            "better": self.better.paper.label,
            "worse": self.worse.paper.label,
            "paper_top1_gap": round(self.worse.paper.top1_err - self.better.paper.top1_err, 4),
            "delta": self.delta,
            "ci95": self.interval.to_dict() if self.interval else None,
            "agrees": self.agrees,
            "resolved": self.resolved,
        }


@dataclass(frozen=True)
class Ordering:
    """Our order of the trained rows against the paper's, pair by pair."""

    ours: tuple[Row, ...]  # best first by our mean accuracy
    paper: tuple[Row, ...]  # the same rows, best first by the paper's top-1 error
    pairs: tuple[Pair, ...]  # every pair of trained rows
    untrained: tuple[Row, ...]  # rows without a complete trial, left out

    @property
    def agrees(self) -> bool | None:
        """Whether every pair is ordered as in the paper; None with fewer than two trained rows."""
        return all(p.agrees for p in self.pairs) if self.pairs else None

    @property
    def unresolved(self) -> tuple[Pair, ...]:
        return tuple(p for p in self.pairs if not p.resolved)

    @property
    def contradicted(self) -> tuple[Pair, ...]:
        """Pairs we order against the paper with an interval that excludes 0."""
        return tuple(p for p in self.pairs if not p.agrees and p.resolved)


def _paper_rank(row: Row) -> tuple[float, float, int]:
    return (row.paper.top1_err, row.paper.top5_err, row.index)


def order_rows(rows: list[Row] | tuple[Row, ...]) -> Ordering:
    """Compare our order of the rows with the paper's, with a Welch interval per pair.

    Our order is by mean validation accuracy (higher first); ties keep the paper's order. A pair
    is resolved when the 95% interval of its difference excludes 0; with fewer than two seeds on a
    side there is no interval and nothing is resolved.
    """
    trained = [r for r in rows if r.accuracy is not None]
    paper = sorted(trained, key=_paper_rank)
    ours = sorted(paper, key=lambda r: -(r.accuracy or 0.0))
    pairs = []
    for better, worse in itertools.combinations(paper, 2):
        assert better.trial is not None and worse.trial is not None
        a, b = seed_sample(better.trial), seed_sample(worse.trial)
        interval = welch_interval(a[0], b[0]) if a and b else None
        pairs.append(Pair(better, worse, (better.accuracy or 0.0) - (worse.accuracy or 0.0), interval))
    untrained = tuple(r for r in rows if r.accuracy is None)
    return Ordering(tuple(ours), tuple(paper), tuple(pairs), untrained)


def points(value: float) -> str:
    """A difference of fractions in signed percentage points: +1.23."""
    return f"{100 * value:+.2f}"


def _pair_text(p: Pair) -> str:
    where = (
        f" [{points(p.interval.low)}, {points(p.interval.high)}]" if p.interval else " (no interval: under two seeds)"
    )
    return f"{p.better.index} vs {p.worse.index}: {points(p.delta)} pp{where}"


def _chain(rows: tuple[Row, ...]) -> str:
    return " > ".join(str(r.index) for r in rows)


def verdict_lines(ordering: Ordering) -> list[str]:
    """What the ordering says, in sentences; rows are named by their number in the table."""
    lines: list[str] = []
    if ordering.agrees is None:
        lines.append("Ordering: fewer than two rows have a complete trial yet; nothing to compare.")
    elif ordering.agrees:
        lines.append(f"Ordering: agrees with the paper's (best first: {_chain(ordering.ours)}).")
    else:
        wrong = sum(1 for p in ordering.pairs if not p.agrees)
        lines.append(
            f"Ordering: differs from the paper's in {wrong} of {len(ordering.pairs)} pairs "
            f"(ours, best first: {_chain(ordering.ours)}; the paper's: {_chain(ordering.paper)})."
        )
    if ordering.pairs:
        if all(p.interval is None for p in ordering.pairs):
            lines.append("Not resolved: fewer than two seeds per row, so no difference between rows has an interval.")
        elif ordering.unresolved:
            lines.append(
                "Not resolved, the 95% Welch interval of our accuracy difference includes 0 "
                "(the paper's better row first, in pp): " + "; ".join(_pair_text(p) for p in ordering.unresolved) + "."
            )
        else:
            lines.append("Every difference between rows is resolved (95% Welch intervals exclude 0).")
        if ordering.contradicted:
            lines.append(
                "Resolved against the paper (the paper's better row first, in pp): "
                + "; ".join(_pair_text(p) for p in ordering.contradicted)
                + "."
            )
        elif not ordering.agrees and all(p.interval is not None for p in ordering.pairs if not p.agrees):
            lines.append(
                "Every pair we order differently from the paper is within seed noise (not resolved), "
                "so our results do not contradict the paper's order."
            )
    if ordering.untrained:
        lines.append(
            "No complete trial yet, left out: row " + ", ".join(str(r.index) for r in ordering.untrained) + "."
        )
    return lines
