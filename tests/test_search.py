"""run_search in one process with a stand-in trainer: what a study records, and the rules it follows."""

from __future__ import annotations

import dataclasses
import os
import signal
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fake_training
import optuna
import pytest
import torch
from optuna.trial import TrialState

from cbam_bench.errors import DataError, SpaceError, StudyError
from cbam_bench.interrupt import Interrupted
from cbam_bench.measure import latency as latency_module
from cbam_bench.measure.latency import Latency
from cbam_bench.pareto import pareto_front
from cbam_bench.records import records_from_study
from cbam_bench.search.dedup import MAX_REASKS
from cbam_bench.search.early_stop import median_rule
from cbam_bench.search.measures import cheap_measures
from cbam_bench.search.reasons import INTERRUPTED
from cbam_bench.search.retries import MAX_RETRIES
from cbam_bench.search.run import MAX_FAILURES_IN_A_ROW, SearchObserver, run_search
from cbam_bench.search.slots import LIVE, ask, count_trials, fail_stale, holds_slot, release, trial_id
from cbam_bench.search.storage import open_storage
from cbam_bench.search.trainer import Trainer
from cbam_bench.space import EarlyStop, LatencySetup, load_space
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.stats import MedianInterval
from cbam_bench.train_spec import TrainSpec
from cbam_bench.trial_attrs import COST_METRICS

optuna.logging.set_verbosity(optuna.logging.WARNING)

CONTRACT_ATTRS = {
    "archid",
    "arch",
    "summary",
    "params",
    "macs",
    "elementwise_ops",
    "latency_ms",
    "latency_p90_ms",
    "latency_ratio",
    "accuracy",
    "top5",
    "accuracy_std",
    "test_accuracy",
    "test_top5",
    "seeds",
    "train_s",
    "images_per_s",
    "env",
    "feasible",
    "constraints",
}
SPACE = """
backbone: cifar_resnet20
objectives: [accuracy:max, macs:min]
trials: 4
latency: {warmup: 0, repeats: 2}
train: {epochs: 3}
params:
  attention.kind: [none, se, cbam]
  spatial.kernel: [3, 7]
"""
# Ten candidates (none, se x 3 reductions, cbam x 3 reductions x 2 kernels), for studies with failures.
WIDER = SPACE + "  channel.reduction: [4, 8, 16]\n"


class Calls:
    """The fake trainer, counting its train() calls by (archid, seed)."""

    def __init__(self, train: Any = fake_training.train) -> None:
        self.calls: list[tuple[str, int]] = []
        self._train = train

    def train(self, arch: ArchSpec, spec: Any, *, on_epoch: Any = None) -> Any:
        self.calls.append((fake_training.fit_arch(arch, spec).archid, spec.seed))
        return self._train(arch, spec, on_epoch=on_epoch)

    @property
    def trainer(self) -> Trainer:
        return Trainer(train=self.train, fit_arch=fake_training.fit_arch, dataset_info=fake_training.dataset_info)


Search = Callable[..., optuna.Study]


@pytest.fixture(scope="session")
def cheap_cache() -> dict:
    """Cheap measures of a network do not change between tests: measure each once per session."""
    return {}


@pytest.fixture
def search(cheap_cache: dict) -> Search:
    """run_search on a space text in a folder, with the fake trainer and a SQLite file there."""

    def run(tmp_path: Path, text: str = SPACE, calls: Calls | None = None, **kwargs: Any) -> optuna.Study:
        tmp_path.mkdir(exist_ok=True)
        path = tmp_path / "space.yaml"
        path.write_text(text)
        kwargs.setdefault("storage", f"sqlite:///{tmp_path / 'db.sqlite'}")
        kwargs.setdefault("heartbeat_s", 2)
        return run_search(load_space(path), trainer=(calls or Calls()).trainer, cheap_cache=cheap_cache, **kwargs)

    return run


def trials(study: optuna.Study, *states: TrialState) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(states=states or None)


