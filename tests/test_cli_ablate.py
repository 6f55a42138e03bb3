"""`cbam-bench ablate` end to end on the CPU with the stand-in trainer: every table of the paper as a
tiny grid (1 epoch, 2 seeds), what each row records, the verdict, resuming, and bad input."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import fake_training
import pytest
from typer.testing import CliRunner

from cbam_bench.cli.app import app
from cbam_bench.paper import ABLATIONS
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.stats import Sample, welch_interval
from cbam_bench.train_spec import TrainSpec

runner = CliRunner()
TINY = ("--epochs", "1", "--seeds", "2")


def invoke(tmp: Path, *args: str):
    env = {"COLUMNS": "120", "CBAM_BENCH_TRAINER": "fake_training", "FAKE_CALLS": str(tmp / "calls.txt")}
    return runner.invoke(app, ["ablate", *args, "--storage", f"sqlite:///{tmp / 'db.sqlite'}"], env=env)


def calls(tmp: Path) -> list[str]:
    path = tmp / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Path, dict]:
    """All three tables, run once for the module (the cheap measures of 8 networks dominate)."""
    tmp = tmp_path_factory.mktemp("ablate")
    result = invoke(tmp, "all", *TINY, "--json")
    assert result.exit_code == 0, result.output
    return tmp, json.loads(result.stdout)


def seed_accuracies(fields: dict) -> list[float]:
    arch = fake_training.fit_arch(ArchSpec("cifar_resnet20", attention=AttentionSpec(**fields)), TrainSpec())
    return [fake_training.final_accuracy(arch, seed) for seed in (0, 1)]


@pytest.mark.slow
def test_every_row_of_every_table_is_trained_with_its_seeds(ran) -> None:
    tmp, doc = ran
    assert [t["table"] for t in doc["tables"]] == ["channel", "spatial", "arrangement"]
    for table in doc["tables"]:
        name = table["table"]
        assert table["study"] == f"paper-{name}-1ep-2seeds" and (table["epochs"], table["seeds"]) == (1, 2)
        assert (table["backbone"], table["dataset"]) == ("cifar_resnet20", "digits-clutter")
        assert table["counts"]["complete"] == 4 and table["counts"]["failed"] == 0
        for row, (fields, paper_row) in zip(table["rows"], ABLATIONS[name], strict=True):
            expected = seed_accuracies(fields)
            assert row["label"] == paper_row.label and row["attention"] == AttentionSpec(**fields).summary()
            assert (row["paper_top1_err"], row["paper_top5_err"]) == (paper_row.top1_err, paper_row.top5_err)
            assert row["seed_accuracies"] == pytest.approx(expected) and row["seeds"] == 2
            assert row["accuracy"] == pytest.approx(statistics.fmean(expected))
            assert row["accuracy_std"] == pytest.approx(statistics.stdev(expected))
            assert row["macs"] > 0 and row["latency_ms"] > 0 and isinstance(row["trial"], int)
            assert row["latency_setup"]["device"] == "cpu" and row["latency_setup"]["threads"] == 1
    # Each study trains its rows once per seed: 3 tables x 4 rows x 2 seeds.
    assert len(calls(tmp)) == 24
    channel = {r["attention"]: r["params"] for r in doc["tables"][0]["rows"]}
    # One shared MLP whatever the pooling: SE and channel-only CBAM cost the same parameters.
    assert channel["none"] < channel["se avg r16"] == channel["cbam max r16 c"] == channel["cbam avg+max r16 c"]


@pytest.mark.slow
def test_the_verdict_follows_the_rows_accuracies(ran) -> None:
    _, doc = ran
    for table in doc["tables"]:
        rows = table["rows"]
        paper = sorted(rows, key=lambda r: r["paper_top1_err"])
        ours = sorted(paper, key=lambda r: -r["accuracy"])
        verdict = table["ordering"]
        assert verdict["paper"] == [r["row"] for r in paper] and verdict["ours"] == [r["row"] for r in ours]
        assert verdict["agrees"] is (verdict["ours"] == verdict["paper"])
        assert len(verdict["pairs"]) == 6 and verdict["text"][0].startswith("Ordering: ")
        by_row = {r["row"]: r for r in rows}
        for pair in verdict["pairs"]:
            better, worse = by_row[pair["better_row"]], by_row[pair["worse_row"]]
            assert better["paper_top1_err"] < worse["paper_top1_err"]
            interval = welch_interval(Sample.of(better["seed_accuracies"]), Sample.of(worse["seed_accuracies"]))
            assert pair["delta"] == pytest.approx(better["accuracy"] - worse["accuracy"])
            assert (pair["ci95"]["low"], pair["ci95"]["high"]) == (
                pytest.approx(interval.low),
                pytest.approx(interval.high),
            )
            assert pair["agrees"] is (pair["delta"] > 0) and pair["resolved"] is interval.excludes_zero
            listed = [pair["better_row"], pair["worse_row"]]
            assert (listed in verdict["unresolved"]) is not pair["resolved"]
            assert (listed in verdict["contradicted"]) is (pair["resolved"] and not pair["agrees"])


@pytest.mark.slow
def test_running_again_resumes_and_prints_the_tables(ran) -> None:
    tmp, doc = ran
    before = len(calls(tmp))
    result = invoke(tmp, "all", *TINY)
    assert result.exit_code == 0, result.output
    assert len(calls(tmp)) == before and not any(line.startswith("[") for line in result.stderr.splitlines())
    out = result.stdout
    for needle in (
        "Table 1: channel attention (pooling): ours against the paper's",
        "Table 3: arrangement of the channel and spatial gates",
        "Ours: cifar_resnet20 on digits-clutter, 1 epoch, 2 seeds per row, study paper-channel-1ep-2seeds.",
        "Latency (ms): median of timed forward passes",
        "here: cpu, 1 thread, batch 1, float32",
        "Paper: top-1 / top-5 error of ResNet50 on ImageNet-1K",
    ):
        assert needle in out, needle
    head = out.split("─")[0]  # the first table's headers, over as many lines as the width needs
    assert all(word in head for word in ("paper", "top-1", "top-5", "err", "(%)")), head
    for table in doc["tables"]:
        for line in table["ordering"]["text"]:
            assert line in out, line
    channel = doc["tables"][0]["rows"][1]
    assert f"{100 * channel['accuracy']:.2f} ± {100 * channel['accuracy_std']:.2f}" in out and "23.14" in out
    # The study is an ordinary one: report reads it.
    report = runner.invoke(
        app,
        ["report", "paper-channel-1ep-2seeds", "--storage", f"sqlite:///{tmp / 'db.sqlite'}", "--json"],
        env={"COLUMNS": "120"},
    )
    assert report.exit_code == 0 and report.stdout and json.loads(report.stdout)["counts"]["complete"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["chanel"],
            "TABLE: 'chanel' is not allowed (did you mean 'channel'?); allowed: channel, spatial, arrangement, detection, all",
        ),
        (["all", "--backbone", "resnet5"], "--backbone: 'resnet5' is not allowed (did you mean 'resnet50'?)"),
        (["all", "--dataset", "cifar10"], "--dataset: 'cifar10' is not available to the fake trainer"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke(tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "db.sqlite").exists() and calls(tmp_path) == []


def test_help_ends_with_examples() -> None:
    result = runner.invoke(app, ["ablate", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0 and "cbam-bench ablate all --epochs 10 --seeds 5" in result.stdout
