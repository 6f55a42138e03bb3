"""Deltas against a baseline and Welch's interval of the accuracy difference, checked by hand."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from synthetic_studies import GPU_LATENCY, Fake, make_study

from cbam_bench.compare import Entry, compare, compare_all, find_baseline, parse_target, seed_sample, trial_entry
from cbam_bench.errors import StudyError
from cbam_bench.records import TrialRecord, records_from_study
from cbam_bench.report.tables import compare_table
from cbam_bench.stats import Sample, welch_interval
from cbam_bench.trial_attrs import TrialAttrs

T_975_DF4 = 2.7764451  # Student t, 97.5th percentile, 4 degrees of freedom (printed tables: 2.776)


def test_welch_interval_by_hand_equal_spread() -> None:
    # Both sides: 3 seeds, sd 0.02, so se = sqrt(2 * 0.0004 / 3) = 0.0163299 and df = 4 exactly.
    a, b = Sample.of([0.90, 0.92, 0.94]), Sample.of([0.86, 0.88, 0.90])
    interval = welch_interval(a, b)
    se = (2 * 0.0004 / 3) ** 0.5
    assert interval.df == pytest.approx(4.0)
    assert interval.estimate == pytest.approx(0.04)
    assert (interval.low, interval.high) == (pytest.approx(0.04 - T_975_DF4 * se), pytest.approx(0.04 + T_975_DF4 * se))
    assert (round(interval.low, 4), round(interval.high, 4)) == (-0.0053, 0.0853)
    assert not interval.excludes_zero


def test_welch_interval_excludes_zero_for_a_clear_gain() -> None:
    interval = welch_interval(Sample.of([0.90, 0.92, 0.94]), Sample.of([0.80, 0.82, 0.84]))
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.0547, 0.1453)
    assert interval.excludes_zero


def test_welch_degrees_of_freedom_for_unequal_spread() -> None:
    # va = 0.0004/3, vb = 0.0001/2: df = (va + vb)^2 / (va^2/2 + vb^2/1) = 2.8824.
    interval = welch_interval(Sample.of([0.90, 0.92, 0.94]), Sample.of([0.85, 0.87]))
    va, vb = 0.0004 / 3, 0.0002 / 2
    assert interval.df == pytest.approx((va + vb) ** 2 / (va**2 / 2 + vb**2 / 1))
    assert interval.df == pytest.approx(2.8824, abs=1e-4)


def test_no_interval_from_a_single_seed() -> None:
    with pytest.raises(ValueError):
        welch_interval(Sample.of([0.9]), Sample.of([0.8, 0.9]))


def test_seed_sample_prefers_per_seed_accuracies_then_mean_and_std() -> None:
    runs = TrialRecord(0, "complete", (0.9,), attrs=TrialAttrs(seed_accuracies=[0.9, 0.92], accuracy=0.91))
    summary = TrialRecord(1, "complete", (0.9,), attrs=TrialAttrs(accuracy=0.9, accuracy_std=0.01, seeds=3))
    single = TrialRecord(2, "complete", (0.9,), attrs=TrialAttrs(accuracy=0.9, accuracy_std=0.0, seeds=1))
    assert seed_sample(runs) == (Sample(pytest.approx(0.91), pytest.approx(0.0141421356), 2), "seed_accuracies")
    assert seed_sample(summary) == (Sample(0.9, 0.01, 3), "accuracy_std")
    assert seed_sample(single) is None


@pytest.fixture
def study():
    fakes = [
        Fake(kind="none", macs=40e6, params=250e3, latency_ms=2.0, seed_accuracies=(0.86, 0.88, 0.90)),
        Fake(
            kind="cbam", macs=41e6, params=275e3, latency_ms=2.5, latency_ratio=1.25, seed_accuracies=(0.90, 0.92, 0.94)
        ),
        Fake(kind="cbam", reduction=4, macs=42e6, params=300e3, latency_ms=3.0, accuracy=0.95),
        Fake(kind="none", backbone="cifar_resnet32", macs=70e6, seed_accuracies=(0.9, 0.91)),
        Fake(kind="se", latency_ms=2.2, latency_ratio=1.1, device="cuda:0 (NVIDIA H100)", seed_accuracies=(0.9, 0.91)),
        Fake(status="pruned", kind="se"),
        Fake(kind="se", reduction=8, latency_ms=0.5, latency_setup=GPU_LATENCY, seed_accuracies=(0.9, 0.91)),
        Fake(kind="none", latency_ms=1.0, device="cuda:0 (NVIDIA H100)", latency_setup=None),
        Fake(kind="se", latency_ms=1.5, latency_setup=None),
    ]
    return records_from_study(make_study(fakes, name="s"))


def test_deltas_and_interval_against_the_no_attention_trial(study) -> None:
    pool = [Entry(study, t) for t in study.usable]
    cbam = Entry(study, study.trial(1))
    base = find_baseline(cbam, pool)
    assert base.ref == "s:0"  # the resnet32 no-attention trial is another network
    c = compare(cbam, base)
    assert c.delta["accuracy"] == pytest.approx(0.04)
    assert c.delta["macs_pct"] == pytest.approx(2.5)
    assert c.delta["params_pct"] == pytest.approx(10.0)
    assert c.delta["latency_pct"] == pytest.approx(25.0) and c.latency_from == "latency_ratio"
    assert c.interval_source == "seed_accuracies"
    assert (round(c.interval.low, 4), round(c.interval.high, 4)) == (-0.0053, 0.0853)


def test_latency_of_one_network_is_compared_by_its_ratios_where_the_medians_drifted() -> None:
    """The SE trial was timed while the machine was slower (3 ms against the plain trial's 2), but
    alternately with its own plain twin: 1.1 times it. Its change is +10 %, not +50 %. Against another
    network (a wider one here) the ratios have different references: the medians in ms it is."""
    study = records_from_study(
        make_study(
            [
                Fake(kind="none", latency_ms=2.0, latency_ratio=1.0),
                Fake(kind="se", latency_ms=3.0, latency_ratio=1.1),
                Fake(kind="none", backbone="cifar_resnet32", latency_ms=4.0, latency_ratio=1.0),
            ],
            name="s",
        )
    )
    se = Entry(study, study.trial(1))
    same = compare(se, Entry(study, study.trial(0)))
    assert same.delta["latency_pct"] == pytest.approx(10.0) and same.latency_from == "latency_ratio"
    other = compare(se, Entry(study, study.trial(2)))
    assert other.delta["latency_pct"] == pytest.approx(-25.0) and other.latency_from == "latency_ms"


def test_one_seed_gives_deltas_but_no_interval(study) -> None:
    c = compare(Entry(study, study.trial(2)), Entry(study, study.trial(0)))
    assert c.delta["accuracy"] == pytest.approx(0.07) and c.interval is None


def test_latency_is_compared_by_how_it_was_timed_not_where_the_trial_trained(study) -> None:
    # Trial 4 trained on a GPU, but the search timed it like trial 0: on one CPU thread at batch 1.
    c = compare(Entry(study, study.trial(4)), Entry(study, study.trial(0)))
    assert c.delta["latency_pct"] == pytest.approx(10.0) and c.notes == ()


def test_latency_timed_under_another_set_up_is_not_compared(study) -> None:
    c = compare(Entry(study, study.trial(6)), Entry(study, study.trial(0)))
    assert c.delta["latency_pct"] is None
    assert c.notes == (
        "latency not compared: timed on NVIDIA H100, batch 8, float16, channels_last "
        "and on cpu, 1 thread, batch 1, float32",
    )


def test_without_a_latency_set_up_the_training_device_stands_in(study) -> None:
    c = compare(Entry(study, study.trial(8)), Entry(study, study.trial(7)))
    assert c.delta["latency_pct"] is None
    assert c.notes == ("latency not compared: timed on cpu and on cuda:0 (NVIDIA H100)",)


def test_baseline_against_itself_is_marked() -> None:
    study = records_from_study(make_study([Fake(kind="none")], name="s"))
    entry = Entry(study, study.trial(0))
    assert compare(entry, entry).is_baseline


def test_targets_and_trial_errors(study) -> None:
    assert parse_target("s:12") == ("s", 12)
    assert parse_target("s") == ("s", None)
    assert parse_target("a:b") == ("a:b", None)
    with pytest.raises(StudyError, match=r"^s:9: study 's' has no trial 9; trials there: 0-8$"):
        trial_entry(study, 9, "s:9")
    with pytest.raises(StudyError, match=r"^s:5: trial 5 is pruned; allowed: complete trials within budget$"):
        trial_entry(study, 5, "s:5")


def test_a_table_mixing_ratio_and_ms_changes_shows_ms_and_says_which_rows_used_the_ratio() -> None:
    fakes = [
        Fake(kind="none", latency_ms=2.0, latency_ratio=1.0),
        Fake(kind="se", latency_ms=3.0, latency_ratio=1.1),
        Fake(kind="none", backbone="cifar_resnet32", latency_ms=4.0, latency_ratio=None),
        Fake(kind="se", backbone="cifar_resnet32", latency_ms=5.0, latency_ratio=None),
    ]
    study = records_from_study(make_study(fakes, name="s"))
    rows = compare_all([Entry(study, t) for t in study.usable])
    by_trial = {c.entry.trial.number: c for c in rows}
    assert by_trial[1].delta["latency_pct"] == pytest.approx(10.0) and by_trial[1].latency_from == "latency_ratio"
    assert by_trial[3].delta["latency_pct"] == pytest.approx(25.0) and by_trial[3].latency_from == "latency_ms"
    out = io.StringIO()
    Console(file=out, width=200).print(compare_table(rows))
    text = out.getvalue()
    assert "Latency (ms)" in text and "Lat. ratio" not in text.split("\n\n")[0]
    assert "(+x%) of latency: from the latency ratios where a row and its baseline have one" in text
