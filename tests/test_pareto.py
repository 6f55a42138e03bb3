"""Fronts, ranks, hypervolume, knee and the budget pick, on synthetic studies and hand-worked cases."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_studies import Fake, make_study

from cbam_bench import dominance, pareto
from cbam_bench.errors import StudyError
from cbam_bench.records import StudyRecords, TrialRecord, records_from_study
from cbam_bench.trial_attrs import TrialAttrs

OBJECTIVE_SETS = [
    ("accuracy:max", "macs:min"),
    ("accuracy:max", "latency_ms:min"),
    ("accuracy:max", "macs:min", "latency_ms:min"),
    ("macs:min", "latency_ms:min", "accuracy:max"),
]

# Few levels per measure, so that ties and duplicate points are common.
fakes = st.lists(
    st.builds(
        lambda status, a, m, lat: Fake(
            status="complete" if status == "reused" else status,
            accuracy=0.5 + 0.1 * a,
            macs=m * 1e6,
            latency_ms=float(lat),
            reused_from=0 if status == "reused" else None,
        ),
        st.sampled_from(["complete"] * 5 + ["reused", "infeasible", "pruned", "fail"]),
        st.integers(0, 4),
        st.integers(1, 5),
        st.integers(1, 4),
    ),
    max_size=14,
)


def measure(fake: Fake, objective: str) -> float:
    return {"accuracy": fake.accuracy, "macs": fake.macs, "latency_ms": fake.latency_ms}[objective.split(":")[0]]


def brute_force_front(fs: list[Fake], objectives: tuple[str, ...]) -> set[int]:
    """Indices of complete fakes that no other complete fake beats, written from the definition."""

    def no_worse(a: Fake, b: Fake) -> bool:
        return all(
            measure(a, o) >= measure(b, o) if o.endswith(":max") else measure(a, o) <= measure(b, o) for o in objectives
        )

    def beats(a: Fake, b: Fake) -> bool:
        return no_worse(a, b) and not no_worse(b, a)

    done = [i for i, f in enumerate(fs) if f.status == "complete" and f.reused_from is None]
    return {i for i in done if not any(beats(fs[j], fs[i]) for j in done)}


def records(fs: list[Fake], objectives: tuple[str, ...] = OBJECTIVE_SETS[2], **kw) -> StudyRecords:
    return records_from_study(make_study(fs, objectives=objectives, **kw))


@settings(max_examples=40, deadline=None)
@given(fs=fakes, objectives=st.sampled_from(OBJECTIVE_SETS))
def test_front_equals_brute_force_non_dominated_set(fs, objectives) -> None:
    study = records(fs, objectives)
    front = pareto.pareto_front(study)
    assert {t.number for t in front} == brute_force_front(fs, objectives)
    first = objectives[0]
    firsts = [measure(fs[t.number], first) for t in front]
    assert firsts == sorted(firsts, reverse=first.endswith(":max"))


@settings(max_examples=40, deadline=None)
@given(fs=fakes, objectives=st.sampled_from(OBJECTIVE_SETS))
def test_ranks_peel_fronts(fs, objectives) -> None:
    study = records(fs, objectives)
    ranks = pareto.ranks(study)
    points = {t.number: pareto.as_minimised(t, study.objectives) for t in study.usable}
    assert set(ranks) == set(points)
    assert {n for n, r in ranks.items() if r == 1} == {t.number for t in pareto.pareto_front(study)}
    for n, r in ranks.items():
        assert not any(pareto.dominates(points[m], points[n]) for m, q in ranks.items() if q >= r)
        if r > 1:
            assert any(pareto.dominates(points[m], points[n]) for m, q in ranks.items() if q == r - 1)


def brute_force_nondominated(points: list[tuple[float, ...]]) -> list[int]:
    """The reference: every pair tested against the definition."""
    return [i for i, p in enumerate(points) if not any(pareto.dominates(q, p) for q in points)]


def brute_force_ranks(points: list[tuple[float, ...]]) -> list[int]:
    """The reference: peel the brute-force front off until nothing is left."""
    ranks = [0] * len(points)
    left, rank = list(range(len(points))), 1
    while left:
        for i in brute_force_nondominated([points[j] for j in left]):
            ranks[left[i]] = rank
        left = [i for i in left if ranks[i] == 0]
        rank += 1
    return ranks


# Small integer grids make ties, equal points and long chains common; floats cover the rest.
point_sets = st.integers(1, 4).flatmap(
    lambda d: st.lists(st.tuples(*[st.one_of(st.integers(0, 3).map(float), st.floats(-1e3, 1e3))] * d), max_size=40)
)


@settings(max_examples=300, deadline=None)
@given(points=point_sets)
def test_vectorised_front_and_ranks_equal_the_brute_force(points) -> None:
    assert dominance.nondominated(points) == brute_force_nondominated(points)
    ranks = brute_force_ranks(points)
    assert dominance.dominance_ranks(points) == ranks
    assert [dominance.rank_of(points, i) for i in range(len(points))] == ranks


def test_blocks_of_the_front_agree_past_one_block(monkeypatch) -> None:
    # 3-D points on and off a plane, more than one block of them, ties included.
    points = [(float(i % 7), float((i * 3) % 11), float(20 - i % 7 - (i * 3) % 11)) for i in range(60)]
    monkeypatch.setattr(dominance, "BLOCK", 8)
    assert dominance.nondominated(points) == brute_force_nondominated(points)


def test_ranks_of_a_chain_and_of_equal_points_by_hand() -> None:
    # (0,0) beats everything; the two (1,1) are equal so share rank 2; (2,0) is beaten only by (0,0).
    assert dominance.dominance_ranks([(1, 1), (0, 0), (1, 1), (2, 2), (2, 0)]) == [2, 1, 2, 3, 2]
    assert dominance.nondominated([(1, 1, 1), (1, 1, 1), (0, 2, 1), (2, 2, 2)]) == [0, 1, 2]


def test_front_excludes_infeasible_pruned_and_failed_trials() -> None:
    # The infeasible trial would dominate everything if it were allowed in.
    fs = [
        Fake(accuracy=0.8, macs=30e6),
        Fake(status="infeasible", macs=1e6, latency_ms=0.1),
        Fake(status="pruned", macs=1e6),
        Fake(status="fail", macs=1e6),
        Fake(accuracy=0.9, macs=40e6),
    ]
    study = records(fs)
    assert [t.number for t in pareto.pareto_front(study)] == [4, 0]


def test_a_reused_trial_is_a_duplicate_of_its_original_everywhere() -> None:
    # Trial 2 copied trial 0's measures; whatever it stores, it must not stand beside its original.
    # Here it stores values that would dominate everything if it were let in.
    fs = [
        Fake(accuracy=0.8, macs=30e6),
        Fake(accuracy=0.9, macs=40e6),
        Fake(accuracy=0.95, macs=20e6, reused_from=0),
        Fake(accuracy=0.7, macs=35e6),
    ]
    study = records(fs, ("accuracy:max", "macs:min"))
    assert [t.status for t in study.trials] == ["complete", "complete", "reused", "complete"]
    assert study.counts() == {
        "total": 4,
        "complete": 3,
        "reused": 1,
        "infeasible": 0,
        "pruned": 0,
        "failed": 0,
        "duplicate": 0,
        "running": 0,
    }
    assert [t.number for t in pareto.pareto_front(study)] == [1, 0]
    assert pareto.ranks(study) == {0: 1, 1: 1, 3: 2}
    assert pareto.knee_trial(study).number in (0, 1)
    assert pareto.pick_under_budget(study.trials, {"macs": 50e6}).number == 1
    # Reference: accuracy 0, MACs 10% beyond the worst usable trial (40M): 0.9 * 4M + 0.8 * 10M.
    reference = pareto.reference_point(study)
    assert reference == pytest.approx({"accuracy": 0.0, "macs": 44e6})
    assert pareto.study_hypervolume(study, reference) == pytest.approx(0.9 * 4e6 + 0.8 * 10e6)


def test_a_reused_copy_of_an_over_budget_trial_counts_as_over_budget() -> None:
    study = records([Fake(status="infeasible"), Fake(status="infeasible", reused_from=0)])
    assert [t.status for t in study.trials] == ["infeasible", "infeasible"] and study.counts()["reused"] == 0


# --- hypervolume ------------------------------------------------------------------------------


def test_hypervolume_2d_staircase_by_hand() -> None:
    # Strips of the staircase: 3*1 + 2*1 + 1*1; a dominated point and one outside the box add nothing.
    assert pareto.hypervolume([(1, 3), (2, 2), (3, 1)], (4, 4)) == 6
    assert pareto.hypervolume([(1, 3), (2, 2), (3, 1), (3, 3), (5, 0)], (4, 4)) == 6
    assert pareto.hypervolume([(4, 1)], (4, 4)) == 0


@pytest.mark.parametrize(
    "points, volume",
    [
        ([(1, 1, 1)], 1.0),
        ([(0, 0, 1), (1, 1, 0)], 4 + 2 - 1),  # two boxes minus their overlap [1,2]^3
        # Inclusion-exclusion: 3 boxes of 6, pairwise overlaps of 2, triple overlap of 1.
        ([(1, 2, 3), (2, 3, 1), (3, 1, 2)], 18 - 6 + 1),
    ],
)
def test_hypervolume_3d_by_hand(points, volume) -> None:
    assert pareto.hypervolume(points, (4, 4, 4) if len(points) == 3 else (2, 2, 2)) == pytest.approx(volume)


def inclusion_exclusion(points, ref) -> float:
    total = 0.0
    for k in range(1, len(points) + 1):
        for subset in itertools.combinations(points, k):
            corner = [max(c) for c in zip(*subset)]
            total += (-1) ** (k + 1) * math.prod(max(0.0, r - c) for r, c in zip(ref, corner))
    return total


@settings(max_examples=60, deadline=None)
@given(dim=st.integers(2, 4), data=st.data())
def test_hypervolume_matches_inclusion_exclusion(dim, data) -> None:
    points = data.draw(st.lists(st.tuples(*[st.integers(0, 5)] * dim), min_size=1, max_size=6))
    ref = (5.5,) * dim
    assert pareto.hypervolume(points, ref) == pytest.approx(inclusion_exclusion(points, ref))


def test_study_hypervolume_in_stored_units_with_default_reference() -> None:
    # Minimised: (-0.9, 40M) and (-0.8, 20M) against (0, 50M): 0.9 * 10M + 0.8 * 20M = 25M.
    fs = [Fake(accuracy=0.9, macs=40e6), Fake(accuracy=0.8, macs=20e6)]
    study = records(fs, ("accuracy:max", "macs:min"), budgets={"macs": 50e6})
    ref = pareto.reference_point(study)
    assert ref == {"accuracy": 0.0, "macs": 50e6}
    volume = pareto.study_hypervolume(study, ref)
    assert volume == pytest.approx(25e6)
    assert pareto.normalized_hypervolume(study, ref, volume) == pytest.approx(0.5)


def test_default_reference_without_budget_is_worst_plus_margin_and_can_be_overridden() -> None:
    study = records([Fake(latency_ms=2.0), Fake(accuracy=0.95, latency_ms=4.0)], ("accuracy:max", "latency_ms:min"))
    assert pareto.reference_point(study) == pytest.approx({"accuracy": 0.0, "latency_ms": 4.4})
    assert pareto.reference_point(study, {"latency_ms": 10.0})["latency_ms"] == 10.0
    with pytest.raises(
        StudyError, match=r"--ref macs: not an objective of study 'synthetic'; allowed: accuracy, latency_ms"
    ):
        pareto.reference_point(study, {"macs": 1e6})


# --- knee -------------------------------------------------------------------------------------


def test_knee_2d_is_the_point_farthest_below_the_chord() -> None:
    fs = [Fake(accuracy=a, macs=m * 1e6) for a, m in [(0.70, 10), (0.85, 20), (0.88, 60), (0.90, 100)]]
    study = records(fs, ("accuracy:max", "macs:min"))
    # Scaled to [0, 1]: (1, 0), (0.25, 0.11), (0.1, 0.56), (0, 1); the chord is x + y = 1.
    assert pareto.knee_trial(study).number == 1


def test_knee_3d_uses_the_plane_through_the_extremes() -> None:
    # Scaled points: extremes (0,1,1), (1,0,1), (1,1,0) span x + y + z = 2; (0.3, 0.3, 0.5) lies
    # 0.52 beyond it, (0.6, 0.6, 0.1) only 0.40.
    scaled = [(0, 1, 1), (1, 0, 1), (1, 1, 0), (0.6, 0.6, 0.1), (0.3, 0.3, 0.5)]
    assert pareto.knee(scaled) == 4
    fs = [Fake(accuracy=0.9 - 0.1 * x, macs=10e6 + 30e6 * y, latency_ms=1 + 2 * z) for x, y, z in scaled]
    assert pareto.knee_trial(records(fs)).number == 4


def test_knee_falls_back_to_the_point_nearest_the_ideal_corner() -> None:
    # One point is best in two objectives, so the extremes span no plane.
    assert pareto.knee([(0, 1, 1), (0.375, 0.5, 0.4), (1, 0, 0)]) == 1
    assert pareto.knee([(3.0, 7.0)]) == 0
    assert pareto.knee([(0, 1), (1, 0)]) == 0  # a tie goes to the lower index


# --- pick under budget ------------------------------------------------------------------------


def record(number: int, **attrs) -> TrialRecord:
    return TrialRecord(number, "complete", (attrs.get("accuracy", 0.0),), attrs=TrialAttrs(**attrs))


PICKS = [
    record(0, accuracy=0.90, latency_ms=6.0, params=4e6, macs=50e6),
    record(1, accuracy=0.85, latency_ms=4.0, params=3.5e6, macs=45e6),
    record(2, accuracy=0.80, latency_ms=3.0, params=2e6, macs=30e6),
    record(3, accuracy=0.80, latency_ms=2.5, params=2e6, macs=29e6),
    record(4, accuracy=0.99, params=1e6, macs=1e6),  # latency never measured
    TrialRecord(5, "complete", (0.0,), attrs=TrialAttrs(accuracy=0.97, latency_ms=0.1, feasible=False)),
]


@pytest.mark.parametrize(
    "budgets, expected",
    [
        ({"latency_ms": 5}, 1),
        ({"latency_ms": 5, "params": 3e6}, 3),  # 2 and 3 tie on accuracy; 3 has fewer MACs
        ({"latency_ms": 1}, None),
        ({"params": 1e6}, 4),
        ({"latency_ms": 100}, 0),  # 4 has no latency, 5 is over the study's budget
    ],
)
def test_pick_under_budget(budgets, expected) -> None:
    pick = pareto.pick_under_budget(PICKS, budgets)
    assert (pick.number if pick else None) == expected
