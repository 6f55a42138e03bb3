"""The stored trial record: its key lists, lossless round trips, and studies written by version 0.2."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from cbam_bench.metrics import METRICS, OBJECTIVE_METRICS
from cbam_bench.records import load_records
from cbam_bench.report.summary import trial_item
from cbam_bench.search.early_stop import median_rule
from cbam_bench.search.slots import count_trials
from cbam_bench.space import EarlyStop
from cbam_bench.trial_attrs import BUDGET_METRICS, COST_METRICS, TRIAL_MEASURES, TrialAttrs, keys

FIELDS = {f.name: f.metadata["kind"] for f in dataclasses.fields(TrialAttrs) if "kind" in f.metadata}
FINITE = st.floats(allow_nan=False, allow_infinity=False)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | FINITE | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
BY_KIND = {
    "number": st.integers(0, 10**10) | FINITE,
    "int": st.integers(-(10**6), 10**6),
    "bool": st.booleans(),
    "str": st.text(max_size=12),
    "list": st.lists(FINITE, max_size=4),
    "dict": st.dictionaries(st.text(max_size=6), JSON, max_size=3),
}


@st.composite
def typed_attrs(draw: st.DrawFn) -> TrialAttrs:
    values = {name: draw(st.none() | BY_KIND[kind]) for name, kind in FIELDS.items()}
    unset = sorted(name for name, value in values.items() if value is None)
    nulls = draw(st.frozensets(st.sampled_from(unset))) if unset else frozenset()
    extra = draw(st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k not in FIELDS), JSON, max_size=3))
    return TrialAttrs(**values, nulls=nulls, extra=extra)


def test_key_lists_are_the_record_fields_by_group() -> None:
    assert (
        COST_METRICS
        == BUDGET_METRICS
        == ("params", "macs", "elementwise_ops", "latency_ms", "latency_p90_ms", "latency_ratio")
    )
    assert TRIAL_MEASURES == (
        "accuracy",
        "accuracy_std",
        "top5",
        "map",
        "map50",
        "test_accuracy",
        "test_top5",
        "seeds",
        "params",
        "macs",
        "elementwise_ops",
        "latency_ms",
        "latency_p90_ms",
        "latency_ratio",
        "train_s",
        "images_per_s",
    )
    assert keys("identity") == ("seeds", "archid", "arch", "summary")
    assert keys("outcome") == (
        "reused_from",
        "curve",
        "loss_curve",
        "stopped_at_epoch",
        "stopped_reason",
        "fail_reason",
    )
    # every metric a report can show or a search optimise is a numeric stored key
    assert set(METRICS) <= {name for name, kind in FIELDS.items() if kind == "number"}
    assert set(OBJECTIVE_METRICS) <= set(METRICS)


@given(typed_attrs())
def test_typed_attrs_round_trip_through_stored_json(attrs: TrialAttrs) -> None:
    stored = json.loads(json.dumps(attrs.to_user_attrs()))  # what Optuna's storages keep
    assert TrialAttrs.from_user_attrs(stored) == attrs


@given(st.dictionaries(st.sampled_from(sorted(FIELDS)) | st.text(max_size=10), JSON, max_size=10))
def test_any_stored_attrs_are_written_back_unchanged(stored: dict[str, Any]) -> None:
    attrs = TrialAttrs.from_user_attrs(stored)
    assert attrs.to_user_attrs() == stored
    for name, value in stored.items():  # a value of the wrong type is kept aside, never read as the field
        if name in FIELDS and (value is None or _fits(FIELDS[name], value)):
            assert getattr(attrs, name) == value and name not in attrs.extra
        else:
            assert attrs.extra[name] == value and (name not in FIELDS or getattr(attrs, name) is None)


def _fits(kind: str, value: Any) -> bool:
    """The types each kind of key admits (a bool is not a number here, as in JSON)."""
    if isinstance(value, bool):
        return kind == "bool"
    types = {"number": (int, float), "int": int, "bool": (), "str": str, "list": list, "dict": dict}[kind]
    return isinstance(value, types)


def test_merging_writes_the_later_keys_over_the_earlier_and_keeps_nulls() -> None:
    merged = TrialAttrs(accuracy=0.5, macs=10) | TrialAttrs.measured(accuracy=0.7, test_top5=None)
    assert merged.to_user_attrs() == {"accuracy": 0.7, "macs": 10, "test_top5": None}
    assert merged.only(("macs", "test_top5")).to_user_attrs() == {"macs": 10, "test_top5": None}
    assert TrialAttrs.from_user_attrs({"feasible": 1, "params": True}).extra == {"feasible": 1, "params": True}


# --- a study as version 0.2 wrote it ------------------------------------------------------------
# The user_attrs below are what 0.2's search stored (copied from a 0.2 run with the fake trainer,
# cut to the keys and values it writes; the pruned and failed trials follow 0.2's search/trial.py
# and search/run.py): a trained trial, one over budget, one that reused trial 0, one stopped early,
# and one that failed.

ENV = {
    "python": "3.11.7",
    "torch": "2.14.1+cu130",
    "cuda": None,
    "device": "cpu",
    "cbam_bench": "0.2.0",
    "threads": 2,
    "machine": "x86_64",
}
SETUP = {"batch": 1, "device": "cpu", "dtype": "float32", "memory_format": "contiguous", "threads": 1, "repeats": 2}


def _arch(kind: str, reduction: int = 16) -> dict[str, Any]:
    return {
        "backbone": "cifar_resnet20",
        "width": 1.0,
        "stride_on": "3x3",
        "num_classes": 10,
        "input_size": 16,
        "in_channels": 1,
        "attention": {
            "kind": kind,
            "pooling": ["avg", "max"],
            "reduction": reduction,
            "min_hidden": 1,
            "mlp_bias": True,
            "descriptor": "avg+max",
            "kernel": 7,
            "spatial_bn": True,
            "order": "channel-spatial",
        },
        "placement": {"stages": None, "blocks": "all", "position": "residual"},
    }


NONE_CHEAP = {
    "archid": "144c0ffc3d45",
    "arch": _arch("none"),
    "summary": "none",
    "seeds": 2,
    "params": 269434,
    "macs": 10064512,
    "elementwise_ops": 0,
    "latency_ms": 3.1372695000300155,
    "latency_p90_ms": 5.027849099997184,
    "latency_ratio": 1.0,
    "latency_setup": SETUP,
    "env": ENV,
    "constraints": [-3566.0],
    "feasible": True,
}
NONE_TRAINED = {
    "accuracy": 0.5155476157240448,
    "accuracy_std": 0.00021081045595945695,
    "seed_accuracies": [0.5156966812269987, 0.5153985502210908],
    "top5": 0.7155476157240448,
    "test_accuracy": 0.5055476157240448,
    "test_top5": None,
    "train_s": 0.1,
    "images_per_s": 1000.5,
    "epochs": 3,
}
SE_CHEAP = {
    "archid": "b030f50ed947",
    "arch": _arch("se", 8),
    "summary": "se avg r8",
    "seeds": 2,
    "params": 273844,
    "macs": 10068544,
    "elementwise_ops": 43722,
    "latency_ms": 1.984990499977357,
    "latency_p90_ms": 2.5202604999776668,
    "latency_ratio": 2.1348069843021915,
    "latency_setup": SETUP,
    "env": ENV,
}
OLD_TRIALS = (  # state, values (accuracy:max, macs:min), params, user_attrs
    (
        "COMPLETE",
        [0.5155476157240448, 10064512.0],
        {"attention.kind": "none"},
        {**NONE_CHEAP, **NONE_TRAINED, "curve": [0.17189889374233291, 0.34379778748466583, 0.5156966812269987]},
    ),
    (
        "COMPLETE",
        [0.0, 10068544.0],
        {"attention.kind": "se"},
        {
            **SE_CHEAP,
            "constraints": [844.0],
            "feasible": False,
            "accuracy": 0.0,
            "top5": 0.0,
            "accuracy_std": 0.0,
            "seed_accuracies": [],
            "train_s": 0.0,
        },
    ),
    (
        "COMPLETE",
        [0.5155476157240448, 10064512.0],
        {"attention.kind": "none"},
        {**NONE_CHEAP, **NONE_TRAINED, "reused_from": 0},
    ),
    (
        "PRUNED",
        None,
        {"attention.kind": "se"},
        {
            **SE_CHEAP,
            "constraints": [-10.0],
            "feasible": True,
            "curve": [0.1, 0.2],
            "stopped_at_epoch": 2,
            "stopped_reason": "validation accuracy 0.2000 at epoch 2 is below the median 0.3438 of 4 earlier trials",
        },
    ),
    (
        "FAIL",
        None,
        {"attention.kind": "se"},
        {
            **SE_CHEAP,
            "constraints": [-10.0],
            "feasible": True,
            "fail_reason": "TrainingError: loss became nan at epoch 1, step 3 (lr 0.2)",
        },
    ),
)


@pytest.fixture
def old_study(tmp_path) -> str:
    """A SQLite study made with Optuna alone, holding exactly what 0.2 stored."""
    url = f"sqlite:///{tmp_path / 'v02.db'}"
    study = optuna.create_study(study_name="old", storage=url, directions=["maximize", "minimize"])
    for key, value in {
        "objectives": ["accuracy:max", "macs:min"],
        "budgets": {"params": 273000.0},
        "dataset": "digits-clutter",
        "backbone": "cifar_resnet20",
    }.items():
        study.set_user_attr(key, value)
    kinds = CategoricalDistribution(["none", "se", "cbam"])
    for state, values, params, attrs in OLD_TRIALS:
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState[state],
                values=values,
                params=params,
                distributions={"attention.kind": kinds},
                user_attrs=attrs,
            )
        )
    return url


def test_a_study_written_by_0_2_reads_unchanged(old_study: str) -> None:
    records = load_records(old_study, "old")
    assert [t.status for t in records.trials] == ["complete", "infeasible", "reused", "pruned", "failed"]
    trained, over, reused, pruned, failed = records.trials
    assert trained.attrs.accuracy == 0.5155476157240448 and trained.attrs.test_top5 is None
    assert trained.attrs.params == 269434 and trained.attrs.seeds == 2 and trained.attrs.extra == {}
    assert over.feasible is False and over.attrs.constraints == [844.0] and over.attrs.epochs is None
    assert reused.reused_from == 0 and pruned.attrs.stopped_at_epoch == 2 and pruned.attrs.curve == [0.1, 0.2]
    assert failed.attrs.fail_reason == "TrainingError: loss became nan at epoch 1, step 3 (lr 0.2)"
    for record, (_, _, _, attrs) in zip(records.trials, OLD_TRIALS):
        assert record.attrs.to_user_attrs() == attrs  # written back through the record: the same keys and values


def test_a_0_2_trial_makes_the_json_item_the_0_2_builder_made(old_study: str) -> None:
    trained = load_records(old_study, "old").trials[0]
    item = trial_item(trained, rank=1)
    # 0.2's report.summary.trial_item (and one key added since): identity, then each measure as stored
    # (null when missing), then the rest
    expected = {
        "trial": 0,
        "status": "complete",
        "rank": 1,
        "archid": "144c0ffc3d45",
        "summary": "none",
        "placement": "-",
        **{k: ({**NONE_CHEAP, **NONE_TRAINED}).get(k) for k in TRIAL_MEASURES},
        "seed_accuracies": NONE_TRAINED["seed_accuracies"],
        "latency_ratio_interval": None,  # added after 0.2, null for a trial that has none
        "device": "cpu",
        "latency_setup": SETUP,
        "params_sampled": {"attention.kind": "none"},
        "arch": _arch("none"),
        "reused_from": None,
        "fail_reason": None,
    }
    assert item == expected and list(item) == list(expected)
    assert trial_item(trained, keys=("macs", "trial")) == {"macs": 10064512, "trial": 0}
    with pytest.raises(ValueError, match="trial_item: no key 'acc'; allowed: trial, status, rank"):
        trial_item(trained, keys=("acc",))


def test_the_search_reads_0_2_trials_for_counts_and_early_stopping(old_study: str) -> None:
    study = optuna.load_study(study_name="old", storage=old_study)
    counts = count_trials(study)
    assert (counts.complete, counts.infeasible, counts.reused, counts.pruned, counts.failed) == (3, 1, 1, 1, 1)
    # at epoch 2 the stored curves hold 0.34379778748466583 (trial 0, no costlier at 10.1M MACs) and 0.2
    # (pruned, 10.07M MACs is costlier than 10.065M so left out); trial 2 (reused) stores no curve
    rule = EarlyStop(warmup_epochs=1, min_trials=1)
    reason = median_rule(study.get_trials(), 2, 0.3, rule, {"macs": 10065000})
    assert reason == (
        "validation accuracy 0.3000 at epoch 2 is below the median 0.3438 of 1 earlier trials no costlier than it"
    )
    assert median_rule(study.get_trials(), 2, 0.25, rule) is not None  # median of 0.3438 and 0.2 is 0.2719
    assert median_rule(study.get_trials(), 2, 0.28, rule) is None