def failures(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Failed trials, without the proposals that stepped aside for a trial of the same network."""
    return [t for t in trials(study, TrialState.FAIL) if "reused_from" not in t.user_attrs]


def test_trials_store_every_measure_of_the_contract(tmp_path: Path, search: Search) -> None:
    study = search(tmp_path, early_stop=False)
    assert study.metric_names == ["accuracy", "macs"]
    assert study.user_attrs["objectives"] == ["accuracy:max", "macs:min"]
    assert study.user_attrs["budgets"] == {} and study.user_attrs["backbone"] == "cifar_resnet20"
    assert study.user_attrs["dataset"] == "digits-clutter" and study.user_attrs["space"]["params"][
        "spatial.kernel"
    ] == [3, 7]
    done = trials(study, TrialState.COMPLETE)
    assert len(done) == 4
    for t in done:
        assert CONTRACT_ATTRS <= t.user_attrs.keys(), CONTRACT_ATTRS - t.user_attrs.keys()
        arch = ArchSpec.from_dict(t.user_attrs["arch"])
        assert arch.archid == t.user_attrs["archid"] and (arch.in_channels, arch.input_size) == (1, 16)
        assert t.user_attrs["summary"] == arch.attention.summary()
        assert t.user_attrs["accuracy"] == pytest.approx(fake_training.final_accuracy(arch, 0))
        assert t.values == [t.user_attrs["accuracy"], t.user_attrs["macs"]]
        assert t.user_attrs["feasible"] is True and t.user_attrs["constraints"] == []
        assert t.user_attrs["latency_ms"] <= t.user_attrs["latency_p90_ms"]
        assert t.user_attrs["latency_ratio"] > 0 and (t.user_attrs["latency_ratio"] == 1.0) == (
            arch.attention.kind == "none"
        )
        # 2 timed rounds are too few for the ratio's interval; the plain network's is exact
        assert t.user_attrs.get("latency_ratio_interval") == ([1.0, 1.0] if arch.attention.kind == "none" else None)
        assert t.user_attrs["env"].keys() == {
            "python",
            "torch",
            "cuda",
            "device",
            "cbam_bench",
            "threads",
            "machine",
            "fused",
        }
        assert t.user_attrs["env"]["fused"] == "auto"  # the fused mode the trial trained and was timed with
        # CBAM modules carry a fused mode; SE and no attention have none to record.
        assert t.user_attrs["latency_setup"]["fused"] == ("auto" if arch.attention.kind == "cbam" else None)
        assert t.user_attrs["seeds"] == 1 and t.user_attrs["accuracy_std"] == 0.0


def test_the_no_attention_baseline_is_the_first_trial(tmp_path: Path, search: Search) -> None:
    study = search(tmp_path / "tpe", early_stop=False)
    first = min(trials(study), key=lambda t: t.number)
    assert first.params == {"attention.kind": "none"} and first.user_attrs["summary"] == "none"
    without = SPACE.replace("[none, se, cbam]", "[se, cbam]")
    first = min(trials(search(tmp_path / "no-none", without, early_stop=False)), key=lambda t: t.number)
    assert first.params["attention.kind"] != "none"


def test_budget_rules_candidates_out_before_training(tmp_path: Path, search: Search) -> None:
    calls = Calls()
    from cbam_bench.models.build import build_model

    plain = fake_training.fit_arch(ArchSpec("cifar_resnet20"), TrainSpec())
    limit = sum(p.numel() for p in build_model(plain).parameters())  # only the network without attention fits
    study = search(tmp_path, SPACE + f"sampler: grid\nbudgets: {{params: {limit}}}\n", calls)
    done = trials(study, TrialState.COMPLETE)
    assert sorted(t.user_attrs["summary"] for t in done) == [
        "cbam avg+max r16 k3 c-s",
        "cbam avg+max r16 k7 c-s",
        "none",
        "se avg r16",
    ]
    for t in done:
        over = t.user_attrs["params"] - limit
        assert t.user_attrs["constraints"] == [over] and t.constraints == {"params": over}
        assert t.user_attrs["feasible"] is (over <= 0)
        if over > 0:
            assert t.user_attrs["accuracy"] == 0.0 and t.values[0] == 0.0 and t.user_attrs["train_s"] == 0.0
    assert calls.calls == [(plain.archid, 0)]


def test_every_candidate_over_budget_means_no_training_at_all(tmp_path: Path, search: Search) -> None:
    calls = Calls()
    study = search(tmp_path, SPACE + "budgets: {macs: 1000}\n", calls, trials=3)
    assert calls.calls == []
    assert [t.user_attrs["feasible"] for t in trials(study)] == [False] * 3
    assert pareto_front(records_from_study(study)) == []
    assert count_trials(study).infeasible == 3


def test_trials_are_distinct_networks_and_a_small_space_stops_when_all_are_done(tmp_path: Path, search: Search) -> None:
    calls, notes = Calls(), Notes()
    study = search(tmp_path, SPACE, calls, trials=6, sampler="random", early_stop=False, observer=notes)
    finished = trials(study, TrialState.COMPLETE, TrialState.PRUNED)
    archids = [t.user_attrs["archid"] for t in finished]
    assert len(finished) == 4 and len(set(archids)) == 4  # none, se, cbam k3, cbam k7: every one once
    assert sorted(a for a, _ in calls.calls) == sorted(archids)
    assert notes.lines[0].endswith(
        "the space holds 4 candidates, fewer than the 6 trials asked for; the study stops when all 4 are done"
    )
    for t in trials(study, TrialState.FAIL):  # proposals of a network already held were stepped aside
        assert t.user_attrs["fail_reason"].startswith(
            f"duplicate: the same network as trial {t.user_attrs['reused_from']} "
        )
        assert t.user_attrs["archid"] in archids and "macs" not in t.user_attrs
    assert count_trials(study).failed == 0


def test_a_proposal_of_a_seen_network_is_never_trained_and_an_untried_one_is_queued(
    tmp_path: Path, search: Search
) -> None:
    calls = Calls()
    first = search(tmp_path, SPACE, calls, trials=1)  # the baseline
    for _ in range(MAX_REASKS + 1):
        first.enqueue_trial({"attention.kind": "none"})  # what a sampler stuck on one network would propose
    study = search(tmp_path, SPACE, calls, trials=2)
    records = records_from_study(study)
    duplicates = [t for t in records.trials if t.status == "duplicate"]
    assert [t.number for t in duplicates] == list(range(1, MAX_REASKS + 2)) and {t.reused_from for t in duplicates} == {
        0
    }
    assert [c for c in calls.calls if c[0] == records.trial(0).attrs.archid] == [(records.trial(0).attrs.archid, 0)]
    (second,) = [t for t in records.trials if t.status in ("complete", "pruned") and t.number != 0]
    assert second.attention_kind != "none" and len(calls.calls) == 2  # the queued untried candidate
    counts = count_trials(study)
    assert (counts.finished, counts.duplicates, counts.failed) == (2, MAX_REASKS + 1, 0)


def _latency(median_ms: float) -> Latency:
    return Latency(
        median_ms, median_ms * 1.1, 0.1, median_ms * 0.9, 5, 1, 1, 16, "cpu", "float32", "contiguous", 1, "test"
    )


def test_latency_ratio_is_taken_against_the_plain_network_timed_alternately(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[torch.nn.Module, torch.nn.Module]] = []

    def fake_compare(model_a: torch.nn.Module, model_b: torch.nn.Module, shape: tuple[int, ...], **_: Any):
        calls.append((model_a, model_b))
        return _latency(2.0), _latency(3.0), paired

    monkeypatch.setattr(latency_module, "compare_latency", fake_compare)
    monkeypatch.setattr(latency_module, "measure_latency", lambda model, shape, **_: _latency(1.5))
    arch = ArchSpec(
        "cifar_resnet20", width=0.25, num_classes=10, input_size=16, in_channels=1, attention=AttentionSpec(kind="cbam")
    )
    paired = None  # under six rounds: no interval, and the ratio of the two medians
    measures = cheap_measures(arch, LatencySetup(repeats=5, warmup=1))
    # what reuse and retrain treat as known before training
    assert measures.to_user_attrs().keys() == {*COST_METRICS, "latency_setup"}
    assert (measures.latency_ms, measures.latency_p90_ms, measures.latency_ratio) == (3.0, pytest.approx(3.3), 1.5)
    paired = MedianInterval(1.4, 1.3, 1.6, 50)  # enough rounds: the median of the pairs' ratios, with its interval
    timed = cheap_measures(arch, LatencySetup(repeats=50, warmup=1))
    assert (timed.latency_ratio, timed.latency_ratio_interval) == (1.4, [1.3, 1.6])
    assert set(timed.to_user_attrs()) == {*COST_METRICS, "latency_setup", "latency_ratio_interval"}
    calls.pop()
    ((plain, with_cbam),) = calls
    assert not any("attention" in name for name, _ in plain.named_modules())  # A: the same network, no attention
    assert any("attention" in name for name, _ in with_cbam.named_modules())
    assert sum(p.numel() for p in with_cbam.parameters()) == measures.params
    bare = cheap_measures(dataclasses.replace(arch, attention=AttentionSpec(kind="none")), LatencySetup())
    assert (bare.latency_ms, bare.latency_ratio) == (1.5, 1.0) and len(calls) == 1  # nothing to compare with
    assert bare.latency_ratio_interval == [1.0, 1.0]  # the plain network against itself: exact


def test_median_rule_by_hand() -> None:
    class T:
        def __init__(self, *curve: float) -> None:
            self.user_attrs = {"curve": list(curve)}

    earlier = [T(0.2, 0.5), T(0.3, 0.6), T(0.4, 0.7), T(0.1)]
    rule = EarlyStop(warmup_epochs=1, min_trials=3)
    assert median_rule(earlier, 1, 0.0, rule) is None  # warm-up
    assert median_rule(earlier, 2, 0.6, rule) is None  # at the median of 0.5, 0.6, 0.7
    reason = median_rule(earlier, 2, 0.59, rule)
    assert reason == "validation accuracy 0.5900 at epoch 2 is below the median 0.6000 of 3 earlier trials"
    assert median_rule(earlier, 2, 0.0, EarlyStop(warmup_epochs=1, min_trials=4)) is None  # only 3 reached epoch 2


def test_median_rule_compares_only_with_trials_no_costlier() -> None:
    class T:
        def __init__(self, macs: float, *curve: float) -> None:
            self.user_attrs = {"curve": list(curve), "macs": macs}

    earlier = [T(10, 0.5, 0.8), T(10, 0.5, 0.7), T(12, 0.5, 0.9), T(5, 0.5, 0.4), T(5, 0.5, 0.5)]
    rule = EarlyStop(warmup_epochs=1, min_trials=2)
    # The cheapest design is judged only against equally cheap ones: 0.45 is at their median.
    assert median_rule(earlier, 2, 0.45, rule, {"macs": 5}) is None
    assert median_rule(earlier, 2, 0.44, rule, {"macs": 5}) == (
        "validation accuracy 0.4400 at epoch 2 is below the median 0.4500 of 2 earlier trials no costlier than it"
    )
    # With too few designs as cheap as it, nothing stops the cheapest one
    assert median_rule(earlier, 2, 0.0, rule, {"macs": 4}) is None
    # A costly one faces everyone at or below its cost: median of 0.8, 0.7, 0.4, 0.5 is 0.6
    assert median_rule(earlier, 2, 0.59, rule, {"macs": 10}).endswith(
        "median 0.6000 of 4 earlier trials no costlier than it"
    )
    # Trials that lack the measure (failed before measuring) are not comparators
    assert (
        median_rule([T(5, 0.5, 0.9), type("U", (), {"user_attrs": {"curve": [0.5, 0.9]}})()], 2, 0.1, rule, {"macs": 5})
        is None
    )


def test_early_stopping_prunes_and_can_be_turned_off(tmp_path: Path, search: Search) -> None:
    # No cost objective, so every earlier trial is a comparator (the plain median rule).
    text = SPACE.replace("trials: 4", "trials: 10").replace("macs:min", "top5:max") + (
        "  channel.reduction: [4, 8, 16]\nearly_stop: {warmup_epochs: 1, min_trials: 2}\n"
    )
    stopped = search(tmp_path / "on", text)
    pruned = trials(stopped, TrialState.PRUNED)
    assert pruned, "some trial is below the median"
    for t in pruned:
        epoch = t.user_attrs["stopped_at_epoch"]
        assert 1 < epoch < 3 and len(t.user_attrs["curve"]) == epoch
        assert t.user_attrs["stopped_reason"].startswith(
            f"validation accuracy {t.user_attrs['curve'][-1]:.4f} at epoch {epoch}"
        )
        assert t.intermediate_values == {}  # several objectives: no trial.report
    assert count_trials(stopped).finished == 10
    unstopped = search(tmp_path / "off", text, early_stop=False)
    assert trials(unstopped, TrialState.PRUNED) == [] and len(trials(unstopped, TrialState.COMPLETE)) == 10


def test_early_stopping_on_the_training_loss_stores_and_compares_loss_curves(tmp_path: Path, search: Search) -> None:
    text = SPACE.replace("trials: 4", "trials: 10").replace("macs:min", "top5:max") + (
        "  channel.reduction: [4, 8, 16]\nearly_stop: {warmup_epochs: 1, min_trials: 2, signal: loss}\n"
    )
    study = search(tmp_path, text)
    done = trials(study, TrialState.COMPLETE)
    for t in done:  # the fake's loss is (2 - final accuracy) / epoch
        final = t.user_attrs["seed_accuracies"][0]
        assert t.user_attrs["loss_curve"] == pytest.approx([(2 - final) / e for e in (1, 2, 3)])
    pruned = trials(study, TrialState.PRUNED)
    assert pruned, "some trial's loss is above the median"
    for t in pruned:
        epoch, losses = t.user_attrs["stopped_at_epoch"], t.user_attrs["loss_curve"]
        assert len(losses) == len(t.user_attrs["curve"]) == epoch == 2
        assert t.user_attrs["stopped_reason"].startswith(
            f"training loss {losses[-1]:.4f} at epoch 2 is above the median"
        )


def test_one_objective_uses_optunas_pruner(tmp_path: Path, search: Search) -> None:
    text = SPACE.replace("[accuracy:max, macs:min]", "[accuracy:max]").replace("trials: 4", "trials: 8") + (
        "early_stop: {warmup_epochs: 1, min_trials: 2}\n"
    )
    study = search(tmp_path, text)
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)
    trained = [t for t in trials(study, TrialState.COMPLETE, TrialState.PRUNED) if "reused_from" not in t.user_attrs]
    for t in trained:
        assert sorted(t.intermediate_values) == list(range(1, len(t.user_attrs["curve"]) + 1))
    assert all(
        t.user_attrs["stopped_reason"].startswith("Optuna's median pruner") for t in trials(study, TrialState.PRUNED)
    )


def test_seeds_give_mean_std_and_every_seed(tmp_path: Path, search: Search) -> None:
    calls = Calls()
    study = search(tmp_path, SPACE.replace("trials: 4", "trials: 2"), calls, seeds=3, early_stop=False)
    for t in trials(study, TrialState.COMPLETE):
        if "reused_from" in t.user_attrs:
            continue
        arch = ArchSpec.from_dict(t.user_attrs["arch"])
        expected = [fake_training.final_accuracy(arch, s) for s in (0, 1, 2)]
        assert t.user_attrs["seed_accuracies"] == pytest.approx(expected)
        assert t.user_attrs["accuracy"] == pytest.approx(statistics.mean(expected))
        assert t.user_attrs["accuracy_std"] == pytest.approx(statistics.stdev(expected))
        assert t.user_attrs["seeds"] == 3 and t.user_attrs["images_per_s"] == pytest.approx(1001.0)
        assert [s for a, s in calls.calls if a == arch.archid] == [0, 1, 2]


def test_failures_are_recorded_with_their_reason_and_the_study_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, search: Search
) -> None:
    monkeypatch.setenv("FAKE_FAIL_KIND", "se")
    study = search(tmp_path, WIDER.replace("trials: 4", "trials: 5"), early_stop=False)
    failed = failures(study)
    assert failed, "se was sampled"
    for t in failed:
        assert t.user_attrs["summary"].startswith("se")
        lr = TrainSpec().lr  # the stand-in's message carries the recipe's learning rate
        assert t.user_attrs["fail_reason"] == f"TrainingError: loss became nan at epoch 1, step 3 (lr {lr})"
    assert count_trials(study).finished == 5
    assert all("fail_reason" not in t.user_attrs for t in trials(study, TrialState.COMPLETE))


def test_a_candidate_whose_real_training_explodes_is_failed_and_the_study_goes_on(
    tmp_path: Path, search: Search
) -> None:
    from cbam_bench.train import train as real_train

    def se_explodes(arch: ArchSpec, spec: Any, *, on_epoch: Any = None) -> Any:
        """The real trainer at lr 1e6 for se (its loss stays finite but explodes), the stand-in for the rest."""
        if arch.attention.kind != "se":
            return fake_training.train(arch, spec, on_epoch=on_epoch)
        tiny = dataclasses.replace(
            spec, lr=1e6, image_size=16, train_images=256, val_images=128, batch_size=64, device="cpu"
        )
        return real_train(dataclasses.replace(arch, width=0.5), tiny, on_epoch=on_epoch)

    study = search(tmp_path, WIDER.replace("trials: 4", "trials: 5"), Calls(se_explodes), early_stop=False)
    failed = failures(study)
    assert failed, "se was sampled"
    for t in failed:
        assert t.user_attrs["summary"].startswith("se") and "accuracy" not in t.user_attrs
        assert t.user_attrs["fail_reason"].startswith("TrainingError: training loss exploded to ")
        assert "in epoch 1 (more than 10 x ln(10 classes) = 23" in t.user_attrs["fail_reason"]
    assert count_trials(study).finished == 5
    assert all(not t.user_attrs["summary"].startswith("se") for t in trials(study, TrialState.COMPLETE))


def test_a_model_exception_is_a_failure_too(tmp_path: Path, search: Search) -> None:
    def out_of_memory(arch: ArchSpec, spec: Any, *, on_epoch: Any = None) -> Any:
        if arch.attention.kind == "cbam":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")
        return fake_training.train(arch, spec, on_epoch=on_epoch)

    calls, notes = Calls(out_of_memory), Notes()
    study = search(tmp_path, WIDER.replace("trials: 4", "trials: 5"), calls, early_stop=False, observer=notes)
    reasons = {t.user_attrs["fail_reason"] for t in failures(study)}
    assert reasons == {"RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"}
    # Only none and the three se networks can finish; each cbam network is tried once, then the study stops.
    assert count_trials(study).finished == 4 and len(calls.calls) == len(set(calls.calls)) == 10
    assert notes.lines[-1] == "every candidate of the space has been tried: 4 finished of the 5 asked for, 6 failed"


def test_a_study_that_only_fails_stops_with_an_error(tmp_path: Path, search: Search) -> None:
    def broken(arch: ArchSpec, spec: Any, *, on_epoch: Any = None) -> Any:
        raise ValueError("shapes do not match")

    with pytest.raises(
        RuntimeError,
        match=f"{MAX_FAILURES_IN_A_ROW} trials in a row failed, the last with 'ValueError: shapes do not match'",
    ):
        search(tmp_path, WIDER, Calls(broken), trials=10)
    study = optuna.load_study(study_name="space", storage=f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert len(failures(study)) == MAX_FAILURES_IN_A_ROW


def test_rerunning_resumes_and_stops_at_the_target(tmp_path: Path, search: Search) -> None:
    calls = Calls()
    first = search(tmp_path, SPACE, calls, trials=3)
    before = [(t.number, t.state, t.values) for t in trials(first)]
    made = len(calls.calls)
    again = search(tmp_path, SPACE, calls, trials=3)
    assert [(t.number, t.state, t.values) for t in trials(again)] == before and len(calls.calls) == made
    more = search(tmp_path, SPACE, calls, trials=4)  # every candidate of the space
    assert count_trials(more).finished == 4 and [t.number for t in trials(more)][: len(before)] == [
        n for n, _, _ in before
    ]


def test_bad_dataset_writes_nothing(tmp_path: Path, search: Search) -> None:
    with pytest.raises(DataError, match="not available"):
        search(tmp_path, SPACE + "dataset: cifar100\n")
    assert not (tmp_path / "db.sqlite").exists()


def test_gpu_latency_without_a_gpu_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, search: Search
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SpaceError, match="latency.device: cuda is not available on this machine"):
        search(tmp_path, SPACE.replace("latency: {warmup: 0, repeats: 2}", "latency: {device: cuda}"))
    assert not (tmp_path / "db.sqlite").exists()


def test_resuming_with_other_settings_is_refused(tmp_path: Path, search: Search) -> None:
    search(tmp_path, SPACE, trials=1)
    with pytest.raises(
        StudyError, match=r"study 'space' in sqlite:///.* was created with different settings \(train: stored"
    ):
        search(tmp_path, SPACE, trials=2, epochs=2)
    with pytest.raises(StudyError, match="the searched parameters"):
        search(tmp_path, SPACE.replace("[3, 7]", "[3, 5]"), trials=2)
    study = optuna.load_study(study_name="space", storage=f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert len(study.trials) == 1
    search(tmp_path, SPACE, trials=2, epochs=2, study_name="space-2-epochs")


def test_an_interrupted_trial_is_failed_and_queued_again(tmp_path: Path, search: Search) -> None:
    def interrupt(arch: ArchSpec, spec: Any, *, on_epoch: Any = None) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        search(tmp_path, SPACE, Calls(interrupt))
    study = optuna.load_study(study_name="space", storage=f"sqlite:///{tmp_path / 'db.sqlite'}")
    failed, queued = study.trials
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_reason"] == INTERRUPTED
    assert queued.state == TrialState.WAITING
    resumed = search(tmp_path, SPACE, trials=1)
    assert resumed.trials[1].state == TrialState.COMPLETE and resumed.trials[1].params == failed.params


class Notes(SearchObserver):
    """Keeps the run's notes (the lines the command line prints that are not a trial's outcome)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(text)


