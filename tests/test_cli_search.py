"""`cbam-bench search` through CliRunner with the stand-in trainer: JSON contract, table, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cbam_bench.cli.app import app

runner = CliRunner()
SPACE = """
backbone: cifar_resnet20
objectives: [accuracy:max, macs:min]
budgets: {macs: 10100000}
sampler: grid
latency: {warmup: 0, repeats: 2}
train: {epochs: 2}
params:
  attention.kind: [none, se, cbam]
  placement.stages: [all, [3]]
"""


@pytest.fixture
def space(tmp_path: Path) -> Path:
    path = tmp_path / "cli.yaml"
    path.write_text(SPACE)
    return path


def invoke(tmp_path: Path, *args: str):
    env = {"COLUMNS": "120", "CBAM_BENCH_TRAINER": "fake_training"}
    return runner.invoke(
        app, ["search", *args, "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}", "--heartbeat", "2"], env=env
    )


def test_json_is_the_front_with_every_measure(tmp_path: Path, space: Path) -> None:
    result = invoke(tmp_path, str(space), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["study"] == doc["space"] == "cli" and doc["storage"].startswith("sqlite:///")
    assert doc["objectives"] == ["accuracy:max", "macs:min"] and doc["budgets"] == {"macs": 10100000.0}
    # grid: none, then se and cbam each in all stages or stage 3 -> 5 candidates, all visited
    assert doc["target"] == 5 and doc["counts"]["finished"] == 5 and doc["counts"]["running"] == 0
    assert doc["counts"]["reused"] == 0  # a grid visits every network once
    assert doc["baseline_missing"] is None  # the grid visited the no-attention network
    assert doc["counts"]["infeasible"] >= 1  # attention everywhere costs more than 10.1M MACs
    front = doc["front"]
    assert front and [f["accuracy"] for f in front] == sorted((f["accuracy"] for f in front), reverse=True)
    assert all(f["rank"] == 1 and f["status"] == "complete" for f in front)
    for item in front:
        assert item["macs"] <= 10_100_000 and item["values"] == [item["accuracy"], item["macs"]]
        assert {
            "trial",
            "archid",
            "summary",
            "accuracy_std",
            "params",
            "latency_ms",
            "arch",
            "seed_accuracies",
        } <= item.keys()
    lines = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 5 and any("over budget (macs" in line and "not trained" in line for line in lines)


def test_table_and_rerun_at_the_target(tmp_path: Path, space: Path) -> None:
    first = invoke(tmp_path, str(space), "--trials", "3")
    assert first.exit_code == 0, first.output
    assert "Pareto front" in first.stdout and "3 of 3 trials finished" in first.stdout
    # The same front table as `cbam-bench report`, units and conventions in its caption.
    assert "Acc.: validation top-1, mean over seeds" in first.stdout and "placement" in first.stdout
    assert "cbam-bench report cli" in first.stdout
    # The answer ends with the command that confirms it, storage included when it is not the default.
    last = first.stdout.strip().splitlines()[-1]
    assert last.startswith("Next: this front is a 2-epoch ranking")
    assert last.endswith(f"cbam-bench confirm cli --storage sqlite:///{tmp_path / 'db.sqlite'}")
    again = invoke(tmp_path, str(space), "--trials", "3", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["counts"]["finished"] == 3
    assert not any(line.startswith("[") for line in again.stderr.splitlines())  # nothing ran


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["defualt"], "space 'defualt' not found (did you mean 'default'?)"),
        (["--sampler", "bayes"], "--sampler: 'bayes' is not allowed; allowed: tpe, nsga2, random, grid, gp"),
        (["--device", "gpu"], "--device: 'gpu' is not allowed"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, space: Path, args: list[str], message: str) -> None:
    result = invoke(tmp_path, *(args if args[0] == "defualt" else [str(space), *args]))
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "db.sqlite").exists()


def test_bad_storage_url_is_exit_2(space: Path) -> None:
    env = {"COLUMNS": "120", "CBAM_BENCH_TRAINER": "fake_training"}
    result = runner.invoke(app, ["search", str(space), "--storage", "mysqlx://nowhere/db"], env=env)
    assert result.exit_code == 2 and "--storage: 'mysqlx://nowhere/db' is not a database URL" in result.stderr


def test_a_study_without_its_baseline_says_so_on_stderr_and_in_json(tmp_path: Path, space: Path) -> None:
    env = {"COLUMNS": "120", "CBAM_BENCH_TRAINER": "fake_training", "FAKE_FAIL_KIND": "none"}
    args = [
        "search",
        str(space),
        "--sampler",
        "random",
        "--trials",
        "2",
        "--json",
        "--storage",
        f"sqlite:///{tmp_path / 'db.sqlite'}",
    ]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    missing = json.loads(result.stdout)["baseline_missing"]
    assert missing.startswith(
        "study 'cli' has no no-attention baseline (trial 0 ended FAIL: TrainingError: loss became nan"
    )
    assert missing.endswith("); compare has nothing to measure against")
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [f"warning: {missing}"]


def test_ctrl_c_says_in_one_line_what_it_recorded_and_exits_130(
    tmp_path: Path, space: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fake_training

    def ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fake_training, "train", ctrl_c)
    result = invoke(tmp_path, str(space), "--json")
    assert result.exit_code == 130 and result.stdout == "" and "Traceback" not in result.stderr
    *_, last = result.stderr.strip().splitlines()
    assert (
        last == "interrupted: trial 0 recorded as FAIL (interrupted) and queued again; run the same command to resume"
    )
    monkeypatch.undo()
    resumed = invoke(tmp_path, str(space), "--json")
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["counts"]["finished"] == 5


def test_help_ends_with_examples() -> None:
    result = runner.invoke(app, ["search", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0 and "cbam-bench search placement --trials 40" in result.stdout


def test_help_rewraps_the_docstring_to_the_terminal() -> None:
    """The docstring wraps at the source's width; at a wide terminal a paragraph is one line."""
    result = runner.invoke(app, ["search", "--help"], env={"COLUMNS": "200"})
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert any(
        line.startswith("Running the same command again resumes") and line.endswith("finished trials.")
        for line in lines
    )


