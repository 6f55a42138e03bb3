"""The ablation verdict on constructed rows (orderings and Welch intervals worked out by hand),
matching the paper's rows to trials, and planning the studies."""

from __future__ import annotations

import statistics

import pytest

from cbam_bench.ablate import match_rows, plan_ablation, tables_named
from cbam_bench.ablation_order import Row, order_rows, verdict_lines
from cbam_bench.errors import SpecError
from cbam_bench.metrics import Objective
from cbam_bench.paper import ABLATIONS, AblationRow
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.trial_attrs import TrialAttrs

T_975_DF4 = 2.7764451  # Student t, 97.5th percentile, 4 degrees of freedom
# Three seeds at mean - 0.01, mean, mean + 0.01 on both sides: sd 0.01, df = 4, and the half-width
# of every interval is t * sqrt(2 * 0.01^2 / 3) = 0.022672 (2.27 pp).
HALF = T_975_DF4 * (2 * 0.01**2 / 3) ** 0.5


def trial(number: int, runs: list[float], attention: AttentionSpec | None = None, **attrs) -> TrialRecord:
    arch = ArchSpec("cifar_resnet20", attention=attention or AttentionSpec())
    stored = {
        "arch": arch.to_dict(),
        "accuracy": statistics.fmean(runs),
        "seed_accuracies": runs,
        "seeds": len(runs),
        "accuracy_std": statistics.stdev(runs) if len(runs) > 1 else 0.0,
        **attrs,
    }
    return TrialRecord(number, "complete", (stored["accuracy"],), attrs=TrialAttrs(**stored))


def rows(*means: float | None, seeds: int = 3) -> list[Row]:
    """Rows 1, 2, ... whose paper top-1 errors fall with the row number (the last row is the paper's best)."""
    out = []
    for i, mean in enumerate(means, start=1):
        t = None
        if mean is not None:
            runs = [mean - 0.01, mean, mean + 0.01] if seeds > 1 else [mean]
            t = trial(i, [round(r, 10) for r in runs])
        out.append(Row(i, AttentionSpec(), AblationRow(f"row {i}", 25.0 - i, 8.0 - i), t))
    return out


def test_agreeing_order_with_every_difference_resolved() -> None:
    ordering = order_rows(rows(0.80, 0.85, 0.90))
    assert ordering.agrees is True and [r.index for r in ordering.ours] == [r.index for r in ordering.paper] == [
        3,
        2,
        1,
    ]
    assert len(ordering.pairs) == 3 and ordering.unresolved == () and ordering.contradicted == ()
    assert verdict_lines(ordering) == [
        "Ordering: agrees with the paper's (best first: 3 > 2 > 1).",
        "Every difference between rows is resolved (95% Welch intervals exclude 0).",
    ]


def test_agreeing_order_with_an_overlap_says_that_pair_is_not_resolved() -> None:
    ordering = order_rows(rows(0.80, 0.89, 0.90))
    assert ordering.agrees is True
    (pair,) = ordering.unresolved
    assert (pair.better.index, pair.worse.index) == (3, 2) and pair.agrees and not pair.resolved
    assert pair.delta == pytest.approx(0.01)
    assert (pair.interval.low, pair.interval.high) == (pytest.approx(0.01 - HALF), pytest.approx(0.01 + HALF))
    assert pair.interval.df == pytest.approx(4.0)
    assert verdict_lines(ordering)[1] == (
        "Not resolved, the 95% Welch interval of our accuracy difference includes 0 "
        "(the paper's better row first, in pp): 3 vs 2: +1.00 pp [-1.27, +3.27]."
    )


def test_a_resolved_swap_contradicts_the_paper() -> None:
    ordering = order_rows(rows(0.80, 0.90, 0.85))
    assert ordering.agrees is False and [r.index for r in ordering.ours] == [2, 3, 1]
    (pair,) = ordering.contradicted
    assert (pair.better.index, pair.worse.index, pair.resolved) == (3, 2, True)
    assert verdict_lines(ordering) == [
        "Ordering: differs from the paper's in 1 of 3 pairs (ours, best first: 2 > 3 > 1; the paper's: 3 > 2 > 1).",
        "Every difference between rows is resolved (95% Welch intervals exclude 0).",
        "Resolved against the paper (the paper's better row first, in pp): 3 vs 2: -5.00 pp [-7.27, -2.73].",
    ]


