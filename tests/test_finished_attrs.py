"""A finished trial's record is parsed once and kept only as long as its trial object lives."""

from __future__ import annotations

import gc

import optuna
from optuna.trial import TrialState

from cbam_bench.search import finished
from cbam_bench.search.finished import stored_attrs


def test_a_finished_trial_is_parsed_once_and_forgotten_with_its_object() -> None:
    trial = optuna.trial.create_trial(state=TrialState.COMPLETE, value=1.0, user_attrs={"archid": "abc", "macs": 5})
    first = stored_attrs(trial)
    assert first.archid == "abc" and first.macs == 5
    assert stored_attrs(trial) is first
    key = id(trial)
    del trial
    gc.collect()
    assert key not in finished._PARSED


def test_a_running_trial_is_parsed_every_time() -> None:
    trial = optuna.trial.create_trial(state=TrialState.RUNNING, user_attrs={"archid": "abc"})
    assert stored_attrs(trial).archid == "abc"
    trial.user_attrs["archid"] = "def"  # a running trial's attrs still change
    assert stored_attrs(trial).archid == "def"
