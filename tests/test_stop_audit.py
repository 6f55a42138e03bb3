"""The early-stopping audit: the rule replayed on constructed curves, by hand."""

from __future__ import annotations

import dataclasses

import pytest

from cbam_bench.metrics import Objective
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.search.stop_audit import audit, ceiling, early_ranking, protected, replay
from cbam_bench.space import EarlyStop
from cbam_bench.trial_attrs import TrialAttrs

RULE = EarlyStop(warmup_epochs=1, min_trials=1)


def _trial(number: int, curve: list[float], macs: int, train_s: float | None = None) -> TrialRecord:
    attrs = TrialAttrs(accuracy=curve[-1], macs=macs, curve=curve, seeds=1, feasible=True, train_s=train_s)
    return TrialRecord(number, "complete", (curve[-1], float(macs)), attrs=attrs)


# 0: the cheap baseline; 1: learns fast; 2: a gated network that starts slow and ends best.
STUDY = StudyRecords(
    "full",
    (Objective("accuracy", "max"), Objective("macs", "min")),
    (_trial(0, [0.5, 0.6, 0.7], 1), _trial(1, [0.6, 0.7, 0.9], 2), _trial(2, [0.3, 0.4, 0.95], 2)),
)


def test_the_slow_starter_is_a_false_stop_in_one_order_and_not_in_another() -> None:
    assert protected(STUDY) == {0, 1, 2}  # front {0, 2}, and the top 3 is everyone
    # 0, 1, 2: at epoch 2 trial 2 (0.4) is below the median of 0 and 1 (0.6, 0.7 -> 0.65): stopped.
    first = replay(STUDY, RULE, [0, 1, 2])
    assert first.stopped == {2: 2} and first.false_stops == (2,)
    assert first.saved == pytest.approx(1 / 9)  # 9 epochs in all, 8 trained
    # 2, 1, 0: trial 1 only meets trial 2 (0.7 >= 0.4) and nothing is as cheap as trial 0.
    last = replay(STUDY, RULE, [2, 1, 0])
    assert last.stopped == {} and last.false_stops == () and last.saved == 0.0


def test_time_saved_weighs_each_trial_by_its_own_training_time() -> None:
    slow = StudyRecords("t", STUDY.objectives, (*STUDY.trials[:2], _trial(2, [0.3, 0.4, 0.95], 2, train_s=30.0)))
    # trials 0 and 1 cost 1 s per epoch (3 s each), trial 2 10 s per epoch; stopping it after 2 saves 10 of 36 s
    assert replay(slow, RULE, [0, 1, 2]).saved == pytest.approx(10 / 36)


def test_time_saved_is_the_searchs_when_it_trains_fewer_seeds_than_the_audit() -> None:
    two = StudyRecords(
        "t", STUDY.objectives, tuple(dataclasses.replace(t, attrs=t.attrs | TrialAttrs(seeds=2)) for t in STUDY.trials)
    )
    # trained with 2 seeds: 18 epochs, and stopping trial 2 after 2 of its 6 (one seed) saves 4
    assert replay(two, RULE, [0, 1, 2]).saved == pytest.approx(4 / 18)
    # a 1-seed search: 9 epochs, 1 saved, as in the first test
    assert replay(two, RULE, [0, 1, 2], seeds=1).saved == pytest.approx(1 / 9)
    assert audit(two, RULE, orders=1, seeds=1)[0].saved == pytest.approx(1 / 9)


def test_the_ceiling_stops_every_trial_but_the_protected_and_the_baseline() -> None:
    # 3: costly and least accurate, neither on the front nor in the top 3; 4: a second, slower
    # no-attention network, also unprotected, which a search never stops
    def of(kind: str, t: TrialRecord) -> TrialRecord:
        return dataclasses.replace(t, attrs=t.attrs | TrialAttrs(arch={"attention": {"kind": kind}}))

    extra = (of("cbam", _trial(3, [0.2, 0.3, 0.5], 3, train_s=6.0)), of("none", _trial(4, [0.1, 0.2, 0.4], 4)))
    study = StudyRecords("t", STUDY.objectives, (*STUDY.trials, *extra))
    assert protected(study) == {0, 1, 2}
    # 5 trials: 3 epochs of 1 s each, trial 3 3 epochs of 2 s: 18 s in all; stopping trial 3 after
    # epoch 1 saves 4 s, after epoch 2 saves 2 s
    assert ceiling(study, "accuracy") == pytest.approx([4 / 18, 2 / 18])
    assert ceiling(STUDY, "accuracy") == [0.0, 0.0]  # everyone protected


def test_audit_replays_the_number_order_then_seeded_shuffles() -> None:
    runs = audit(STUDY, RULE, orders=4, seed=1)
    assert runs[0].order == (0, 1, 2) and len(runs) == 4
    assert all(sorted(r.order) == [0, 1, 2] for r in runs)
    assert [r.order for r in audit(STUDY, RULE, orders=4, seed=1)] == [r.order for r in runs]