def test_sigterm_records_the_trial_as_interrupted_and_queues_it_again(tmp_path: Path, search: Search) -> None:
    def terminated(arch: ArchSpec, spec: Any, *, on_epoch: Any = None) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` from outside, while the trial trains
        time.sleep(5)  # the handler raises at the next bytecode; this never finishes
        raise AssertionError("SIGTERM did not stop training")

    before = signal.getsignal(signal.SIGTERM)
    notes = Notes()
    with pytest.raises(Interrupted) as info:
        search(tmp_path, SPACE, Calls(terminated), observer=notes)
    assert info.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before  # the search's handler is gone with it
    study = optuna.load_study(study_name="space", storage=f"sqlite:///{tmp_path / 'db.sqlite'}")
    failed, queued = study.trials
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_reason"] == "interrupted (SIGTERM); queued again"
    assert queued.state == TrialState.WAITING and queued.system_attrs["fixed_params"] == failed.params
    assert notes.lines == [
        "interrupted by SIGTERM: trial 0 recorded as FAIL (interrupted) and queued again; run the same command to resume"
    ]
    resumed = search(tmp_path, SPACE, trials=2)
    assert count_trials(resumed).finished == 2 and resumed.trials[1].params == failed.params


def test_an_interrupt_between_trials_records_nothing_and_says_so(
    tmp_path: Path, search: Search, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cbam_bench.search import run as run_module

    def interrupted_while_looking(study: optuna.Study, storage: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "fail_stale", interrupted_while_looking)
    notes = Notes()
    with pytest.raises(Interrupted) as info:
        search(tmp_path, SPACE, observer=notes)
    assert info.value.signum == signal.SIGINT
    assert notes.lines == ["interrupted: no trial was running, so nothing was recorded; run the same command to resume"]


def _running(study: optuna.Study, storage: Any, params: dict, history: list[int]) -> int:
    """A trial of `params` that a worker took and is training: queued, asked for, one heartbeat."""
    kinds = optuna.distributions.CategoricalDistribution(["none", "se"])
    system = {"retry_history": history, "failed_trial": history[0]} if history else {}
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING, params=params, distributions={"attention.kind": kinds}, system_attrs=system
        )
    )
    trial = ask(study)
    trial.set_user_attr("archid", params["attention.kind"])
    tid = trial_id(storage, study, trial.number)
    storage.record_heartbeat(tid)
    return trial.number


def test_a_trial_whose_worker_went_silent_is_failed_with_its_reason_and_retried(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}", heartbeat_s=1)
    study = optuna.create_study(storage=storage, study_name="stale", directions=["maximize"])
    used_up = list(range(100, 100 + MAX_RETRIES))  # the trial numbers of two earlier runs of the series
    baseline = _running(study, storage, {"attention.kind": "none"}, used_up)
    other = _running(study, storage, {"attention.kind": "se"}, used_up)
    fresh = _running(study, storage, {"attention.kind": "se"}, [])

    deadline = time.monotonic() + 60
    while study.get_trials(states=(TrialState.RUNNING,)) and time.monotonic() < deadline:
        time.sleep(0.5)  # silent for over the grace period of 2 s (2 heartbeats)
        fail_stale(study, storage)
    by_number = {t.number: t for t in study.trials}
    head = "heartbeat stale: no heartbeat for over 2 s (its worker was killed or lost)"
    assert by_number[baseline].state == by_number[other].state == by_number[fresh].state == TrialState.FAIL
    assert by_number[baseline].user_attrs["fail_reason"] == (
        f"{head}; queued again (the no-attention baseline is retried until it finishes)"
    )
    assert by_number[other].user_attrs["fail_reason"] == f"{head}; not queued again: it already ran 3 times"
    assert by_number[fresh].user_attrs["fail_reason"] == f"{head}; queued again"
    retries = {t.system_attrs["retry_history"][-1]: t for t in study.get_trials(states=(TrialState.WAITING,))}
    assert sorted(retries) == [baseline, fresh]  # the used-up se trial runs no more
    assert retries[baseline].system_attrs["retry_history"] == [*used_up, baseline]
    assert retries[baseline].system_attrs["failed_trial"] == used_up[0]
    assert (
        retries[fresh].system_attrs["retry_history"] == [fresh] and retries[fresh].system_attrs["failed_trial"] == fresh
    )
    for number, retry in retries.items():
        assert retry.params == by_number[number].params
        assert retry.user_attrs == {"archid": by_number[number].params["attention.kind"]}  # no fail_reason


def test_a_study_without_its_baseline_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, search: Search) -> None:
    healthy = Notes()
    search(tmp_path / "healthy", SPACE, trials=2, early_stop=False, observer=healthy)
    assert healthy.lines == []
    monkeypatch.setenv("FAKE_FAIL_KIND", "none")
    notes = Notes()
    study = search(tmp_path / "failed", SPACE, trials=2, early_stop=False, observer=notes)
    assert study.trials[0].params == {"attention.kind": "none"} and study.trials[0].state == TrialState.FAIL
    lr = TrainSpec().lr
    assert notes.lines == [
        "warning: study 'space' has no no-attention baseline (trial 0 ended FAIL: TrainingError: loss became nan at "
        f"epoch 1, step 3 (lr {lr})); compare has nothing to measure against"
    ]


def test_a_trial_beyond_the_target_goes_back_to_the_queue(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    storage = open_storage(url, heartbeat_s=1)
    study = optuna.create_study(storage=storage, study_name="slots", directions=["maximize"])
    study.add_trial(optuna.trial.create_trial(value=1.0))
    mine, other = ask(study), ask(study)
    assert holds_slot(study, mine.number, 2) and not holds_slot(study, other.number, 2)
    release(storage, trial_id(storage, study, other.number))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING]
    study.tell(mine, state=TrialState.FAIL)  # a failure frees its slot ...
    assert holds_slot(study, other.number, 2)
    assert ask(study).number == other.number  # ... and the queued trial is handed out first
    assert len(study.get_trials(states=LIVE)) == 2


@pytest.mark.slow  # a whole study: four networks traced, counted and timed (about 6 s)
def test_a_space_searches_bam_and_coordinate_attention_with_their_options(tmp_path: Path, search: Search) -> None:
    text = SPACE.replace("[none, se, cbam]", "[none, bam, coord]").replace(
        "spatial.kernel: [3, 7]",
        ("attention.combine: [sum, product]\n  channel.reduction: [4]\n  placement.position: [between-stages]"),
    )
    study = search(tmp_path, text, sampler="grid", early_stop=False)
    done = trials(study, TrialState.COMPLETE)
    archs = [ArchSpec.from_dict(t.user_attrs["arch"]) for t in done]
    # Grid: none, bam with either combine, coord: four networks, each once.
    assert len({a.archid for a in archs}) == len(done) == 4
    assert sorted(a.attention.summary() for a in archs) == ["bam r4 product", "bam r4 sum", "coord r4", "none"]
    base = next(t for t, a in zip(done, archs) if a.attention.kind == "none").user_attrs
    for t, arch in zip(done, archs):
        assert ("attention.combine" in t.params) == (arch.attention.kind == "bam")
        assert t.user_attrs["summary"] == arch.attention.summary()
        if arch.attention.kind != "none":
            assert t.user_attrs["params"] > base["params"] and t.user_attrs["elementwise_ops"] > 0
