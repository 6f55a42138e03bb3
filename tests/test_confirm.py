"""Confirmation: the best front members retrained longer with seeds, resumable, and the rank agreement."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import fake_training
import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from cbam_bench import confirmation
from cbam_bench.cli.app import app
from cbam_bench.errors import StudyError
from cbam_bench.interrupt import Interrupted
from cbam_bench.metrics import Objective
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.report.confirmation import confirmation_lines
from cbam_bench.search.confirm import run_confirm
from cbam_bench.search.run import run_search
from cbam_bench.search.trainer import Trainer
from cbam_bench.space import load_space
from cbam_bench.spec import ArchSpec
from cbam_bench.stats import kendall_tau, mean_interval
from cbam_bench.trial_attrs import TrialAttrs

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = """
backbone: cifar_resnet20
objectives: [accuracy:max, macs:min]
trials: 4
early_stop: false
latency: {warmup: 0, repeats: 2}
train: {epochs: 2}
confirm: {seeds: 2}
params:
  attention.kind: [none, se, cbam]
  spatial.kernel: [3, 7]
"""


def test_kendall_tau_by_hand() -> None:
    # pairs of [1,2,3,4] vs [1,3,2,4]: 5 concordant, 1 discordant (items 2 and 3): (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert kendall_tau([0.9, 0.8, 0.7], [0.1, 0.2, 0.3]) == pytest.approx(-1.0)
    assert kendall_tau([1.0], [2.0]) is None and kendall_tau([1, 2], [3, 3]) is None


def test_mean_interval_by_hand() -> None:
    iv = mean_interval([0.8, 0.9, 1.0])
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, 2 df) * sd / sqrt(n)
    assert (iv.mean, iv.sd, iv.n) == (pytest.approx(0.9), pytest.approx(0.1), 3)
    assert (iv.low, iv.high) == (pytest.approx(0.9 - half), pytest.approx(0.9 + half))
    assert mean_interval([0.5]).to_dict() == {"mean": 0.5, "std": 0.0, "n": 1, "low": 0.5, "high": 0.5, "level": 0.95}


class Calls:
    """The stand-in trainer, recording (archid, seed, epochs); `interrupt_at` raises Ctrl-C on that call."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.interrupt_at = interrupt_at

    def train(self, arch: ArchSpec, spec: Any, *, on_epoch: Any = None) -> Any:
        if len(self.calls) + 1 == self.interrupt_at:
            self.interrupt_at = None
            raise KeyboardInterrupt
        self.calls.append((arch.archid, spec.seed, spec.epochs))
        return fake_training.train(arch, spec, on_epoch=on_epoch)

    @property
    def trainer(self) -> Trainer:
        return Trainer(train=self.train, fit_arch=fake_training.fit_arch, dataset_info=fake_training.dataset_info)


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished four-trial study ('space') in a SQLite file; each test copies it."""
    folder = tmp_path_factory.mktemp("searched")
    (folder / "space.yaml").write_text(SPACE)
    run_search(
        load_space(folder / "space.yaml"),
        storage=f"sqlite:///{folder / 'db.sqlite'}",
        trainer=Calls().trainer,
        heartbeat_s=2,
    )
    return folder / "db.sqlite"


def _copy(searched: Path, tmp_path: Path) -> str:
    (tmp_path / "db.sqlite").write_bytes(searched.read_bytes())
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


@pytest.mark.slow  # two confirmation runs over a searched study (~5 s)
def test_confirmation_resumes_after_a_kill_and_stores_its_intervals(searched: Path, tmp_path: Path) -> None:
    storage = _copy(searched, tmp_path)
    killed = Calls(interrupt_at=3)
    with pytest.raises(Interrupted):
        run_confirm(storage, "space", top=2, trainer=killed.trainer, heartbeat_s=2)
    stored = optuna.load_study(study_name="space-confirm", storage=storage)
    assert [t.state for t in stored.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    resumed = Calls()
    result = run_confirm(storage, "space", top=2, trainer=resumed.trainer, heartbeat_s=2)
    # 2 front members + the baseline, 2 seeds each (the space's confirm:), 8 epochs (4 x the search's 2)
    assert len(result.confirmed) == 3 and result.confirmed[-1].trial.attention_kind == "none"
    assert len(killed.calls) == 2 and len(resumed.calls) == 4  # the rerun trains only what the kill left
    assert sorted(killed.calls + resumed.calls) == sorted(
        (m.trial.attrs.archid, s, 8) for m in result.confirmed for s in (0, 1)
    )
    for m in result.confirmed:
        arch = ArchSpec.from_dict(m.trial.arch)
        expected = [fake_training.final_accuracy(arch, s) for s in (0, 1)]
        assert m.runs == {0: pytest.approx(expected[0]), 1: pytest.approx(expected[1])}
        assert m.interval == mean_interval(expected)
    # what report reads back from storage is the same confirmation
    again = confirmation.load(storage, result.study)
    assert again is not None and again.to_dict() == result.to_dict()
    assert again.to_dict()["n"] == 3 and (again.epochs, again.seeds) == (8, 2)
    with pytest.raises(StudyError, match="was confirmed with other settings"):
        run_confirm(storage, "space", top=2, epochs=3, trainer=resumed.trainer, heartbeat_s=2)


def _trial(number: int, accuracy: float, macs: float, kind: str = "cbam") -> TrialRecord:
    attrs = TrialAttrs(accuracy=accuracy, macs=int(macs), summary=kind, arch={"attention": {"kind": kind}})
    return TrialRecord(number, "complete", (accuracy, macs), attrs=attrs)


def test_a_ranking_that_did_not_hold_is_said_in_one_line() -> None:
    study = StudyRecords(
        "s",
        (Objective("accuracy", "max"), Objective("macs", "min")),
        (_trial(0, 0.80, 1e6, "none"), _trial(1, 0.90, 3e6), _trial(2, 0.85, 2e6)),
    )
    chosen = confirmation.members(study, top=2)
    assert [t.number for t in chosen] == [1, 2, 0]  # best first by accuracy, then the baseline
    runs = {1: [0.81, 0.83], 2: [0.88, 0.90], 0: [0.86, 0.86]}  # the order reverses
    confirm = StudyRecords(
        "s-confirm",
        (Objective("accuracy", "max"),),
        tuple(
            TrialRecord(10 * n + s, "complete", (a,), params={"confirms": n, "seed": s})
            for n, accs in runs.items()
            for s, a in enumerate(accs)
        ),
    )
    result = confirmation.read(study, confirm, seeds=2, chosen=chosen)
    # search order 1 > 2 > 0, confirmed 2 > 0 > 1: pairs (1,2) and (1,0) discordant, (2,0) concordant: -1/3
    assert result.tau == pytest.approx(-1 / 3) and result.held is False
    lines = confirmation_lines(result)
    assert lines[0].startswith(
        "Rank agreement, search against confirmed accuracy: Kendall's tau -0.33 over n = 3 members"
    )
    assert lines[1].startswith("The short-run ranking did not hold")
    assert result.to_dict()["picks"]["knee"]["same"] == (result.picks()["knee"][0] == result.picks()["knee"][1])


def test_confirm_command_refuses_bad_input_in_one_line(searched: Path, tmp_path: Path) -> None:
    storage = _copy(searched, tmp_path)
    runner = CliRunner()
    bad = runner.invoke(app, ["confirm", "space", "--storage", storage, "--top", "0"], env={"COLUMNS": "120"})
    assert bad.exit_code == 2 and "--top: 0 is not allowed" in bad.output
    missing = runner.invoke(app, ["confirm", "nope", "--storage", storage], env={"COLUMNS": "120"})
    assert missing.exit_code == 2 and "study 'nope' not found" in missing.output
    assert "space-confirm" not in optuna.get_all_study_names(storage)


@pytest.mark.slow  # a confirmation and a report through the CLI (~4 s)
def test_confirm_command_json(searched: Path, tmp_path: Path) -> None:
    storage = _copy(searched, tmp_path)
    env = {"COLUMNS": "120", "CBAM_BENCH_TRAINER": "fake_training"}
    result = CliRunner().invoke(
        app,
        ["confirm", "space", "--storage", storage, "--top", "1", "--seeds", "2", "--epochs", "3", "--json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["study"], doc["epochs"], doc["seeds"], doc["n"]) == ("space-confirm", 3, 2, 2)
    assert [len(m["runs"]) for m in doc["members"]] == [2, 2] and doc["members"][1]["summary"] == "none"
    assert set(doc["members"][0]["interval"]) == {"mean", "std", "n", "low", "high", "level"}
    report = CliRunner().invoke(app, ["report", "space", "--storage", storage, "--json"], env={"COLUMNS": "120"})
    assert json.loads(report.stdout)["confirmation"] == doc


def test_search_confirm_zero_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = CliRunner().invoke(
        app,
        ["search", str(tmp_path / "space.yaml"), "--storage", storage, "--confirm", "0"],
        env={"COLUMNS": "120", "CBAM_BENCH_TRAINER": "fake_training"},
    )
    assert result.exit_code == 2 and "--confirm: 0 is not allowed" in result.output
    assert not (tmp_path / "db.sqlite").exists()


def test_a_bad_confirm_key_names_the_file_and_key(tmp_path: Path) -> None:
    from cbam_bench.errors import SpaceError

    path = tmp_path / "bad.yaml"
    path.write_text(SPACE.replace("confirm: {seeds: 2}", "confirm: {seeds: 0, rounds: 2}"))
    with pytest.raises(SpaceError) as caught:
        load_space(path)
    assert "confirm.rounds: unknown key" in str(caught.value) and "confirm.seeds: 0 is not allowed" in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.slow  # a whole search, then its confirmation (~9 s)
def test_search_confirm_runs_the_confirmation_after_the_search(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    result = CliRunner().invoke(
        app,
        [
            "search",
            str(tmp_path / "space.yaml"),
            "--storage",
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            "--confirm",
            "1",
            "--json",
        ],
        env={"COLUMNS": "120", "CBAM_BENCH_TRAINER": "fake_training"},
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["counts"]["finished"] == 4 and doc["confirmation"]["study"] == "space-confirm"
    assert [m["trial"] for m in doc["confirmation"]["members"]] == [doc["front"][0]["trial"], 0]  # best, then baseline
    assert doc["confirmation"]["epochs"] == 8 and all(len(m["runs"]) == 2 for m in doc["confirmation"]["members"])