@pytest.mark.slow  # a search, then the script in a subprocess (~5 s)
@pytest.mark.parametrize("signal", [[], ["--signal", "loss"]])
def test_the_audit_script_reads_a_study_trained_to_the_end(tmp_path, signal: list[str]) -> None:  # noqa: ANN001 - pytest's path
    import re
    import subprocess
    import sys
    from pathlib import Path

    import fake_training

    from cbam_bench.search.run import run_search
    from cbam_bench.search.trainer import Trainer
    from cbam_bench.space import load_space

    (tmp_path / "full.yaml").write_text(
        "backbone: cifar_resnet20\nobjectives: [accuracy:max, macs:min]\ntrials: 4\n"
        "latency: {warmup: 0, repeats: 2}\ntrain: {epochs: 3}\n"
        "params:\n  attention.kind: [none, se, cbam]\n  spatial.kernel: [3, 7]\n"
    )
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    trainer = Trainer(
        train=fake_training.train, fit_arch=fake_training.fit_arch, dataset_info=fake_training.dataset_info
    )
    run_search(load_space(tmp_path / "full.yaml"), storage=storage, trainer=trainer, early_stop=False, heartbeat_s=2)
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "early_stop_audit.py"
    done = subprocess.run(
        [sys.executable, str(script), "full", "--storage", storage, "--orders", "3", "--min-trials", "1", *signal],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "study full: 4 trials trained to the end" in done.stdout
    rows = re.findall(r"^\s+(\d)\s+([0-9.]+)%\s+(\d)\s+(.+)$", done.stdout, flags=re.M)
    assert [r[0] for r in rows] == ["0", "1", "2"] and all(0 <= float(r[1]) < 100 for r in rows)
    assert re.search(
        r"over 3 orders: time saved [0-9.]+% on average, [0-9.]+% at worst; \d order\(s\) with a false stop",
        done.stdout,
    )
    assert f"median rule on {signal[-1] if signal else 'accuracy'}," in done.stdout
    assert re.search(
        r"the most any rule saves with no false stop, .* the baseline: after epoch 1: [0-9.]+%, after epoch 2: [0-9.]+%$",
        done.stdout,
        flags=re.M,
    )


def test_the_margin_stops_only_trials_well_below_the_median() -> None:
    from cbam_bench.search.early_stop import median_rule

    class T:
        def __init__(self, *curve: float) -> None:
            self.user_attrs = {"curve": list(curve)}

    earlier = [T(0.2, 0.5), T(0.3, 0.6), T(0.4, 0.7)]
    rule = EarlyStop(warmup_epochs=1, min_trials=3, margin=0.1)
    assert median_rule(earlier, 2, 0.55, rule) is None  # below the median 0.6, within the margin
    assert median_rule(earlier, 2, 0.5, rule) is None  # exactly the margin below
    assert median_rule(earlier, 2, 0.49, rule) == (
        "validation accuracy 0.4900 at epoch 2 is more than 0.10 below the median 0.6000 of 3 earlier trials"
    )
    # The no-attention network is never stopped, however far below it is.
    assert median_rule(earlier, 2, 0.0, rule, baseline=True) is None


def test_the_replay_never_stops_the_baseline_even_where_noise_makes_others_cheaper() -> None:
    """Timed under load an attention variant can measure below the baseline's latency ratio of 1; the
    baseline, slow to start, would then be judged against it (and here stopped) were it not exempt."""

    def trial(number: int, kind: str, curve: list[float], ratio: float) -> TrialRecord:
        attrs = TrialAttrs(
            accuracy=curve[-1],
            latency_ratio=ratio,
            curve=curve,
            seeds=1,
            feasible=True,
            arch={"attention": {"kind": kind}},
        )
        return TrialRecord(number, "complete", (curve[-1], ratio), attrs=attrs)

    study = StudyRecords(
        "noisy",
        (Objective("accuracy", "max"), Objective("latency_ratio", "min")),
        (
            trial(0, "se", [0.5, 0.7, 0.8], 0.97),
            trial(1, "none", [0.2, 0.3, 0.9], 1.0),
            trial(2, "cbam", [0.4, 0.2, 0.6], 1.3),
        ),
    )
    assert protected(study) == {0, 1, 2}
    # 0 then 1: trial 1 (0.3 at epoch 2) meets trial 0, "cheaper" at 0.97, whose 0.7 is the median.
    assert replay(study, RULE, [0, 1, 2]).stopped == {2: 2}  # only the costly trial behind both is stopped
    plain = dataclasses.replace(
        study,
        trials=tuple(
            dataclasses.replace(t, attrs=t.attrs | TrialAttrs(arch={"attention": {"kind": "se"}})) for t in study.trials
        ),
    )
    assert replay(plain, RULE, [0, 1, 2]).stopped == {1: 2, 2: 2}  # the same curves, no baseline: trial 1 stopped


def test_the_loss_rule_stops_a_loss_above_the_median_by_more_than_the_margin() -> None:
    from cbam_bench.search.early_stop import median_rule

    class T:
        def __init__(self, *losses: float) -> None:
            self.user_attrs = {"curve": [0.1] * len(losses), "loss_curve": list(losses)}

    earlier = [T(2.0, 1.0), T(2.1, 1.2), T(2.2, 1.4), T(2.3)]
    rule = EarlyStop(warmup_epochs=1, min_trials=3, margin=0.1, signal="loss")
    assert median_rule(earlier, 2, 1.0, rule) is None  # below the median 1.2: better
    assert median_rule(earlier, 2, 1.3, rule) is None  # exactly the margin above
    assert median_rule(earlier, 2, 1.31, rule) == (
        "training loss 1.3100 at epoch 2 is more than 0.10 above the median 1.2000 of 3 earlier trials"
    )
    # the accuracy curve (0.1 everywhere) is not what this rule reads
    assert median_rule(earlier, 2, 0.0, rule) is None


def _with_losses(trial: TrialRecord, losses: list[float]) -> TrialRecord:
    return dataclasses.replace(trial, attrs=trial.attrs | TrialAttrs(loss_curve=losses))


def test_the_slow_starter_whose_loss_falls_fast_is_kept_by_the_loss_rule() -> None:
    """Trial 2's validation accuracy lags at epoch 2, a false stop for the accuracy rule in this
    order (the first test); its training loss is already the lowest, so the loss rule keeps it."""
    losses = {0: [2.0, 1.5, 1.2], 1: [2.0, 1.4, 1.0], 2: [2.0, 1.1, 0.9]}
    study = StudyRecords("loss", STUDY.objectives, tuple(_with_losses(t, losses[t.number]) for t in STUDY.trials))
    assert replay(study, RULE, [0, 1, 2]).false_stops == (2,)
    # epoch 2: trial 1 meets 0 (1.4 <= 1.5), trial 2 meets 0 and 1 (1.1 <= their median 1.45)
    kept = replay(study, dataclasses.replace(RULE, signal="loss"), [0, 1, 2])
    assert kept.stopped == {} and kept.false_stops == () and kept.saved == 0.0


def test_a_trial_stopped_on_the_loss_is_met_later_with_its_curves_cut() -> None:
    def trial(number: int, curve: list[float], losses: list[float]) -> TrialRecord:
        return _with_losses(_trial(number, curve, 1), losses)

    study = StudyRecords(
        "cut",
        STUDY.objectives,
        (
            trial(0, [0.5, 0.6, 0.7, 0.8], [2.0, 1.5, 1.2, 1.0]),
            trial(1, [0.5, 0.6, 0.7, 0.75], [2.0, 1.7, 1.6, 1.5]),
            trial(2, [0.3, 0.4, 0.5, 0.95], [2.0, 1.4, 1.3, 0.9]),
        ),
    )
    r = replay(study, dataclasses.replace(RULE, signal="loss"), [0, 1, 2])
    # trial 1 stops at epoch 2 (1.7 > 1.5). Trial 2 passes epoch 2 (1.4 <= median 1.6), but at epoch
    # 3 only trial 0 has a value (trial 1's curves end at its stop): 1.3 > 1.2, stopped. Uncut,
    # trial 1's 1.6 would have made the median 1.4 and kept it.
    assert r.stopped == {1: 2, 2: 3} and r.false_stops == (1, 2)
    assert r.saved == pytest.approx(3 / 12)  # 12 epochs of 1 s; 4 + 2 + 3 trained


def test_early_ranking_is_spearmans_rho_per_epoch_by_hand() -> None:
    # Final accuracies 0.7, 0.9, 0.95 rank the trials 1, 2, 3. After epochs 1 and 2 the accuracy
    # ranks them 2, 3, 1: d = (1, 1, -2), rho = 1 - 6 * 6 / (3 * (9 - 1)) = -0.5; epoch 3 is the end.
    assert early_ranking(STUDY, "accuracy") == pytest.approx([-0.5, -0.5, 1.0])
    losses = {0: [2.0, 1.5, 1.2], 1: [2.0, 1.4, 1.0], 2: [2.0, 1.1, 0.9]}
    study = StudyRecords("loss", STUDY.objectives, tuple(_with_losses(t, losses[t.number]) for t in STUDY.trials))
    # epoch 1: every loss 2.0, no ranking; after that the lowest loss is the most accurate trial
    assert early_ranking(study, "loss") == [None, pytest.approx(1.0), pytest.approx(1.0)]


def test_spearman_rho_by_hand_with_ties() -> None:
    from cbam_bench.stats import spearman_rho

    # ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4): covariance 4.5, variances 4.5 and 5, rho = sqrt(0.9)
    assert spearman_rho([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9**0.5)
    assert spearman_rho([3, 2, 1], [0.1, 0.2, 0.3]) == pytest.approx(-1.0)
    assert spearman_rho([1, 2], [1, 2]) is None and spearman_rho([1, 1, 1], [1, 2, 3]) is None