def test_trial_line_names_the_attention_and_where_it_sits() -> None:
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    from cbam_bench.cli.progress import trial_line
    from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec

    arch = ArchSpec(
        "cifar_resnet20", attention=AttentionSpec(kind="se", reduction=4), placement=PlacementSpec(stages=(3,))
    )
    attrs = {
        "summary": arch.attention.summary(),
        "arch": arch.to_dict(),
        "accuracy": 0.924,
        "macs": 15_700_000,
        "params": 276_000,
        "latency_ms": 3.31,
        "train_s": 19.94,
        "feasible": True,
    }
    trial = create_trial(
        state=TrialState.COMPLETE,
        values=[0.924],
        params={"attention.kind": "se"},
        distributions={"attention.kind": CategoricalDistribution(["none", "se"])},
        user_attrs=attrs,
    )
    assert trial_line(trial, {}) == (
        "trial -1: se avg r4 @ 3/all/residual: accuracy 92.40 %, MACs 15.7M, params 276K, latency 3.31 ms, trained in 19.9 s"
    )
    timed = create_trial(
        state=TrialState.COMPLETE,
        values=[0.924],
        user_attrs=attrs | {"latency_ratio": 1.114, "latency_ratio_interval": [1.093, 1.150]},
    )
    assert ", latency 3.31 ms, ratio 1.11 (95 % 1.09-1.15), trained in" in trial_line(timed, {})
    exact = create_trial(
        state=TrialState.COMPLETE,
        values=[0.9],
        user_attrs=attrs | {"latency_ratio": 1.0, "latency_ratio_interval": [1.0, 1.0]},
    )
    assert ", latency 3.31 ms, ratio 1.00, trained in" in trial_line(exact, {})  # the plain network: exact
    plain = ArchSpec("cifar_resnet20")
    pruned = create_trial(
        state=TrialState.PRUNED, user_attrs={"summary": "none", "arch": plain.to_dict(), "stopped_reason": "why"}
    )
    assert trial_line(pruned, {}) == "trial -1: none: stopped early: why"  # an unstored trial has no number yet


def test_best_so_far_is_the_most_accurate_trial_within_budget() -> None:
    import optuna
    from optuna.trial import TrialState, create_trial

    from cbam_bench.cli.progress import SearchDisplay

    study = optuna.create_study(directions=["maximize"])
    for state, attrs in [
        (TrialState.COMPLETE, {"accuracy": 0.81, "feasible": True}),
        (TrialState.COMPLETE, {"accuracy": 0.99, "feasible": False}),  # over budget: never counts
        (TrialState.COMPLETE, {"accuracy": 0.875}),  # stored before budgets had a verdict
        (TrialState.PRUNED, {"accuracy": 0.95}),
    ]:
        study.add_trial(
            create_trial(state=state, values=[0.0] if state == TrialState.COMPLETE else None, user_attrs=attrs)
        )
    display = SearchDisplay()
    display.study = study
    assert display._best() == "best so far: 87.50 % (trial 2)"


def test_the_confirm_command_names_the_storage_only_when_it_is_not_the_default() -> None:
    from cbam_bench.cli.search import confirm_command
    from cbam_bench.storage import DEFAULT_STORAGE

    assert confirm_command("default", DEFAULT_STORAGE) == "cbam-bench confirm default"
    assert confirm_command("my study", "sqlite:///x.db") == "cbam-bench confirm 'my study' --storage sqlite:///x.db"