def test_a_swap_inside_the_noise_does_not_contradict_the_paper() -> None:
    ordering = order_rows(rows(0.80, 0.90, 0.89))
    assert ordering.agrees is False and ordering.contradicted == ()
    assert [(p.better.index, p.worse.index) for p in ordering.unresolved] == [(3, 2)]
    assert verdict_lines(ordering)[1:] == [
        "Not resolved, the 95% Welch interval of our accuracy difference includes 0 "
        "(the paper's better row first, in pp): 3 vs 2: -1.00 pp [-3.27, +1.27].",
        "Every pair we order differently from the paper is within seed noise (not resolved), "
        "so our results do not contradict the paper's order.",
    ]


def test_one_seed_resolves_nothing() -> None:
    ordering = order_rows(rows(0.80, 0.90, 0.85, seeds=1))
    assert all(p.interval is None and not p.resolved for p in ordering.pairs) and ordering.contradicted == ()
    assert verdict_lines(ordering)[1:] == [
        "Not resolved: fewer than two seeds per row, so no difference between rows has an interval."
    ]


def test_rows_without_a_trial_are_left_out() -> None:
    ordering = order_rows(rows(0.80, None))
    assert ordering.agrees is None and ordering.pairs == () and [r.index for r in ordering.untrained] == [2]
    assert verdict_lines(ordering) == [
        "Ordering: fewer than two rows have a complete trial yet; nothing to compare.",
        "No complete trial yet, left out: row 2.",
    ]
    assert [r.index for r in order_rows(rows(0.9, None, 0.8)).ours] == [1, 3]


def test_paper_rows_match_trials_by_their_attention_module() -> None:
    (none, _), (se, _), (maxpool, _), (avgmax, _) = ABLATIONS["channel"]
    trials = (
        trial(0, [0.7, 0.72], AttentionSpec(**maxpool)),
        trial(1, [0.8, 0.82], AttentionSpec(**se)),
        trial(2, [0.8, 0.82], AttentionSpec(**se), reused_from=1),  # a copy: never stands for the row
        trial(3, [0.6, 0.61, 0.62], AttentionSpec(**none)),
        trial(4, [0.6, 0.61], AttentionSpec(**none)),  # fewer seeds than trial 3
        TrialRecord(
            5,
            "fail",
            None,
            attrs=TrialAttrs(arch=ArchSpec("cifar_resnet20", attention=AttentionSpec(**avgmax)).to_dict()),
        ),
    )
    study = StudyRecords("paper-channel", (Objective("accuracy", "max"), Objective("macs", "min")), trials)
    matched = match_rows("channel", study)
    assert [r.paper.label for r in matched] == [row.label for _, row in ABLATIONS["channel"]]
    assert [r.trial.number if r.trial else None for r in matched] == [3, 1, 0, None]
    assert [r.attention.summary() for r in matched] == ["none", "se avg r16", "cbam max r16 c", "cbam avg+max r16 c"]


def test_a_plan_names_its_study_after_the_space_and_what_departs_from_it() -> None:
    plan = plan_ablation("channel")
    assert (plan.study, plan.space.name, plan.epochs, plan.seeds) == ("paper-channel", "paper-channel", 6, 3)
    assert plan.title == "Table 1: channel attention (pooling)"
    other = plan_ablation("spatial", backbone="resnet18", dataset="imagefolder:/data/birds", epochs=1, seeds=2)
    assert other.study == "paper-spatial-resnet18-imagefolder_data_birds-1ep-2seeds"
    assert other.space.backbone == other.space.source["backbone"] == "resnet18"
    assert (
        other.space.dataset == other.space.train.dataset == other.space.source["dataset"] == "imagefolder:/data/birds"
    )
    assert other.space.variants == plan_ablation("spatial").space.variants


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: tables_named("chanel"),
            "TABLE: 'chanel' is not allowed (did you mean 'channel'?); allowed: channel, spatial, arrangement, detection, all",
        ),
        (
            lambda: plan_ablation("channel", backbone="resnet5"),
            "--backbone: 'resnet5' is not allowed (did you mean 'resnet50'?)",
        ),
        (lambda: plan_ablation("channel", seeds=0), "--seeds: 0 is not allowed; allowed: an integer in [1, 100]"),
        (lambda: plan_ablation("all"), "TABLE: plan one table at a time; allowed: channel, spatial, arrangement"),
    ],
)
def test_bad_plans_name_the_option(call, message) -> None:
    with pytest.raises(SpecError) as err:
        call()
    assert str(err.value).startswith(message)


def test_all_is_the_three_tables_in_the_papers_order() -> None:
    assert tables_named("all") == ("channel", "spatial", "arrangement") and tables_named("spatial") == ("spatial",)
