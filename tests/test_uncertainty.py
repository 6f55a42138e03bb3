"""Uncertainty on the front: each trial's 95 % interval over its seeds, and the "not resolved" mark."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from cbam_bench.metrics import Objective
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.report.export import export_rows, paper_table
from cbam_bench.report.plots import plot_study
from cbam_bench.report.summary import summarize, to_json
from cbam_bench.trial_attrs import TrialAttrs
from cbam_bench.uncertainty import trial_interval, unresolved

OBJECTIVES = (Objective("accuracy", "max"), Objective("macs", "min"))
HALF = 4.302652729911275 * 0.01 / math.sqrt(3)  # t(0.975, 2 df) * sd 0.01 / sqrt(3 seeds)


def _trial(number: int, seeds: list[float], macs: float, kind: str = "cbam") -> TrialRecord:
    mean = sum(seeds) / len(seeds)
    attrs = TrialAttrs(
        accuracy=mean,
        seed_accuracies=seeds,
        seeds=len(seeds),
        macs=int(macs),
        summary=kind,
        arch={"attention": {"kind": kind}},
        feasible=True,
    )
    return TrialRecord(number, "complete", (mean, macs), attrs=attrs)


def study(*trials: TrialRecord) -> StudyRecords:
    return StudyRecords("u", OBJECTIVES, trials)


# All three are on the front by their means (0.91 at 2M, 0.88 at 1M, 0.81 at 0.5M MACs).
A = _trial(0, [0.90, 0.91, 0.92], 2e6)
B = _trial(1, [0.87, 0.88, 0.89], 1e6)
C = _trial(2, [0.80, 0.81, 0.82], 5e5, "none")


def test_interval_by_hand() -> None:
    iv = trial_interval(A)
    assert iv is not None and (iv.low, iv.high) == (pytest.approx(0.91 - HALF), pytest.approx(0.91 + HALF))
    assert trial_interval(_trial(3, [0.9], 1e6)) is None  # one seed: no interval


def test_a_member_another_dominates_within_the_intervals_is_not_resolved() -> None:
    s = study(A, B, C)
    # A's interval starts at 0.885; B is cheaper and reaches 0.905: B may be as accurate -> A not resolved.
    # B's starts at 0.855; C (the only cheaper one) reaches only 0.835 -> resolved. C: nothing is cheaper.
    assert unresolved(s, [A, B, C]) == {0: 1}
    # B five points lower (0.805-0.855): it no longer reaches A's 0.885, so A is resolved, but C's
    # interval (up to 0.835) now reaches B's lower end: B is not resolved.
    lower = _trial(1, [0.82, 0.83, 0.84], 1e6)
    assert unresolved(study(A, lower, C), [A, lower, C]) == {1: 2}
    # One seed says nothing about spread: single-seed members are never marked.
    single = [_trial(0, [0.91], 2e6), _trial(1, [0.905], 1e6)]
    assert unresolved(study(*single), single) == {}


def test_a_rivals_interval_counts_against_a_member_without_one() -> None:
    # M, one seed at 0.93 with 3M MACs, is on the front by its point (A's mean is 0.91), but A is
    # cheaper and its interval reaches 0.91 + 0.0248 = 0.9348 >= 0.93: A may be the more accurate,
    # so M is not resolved, by A. At 0.94 A's interval no longer reaches it.
    m = _trial(3, [0.93], 3e6)
    assert 0.91 + HALF > 0.93 and unresolved(study(A, m), [A, m]) == {3: 0}
    far = _trial(3, [0.94], 3e6)
    assert 0.91 + HALF < 0.94 and unresolved(study(A, far), [A, far]) == {}
    # And the other way: A, with its interval at its worst (0.885), against a one-seed rival that
    # is cheaper at 0.89: the rival at its point dominates A at its worst, so A is not resolved.
    cheap = _trial(4, [0.89], 1e6)
    assert unresolved(study(A, cheap), [A, cheap]) == {0: 4}


def test_report_export_and_plot_carry_the_intervals(tmp_path: Path) -> None:
    summary = summarize(study(A, B, C))
    doc = to_json(summary)
    item = {i["trial"]: i for i in doc["front"]}
    assert item[0]["not_resolved_by"] == 1 and item[1]["not_resolved_by"] is None
    assert item[0]["accuracy_interval"]["low"] == pytest.approx(0.91 - HALF) and item[0]["accuracy_interval"]["n"] == 3
    rows = {r["trial"]: r for r in export_rows(summary)}
    assert json.loads(json.dumps(rows[2]["accuracy_interval"]))["high"] == pytest.approx(0.81 + HALF)
    headers, body, lines = paper_table(summary)
    assert "Acc. CI95 (%)" in headers and any("(not resolved: #1)" in row[-1] for row in body)
    assert plot_study(summary, tmp_path / "front.png").read_bytes()[:4] == b"\x89PNG"


RATIO_OBJECTIVES = (Objective("accuracy", "max"), Objective("latency_ratio", "min"))


def _timed(number: int, accuracy: float, ratio: float, bounds: list[float] | None, kind: str = "cbam") -> TrialRecord:
    attrs = TrialAttrs(
        accuracy=accuracy,
        seed_accuracies=[accuracy],
        seeds=1,
        latency_ratio=ratio,
        latency_ratio_interval=bounds,
        summary=kind,
        arch={"attention": {"kind": kind}},
        feasible=True,
    )
    return TrialRecord(number, "complete", (accuracy, ratio), attrs=attrs)


def test_a_latency_ratio_within_another_trials_timing_interval_is_not_resolved() -> None:
    plain = _timed(0, 0.90, 1.0, [1.0, 1.0], "none")
    # X is on the front by its median ratio (1.05 below Y's 1.12), but Y is more accurate and its
    # interval reaches down to 1.07, inside X's (up to 1.10): Y may be as cheap, so X is not resolved.
    x, y = _timed(1, 0.92, 1.05, [1.01, 1.10]), _timed(2, 0.93, 1.12, [1.07, 1.17])
    assert unresolved(StudyRecords("r", RATIO_OBJECTIVES, (plain, x, y)), [plain, x, y]) == {1: 2}
    # The plain network's ratio is exact, but X's interval reaching 1 says X may cost nothing extra;
    # X is more accurate, so then it would dominate the plain network, which is not resolved either.
    free = _timed(1, 0.92, 1.05, [1.00, 1.10])
    assert unresolved(StudyRecords("r", RATIO_OBJECTIVES, (plain, free, y)), [plain, free, y]) == {0: 1, 1: 2}
    # Y timed more tightly (from 1.11): it no longer reaches X's 1.10, and X is resolved.
    tight = _timed(2, 0.93, 1.12, [1.11, 1.17])
    assert unresolved(StudyRecords("r", RATIO_OBJECTIVES, (plain, x, tight)), [plain, x, tight]) == {}
    # Without stored intervals (one seed, a timing under six rounds) nothing is marked.
    bare = [_timed(1, 0.92, 1.05, None), _timed(2, 0.93, 1.12, None)]
    assert unresolved(StudyRecords("r", RATIO_OBJECTIVES, (plain, *bare)), [plain, *bare]) == {}


def test_the_front_table_marks_it_and_json_carries_the_ratio_interval() -> None:
    from rich.console import Console

    from cbam_bench.report.tables import front_table

    plain = _timed(0, 0.90, 1.0, [1.0, 1.0], "none")
    x, y = _timed(1, 0.92, 1.05, [1.01, 1.10]), _timed(2, 0.93, 1.12, [1.07, 1.17])
    console = Console(width=160, record=True)
    console.print(front_table(summarize(StudyRecords("r", RATIO_OBJECTIVES, (plain, x, y)))))
    text = console.export_text()
    assert "not resolved (#2)" in text and "the latency ratio's over the timed rounds" in text
    assert "CI95 (%)" not in text  # one seed each: no accuracy interval; the ratio's is in --json
    row = {i["trial"]: i for i in to_json(summarize(StudyRecords("r", RATIO_OBJECTIVES, (plain, x, y))))["front"]}
    assert row[1]["latency_ratio_interval"] == [1.01, 1.1] and row[1]["not_resolved_by"] == 2


def test_the_plot_draws_the_ratio_the_study_optimises_with_its_interval(tmp_path: Path) -> None:
    from cbam_bench.report.plots import plot_metrics

    def costed(t: TrialRecord) -> TrialRecord:
        attrs = dataclasses.replace(t.attrs, macs=10**6 + t.number, latency_ms=1.0 + t.number)
        return dataclasses.replace(t, attrs=attrs)

    trials = tuple(
        costed(t)
        for t in (
            _timed(0, 0.90, 1.0, [1.0, 1.0], "none"),
            _timed(1, 0.92, 1.05, [1.01, 1.10]),
            _timed(2, 0.93, 1.12, [1.07, 1.17]),
        )
    )
    by_ratio = summarize(StudyRecords("r", RATIO_OBJECTIVES, trials))
    assert plot_metrics(by_ratio) == ["macs", "latency_ratio"]  # the ratio instead of the noisier ms
    for objectives, panels in (
        ((*RATIO_OBJECTIVES, Objective("latency_ms", "min")), ["macs", "latency_ms", "latency_ratio"]),
        (OBJECTIVES, ["macs", "latency_ms"]),  # a study that does not optimise the ratio: as before
    ):
        valued = tuple(dataclasses.replace(t, values=tuple(t.measure(o.metric) for o in objectives)) for t in trials)
        assert plot_metrics(summarize(StudyRecords("r", objectives, valued))) == panels
    assert plot_metrics(summarize(StudyRecords("r", RATIO_OBJECTIVES, ()))) == ["macs"]
    assert plot_study(by_ratio, tmp_path / "ratio.png").read_bytes()[:4] == b"\x89PNG"  # horizontal error bars


def test_the_ratio_panel_draws_each_members_timing_interval_red_where_unresolved() -> None:
    from cbam_bench.report.plots import _error_bars

    class Axes:
        def __init__(self) -> None:
            self.bars: list[tuple[list[float], list[float], dict]] = []

        def errorbar(self, x: list[float], y: list[float], **kw: object) -> None:
            self.bars.append((x, y, kw))

    plain = _timed(0, 0.90, 1.0, [1.0, 1.0], "none")
    x, y = _timed(1, 0.92, 1.05, [1.01, 1.10]), _timed(2, 0.93, 1.12, [1.07, 1.17])
    summary = summarize(StudyRecords("r", RATIO_OBJECTIVES, (plain, x, y)))
    axes = Axes()
    _error_bars(axes, summary, [x, y], "latency_ratio", 1.0)
    (x1, y1, kw1), (x2, y2, kw2) = axes.bars
    assert (x1, y1, kw1["yerr"], kw1["ecolor"]) == ([1.05], [92.0], None, "tab:red")  # not resolved (#2)
    assert kw1["xerr"] == [[pytest.approx(0.04)], [pytest.approx(0.05)]]
    assert (x2, kw2["xerr"], kw2["ecolor"]) == ([1.12], [[pytest.approx(0.05)], [pytest.approx(0.05)]], "black")
    costed = [dataclasses.replace(t, attrs=dataclasses.replace(t.attrs, macs=10**6)) for t in (x, y)]
    axes = Axes()
    _error_bars(axes, summary, costed, "macs", 1.0)  # no interval on MACs, one seed: nothing to draw
    assert axes.bars == []


def test_a_trial_off_the_front_that_nothing_surely_dominates_is_possibly_on_it() -> None:
    from cbam_bench.dominance import dominated_by

    # A make run's case: SE timed at 0.995 of the plain network knocks it off the front, but SE's
    # interval reaches 1.05; at its worst SE is costlier than the plain network, which may be on the front.
    plain = _timed(0, 0.917, 1.0, [1.0, 1.0], "none")
    se = _timed(1, 0.946, 0.995, [0.95, 1.05], "se")
    worse = _timed(2, 0.90, 1.30, [1.28, 1.33])  # below SE and costlier than its worst: surely dominated
    study_ = StudyRecords("r", RATIO_OBJECTIVES, (plain, se, worse))
    summary = summarize(study_)
    assert [t.number for t in summary.front] == [1] and summary.possibly_on_front == [0]
    assert to_json(summary)["possibly_on_front"] == [0]
    rows = {r["trial"]: r for r in export_rows(summary)}
    assert rows[0]["possibly_on_front"] is True and rows[2]["possibly_on_front"] is False
    _, body, lines = paper_table(summary)
    assert any(row[0] == "0" and row[-1].endswith("(possibly on the front)") for row in body)
    # SE resolved below the plain network's cost: then it surely dominates it.
    cheap = _timed(1, 0.946, 0.97, [0.95, 0.99], "se")
    assert summarize(StudyRecords("r", RATIO_OBJECTIVES, (plain, cheap, worse))).possibly_on_front == []
    # Without intervals the front is exact and nothing is possibly on it.
    exact = [_timed(t.number, t.attrs.accuracy, t.attrs.latency_ratio, None) for t in (plain, se, worse)]
    assert summarize(StudyRecords("r", RATIO_OBJECTIVES, tuple(exact))).possibly_on_front == []
    # dominated_by compares against the candidates' front only, with the same answers as pair by pair.
    assert dominated_by([(0, 0), (1, 1), (0, 2)], [(1, 1), (0, 0), (-1, 5), (0, 3)]) == [True, False, False, True]
    assert dominated_by([], [(1, 1)]) == [False] and dominated_by([(0, 0)], []) == []


def test_dominated_by_agrees_with_the_pairwise_definition_in_three_objectives() -> None:
    import random

    from cbam_bench.dominance import dominated_by
    from cbam_bench.pareto import dominates

    rng = random.Random(0)
    candidates = [tuple(rng.randint(0, 9) for _ in range(3)) for _ in range(300)]
    points = [tuple(rng.randint(0, 9) for _ in range(3)) for _ in range(600)]  # more than one block
    expected = [any(dominates(c, p) for c in candidates) for p in points]
    assert dominated_by(candidates, points) == expected and 0 < sum(expected) < len(points)


def test_the_front_table_names_what_may_be_on_the_front_a_few_at_a_time() -> None:
    from rich.console import Console

    from cbam_bench.report.tables import front_table

    plain = _timed(0, 0.917, 1.0, [1.0, 1.0], "none")
    se = _timed(1, 0.946, 0.995, [0.95, 1.05], "se")
    # seven more trials just below SE's accuracy, each within SE's timing interval
    close = [_timed(n, 0.94, 1.0 + n / 1000, [0.96, 1.04]) for n in range(2, 9)]

    def caption(*trials: TrialRecord) -> str:
        console = Console(width=200, record=True)
        console.print(front_table(summarize(StudyRecords("r", RATIO_OBJECTIVES, trials))))
        return " ".join(console.export_text().split())

    assert "Possibly on the front too, as no trial dominates it for sure: #0 (none)." in caption(plain, se)
    text = caption(plain, se, *close)
    assert "#0 (none), #2 (cbam), #3 (cbam), #4 (cbam), #5 (cbam) and 3 more (--json lists them)." in text
